use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use promptyard_db_models::models::{MessageId, User};
use promptyard_test_support::TestDb;
use promptyard_test_support::factories::new_id;

use super::*;
use crate::test_helpers::{
    assert_foreign_key_violation, assert_not_found, assert_unexpected, fresh, on_test_day, users,
};

fn t0() -> Timestamp {
    on_test_day(10, 0, 0, 0)
}

fn conversation(user: &User, id: &str, created_at: Timestamp) -> Conversation {
    Conversation {
        id: id.into(),
        user_id: user.id.clone(),
        model: "echo-1".into(),
        title: None,
        system_prompt: Some("Be brief.".into()),
        created_at,
        updated_at: created_at,
    }
}

fn message(conversation_id: &str, role: &str, content: &str, at: Timestamp) -> Message {
    Message {
        id: new_id().into(),
        conversation_id: conversation_id.into(),
        role: role.into(),
        content: content.into(),
        prompt_tokens: 0,
        completion_tokens: 0,
        created_at: at,
        tokens: 0,
    }
}

/// Messages of `tokens` each in conversation `c1`, one second apart,
/// oldest first; returns their ids in that order.
fn history(conn: &mut DbConn, tokens: &[i32]) -> Vec<MessageId> {
    tokens
        .iter()
        .zip(0i64..)
        .map(|(&tokens, second)| {
            let role = if second % 2 == 0 { "user" } else { "assistant" };
            let mut m = message("c1", role, "x", t0() + TimeDelta::seconds(second));
            m.tokens = tokens;
            ConversationRepository::add_message(conn, &m).expect("message");
            m.id
        })
        .collect()
}

/// A new user with a conversation `c1` created at [`t0`].
fn user_with_c1(conn: &mut DbConn) -> User {
    let [user] = users(conn);
    ConversationRepository::create(conn, &conversation(&user, "c1", t0())).expect("create c1");
    user
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id.clone()).collect()
}

fn usage(user: &User, model: &str, prompt: i32, completion: i32) -> UsageRecord {
    UsageRecord {
        id: new_id().into(),
        user_id: user.id.clone(),
        model: model.into(),
        source: "playground".into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        created_at: t0(),
    }
}

#[test]
fn a_conversation_is_visible_to_its_owner_only() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    let created =
        ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");

    assert_eq!(
        ConversationRepository::get_for_user(conn, &ada.id, &"c1".into()).expect("hers"),
        created
    );
    for (user, id, case) in [(&grace, "c1", "not hers"), (&ada, "nope", "missing")] {
        let found = ConversationRepository::get_for_user(conn, &user.id, &id.into());
        assert_not_found(found, case);
    }
}

#[test]
fn pages_are_newest_first_and_continue_strictly_before_the_cursor() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    // c2 and c3 share a timestamp: the id breaks the tie.
    let owned = [
        (&ada, "c1", 0),
        (&ada, "c2", 1),
        (&ada, "c3", 1),
        (&ada, "c4", 2),
    ];
    for (user, id, minutes) in owned.into_iter().chain([(&grace, "g1", 5)]) {
        let new = conversation(user, id, t0() + TimeDelta::minutes(minutes));
        ConversationRepository::create(conn, &new).expect(id);
    }
    let ids = |page: Vec<Conversation>| page.into_iter().map(|c| c.id).collect::<Vec<_>>();

    let first = ConversationRepository::list_page(conn, &ada.id, None, 2).expect("page 1");
    assert_eq!(ids(first.clone()), ["c4", "c3"]);
    let second = ConversationRepository::list_page(conn, &ada.id, first.last(), 2).expect("page 2");
    assert_eq!(ids(second.clone()), ["c2", "c1"]);
    let third = ConversationRepository::list_page(conn, &ada.id, second.last(), 2).expect("page 3");
    assert!(third.is_empty());
}

#[test]
fn messages_come_back_oldest_first_and_need_their_conversation() {
    let (conn, _db) = &mut fresh();
    user_with_c1(conn);
    let later = t0() + TimeDelta::seconds(1);
    let answer = message("c1", "assistant", "hi", later);
    ConversationRepository::add_message(conn, &answer).expect("answer");
    let question = message("c1", "user", "hello", t0());
    ConversationRepository::add_message(conn, &question).expect("question");

    let listed = ConversationRepository::messages(conn, &"c1".into()).expect("messages");

    assert_eq!(listed, [question, answer]);
    let orphan = message("nope", "user", "x", t0());
    let added = ConversationRepository::add_message(conn, &orphan);
    assert_foreign_key_violation(added, "no conversation");
}

#[test]
fn the_window_holds_the_newest_messages_that_fit_oldest_first() {
    let (conn, _db) = &mut fresh();
    user_with_c1(conn);
    let all = history(conn, &[5, 3, 2, 4]);

    // Costs newest first with 1 per message: 5, 3, 4, 6.
    let mut window = |budget| {
        ids(&ConversationRepository::recent_within(conn, &"c1".into(), budget, 1).expect("window"))
    };
    assert_eq!(window(5), &all[3..], "only the newest fits in 5..7");
    assert_eq!(window(7), &all[3..]);
    assert_eq!(window(8), &all[2..], "5 + 3");
    assert_eq!(window(12), &all[1..], "5 + 3 + 4");
    assert_eq!(window(17), &all[1..], "the oldest needs 18");
    assert_eq!(window(18), all, "5 + 3 + 4 + 6, everything");
    assert_eq!(window(1_000_000), all);
    assert!(window(4).is_empty(), "not even the newest fits");
    assert!(window(0).is_empty());
}

#[test]
fn a_message_that_does_not_fit_ends_the_window_even_if_older_ones_would() {
    let (conn, _db) = &mut fresh();
    user_with_c1(conn);
    let all = history(conn, &[1, 1, 100, 1]);

    let window = ConversationRepository::recent_within(conn, &"c1".into(), 50, 4).expect("window");

    assert_eq!(ids(&window), &all[3..], "no gap in the history sent");
}

#[test]
fn the_per_message_cost_bounds_the_window_of_empty_messages() {
    let (conn, _db) = &mut fresh();
    user_with_c1(conn);
    assert_eq!(history(conn, &[0; 10]).len(), 10);

    for (budget, per_message, len, case) in [
        (12, 4, 3, "12 / 4"),
        (12, 0, 10, "a cost of 0 counts as 1"),
        (3, 4, 0, "3 < 4"),
        (u64::MAX, 4, 10, "no budget is too large"),
        (u64::MAX, u64::MAX, 1, "one message may cost all of it"),
    ] {
        let window = ConversationRepository::recent_within(conn, &"c1".into(), budget, per_message)
            .expect("window");
        assert_eq!(window.len(), len, "{case}");
    }
}

#[test]
fn the_window_is_the_conversations_own() {
    let (conn, _db) = &mut fresh();
    let ada = user_with_c1(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c2", t0())).expect("c2");
    let mine = history(conn, &[1, 1]);
    ConversationRepository::add_message(conn, &message("c2", "user", "other", t0()))
        .expect("other conversation");

    let window = ConversationRepository::recent_within(conn, &"c1".into(), 100, 1).expect("window");

    assert_eq!(ids(&window), mine);
}

#[test]
fn the_window_query_walks_the_index_newest_first_without_sorting() {
    // SQLite's plan (EXPLAIN QUERY PLAN).
    let test_db = TestDb::sqlite();
    let conn = &mut test_db.conn();
    // The SQL the repository sends, as the connection sees it.
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = sent.clone();
    conn.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
            log.lock().expect("log").push(query.to_string());
        }
    });
    ConversationRepository::newest_first(&"c1".into(), 10)
        .load::<Message>(conn)
        .expect("window");
    conn.set_instrumentation(diesel::connection::get_default_instrumentation());
    let sent = sent.lock().expect("log").clone();
    let sql = sent[0].split(" -- binds").next().expect("sql");

    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Step>(conn)
        .expect("plan")
        .into_iter()
        .map(|s| s.detail)
        .collect();

    assert!(
        plan.iter()
            .any(|s| s.contains("USING INDEX messages_conversation_id_created_at_idx")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|s| s.contains("TEMP B-TREE")),
        "no sort of the whole conversation: {plan:?}"
    );
}

#[test]
fn roles_are_checked_by_the_table() {
    let (conn, _db) = &mut fresh();
    user_with_c1(conn);
    let tool = message("c1", "tool", "x", t0());
    assert_unexpected(ConversationRepository::add_message(conn, &tool), "CHECK");
}

#[test]
fn deleting_a_conversation_takes_its_messages_but_keeps_the_usage() {
    let (conn, _db) = &mut fresh();
    let ada = user_with_c1(conn);
    let [grace] = users(conn);
    ConversationRepository::add_message(conn, &message("c1", "user", "hello", t0()))
        .expect("message");
    UsageRepository::record(conn, &usage(&ada, "echo-1", 3, 4)).expect("usage");
    let delete = |conn: &mut DbConn, user: &User| {
        ConversationRepository::delete_for_user(conn, &user.id, &"c1".into())
    };

    assert_not_found(delete(conn, &grace), "not hers");
    delete(conn, &ada).expect("delete");

    let messages = ConversationRepository::messages(conn, &"c1".into()).expect("messages");
    assert!(messages.is_empty());
    let totals = UsageRepository::totals_by_model(conn, &ada.id).expect("totals");
    assert_eq!(totals.len(), 1, "usage is accounting: it stays");
    assert_not_found(delete(conn, &ada), "twice");
}

#[test]
fn touch_moves_updated_at() {
    let (conn, _db) = &mut fresh();
    let ada = user_with_c1(conn);
    let later = t0() + TimeDelta::minutes(3);

    ConversationRepository::touch(conn, &"c1".into(), later).expect("touch");

    let stored = ConversationRepository::get_for_user(conn, &ada.id, &"c1".into()).expect("get");
    assert_eq!((stored.created_at, stored.updated_at), (t0(), later));
    let missing = ConversationRepository::touch(conn, &"nope".into(), later);
    assert_not_found(missing, "missing");
}

#[test]
fn usage_totals_are_per_model_and_per_user() {
    let (conn, _db) = &mut fresh();
    let [ada, grace, nobody] = users(conn);
    for record in [
        usage(&ada, "echo-1", 3, 4),
        usage(&ada, "echo-1", 10, 20),
        usage(&ada, "alpha", 1, 1),
        usage(&grace, "echo-1", 100, 100),
    ] {
        UsageRepository::record(conn, &record).expect("record");
    }
    let totals = |prompt_tokens, completion_tokens| TokenTotals {
        prompt_tokens,
        completion_tokens,
    };

    assert_eq!(
        UsageRepository::totals_by_model(conn, &ada.id).expect("totals"),
        [
            ("alpha".to_owned(), totals(1, 1)),
            ("echo-1".to_owned(), totals(13, 24)),
        ]
    );
    let none = UsageRepository::totals_by_model(conn, &nobody.id).expect("none");
    assert!(none.is_empty());
    let err = conn
        .batch_execute(
            "INSERT INTO usage_records VALUES ('x', 'nope', 'm', 'other', 1, 1, '2026-01-01')",
        )
        .expect_err("source and user are checked");
    // SQLite: "CHECK constraint failed: ..."; PostgreSQL: "... violates
    // check constraint ...".
    assert!(
        err.to_string().to_lowercase().contains("check constraint"),
        "{err}"
    );
}
