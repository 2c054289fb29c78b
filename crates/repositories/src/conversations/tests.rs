use chrono::{NaiveDate, TimeDelta};
use diesel::connection::SimpleConnection;
use promptyard_db_models::models::{MessageId, User};
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{TestDb, UserFactory};

use super::*;

fn t0() -> Timestamp {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(10, 0, 0, 0))
        .expect("valid")
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
fn history(conn: &mut SqliteConnection, tokens: &[i32]) -> Vec<MessageId> {
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
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let created =
        ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");

    assert_eq!(
        ConversationRepository::get_for_user(conn, &ada.id, &"c1".into()).expect("hers"),
        created
    );
    let err =
        ConversationRepository::get_for_user(conn, &grace.id, &"c1".into()).expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    let err =
        ConversationRepository::get_for_user(conn, &ada.id, &"nope".into()).expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn pages_are_newest_first_and_continue_strictly_before_the_cursor() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    // c2 and c3 share a timestamp: the id breaks the tie.
    for (id, minutes) in [("c1", 0), ("c2", 1), ("c3", 1), ("c4", 2)] {
        ConversationRepository::create(
            conn,
            &conversation(&ada, id, t0() + TimeDelta::minutes(minutes)),
        )
        .expect("create");
    }
    ConversationRepository::create(
        conn,
        &conversation(&grace, "g1", t0() + TimeDelta::minutes(5)),
    )
    .expect("grace");
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
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let later = t0() + TimeDelta::seconds(1);
    let answer = message("c1", "assistant", "hi", later);
    ConversationRepository::add_message(conn, &answer).expect("answer");
    let question = message("c1", "user", "hello", t0());
    ConversationRepository::add_message(conn, &question).expect("question");

    let listed = ConversationRepository::messages(conn, &"c1".into()).expect("messages");

    assert_eq!(listed, [question, answer]);
    let err = ConversationRepository::add_message(conn, &message("nope", "user", "x", t0()))
        .expect_err("no conversation");
    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
}

#[test]
fn the_window_holds_the_newest_messages_that_fit_oldest_first() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
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
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let all = history(conn, &[1, 1, 100, 1]);

    let window = ConversationRepository::recent_within(conn, &"c1".into(), 50, 4).expect("window");

    assert_eq!(ids(&window), &all[3..], "no gap in the history sent");
}

#[test]
fn the_per_message_cost_bounds_the_window_of_empty_messages() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let all = history(conn, &[0; 10]);

    let mut window = |budget, per_message| {
        ConversationRepository::recent_within(conn, &"c1".into(), budget, per_message)
            .expect("window")
            .len()
    };
    assert_eq!(window(12, 4), 3);
    assert_eq!(window(12, 0), 10, "a cost of 0 counts as 1");
    assert_eq!(window(3, 4), 0);
    assert_eq!(all.len(), 10);
}

#[test]
fn the_window_is_the_conversations_own() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("c1");
    ConversationRepository::create(conn, &conversation(&ada, "c2", t0())).expect("c2");
    let mine = history(conn, &[1, 1]);
    ConversationRepository::add_message(conn, &message("c2", "user", "other", t0()))
        .expect("other conversation");

    let window = ConversationRepository::recent_within(conn, &"c1".into(), 100, 1).expect("window");

    assert_eq!(ids(&window), mine);
}

#[test]
fn the_window_query_walks_the_index_newest_first_without_sorting() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let sql =
        diesel::debug_query::<Sqlite, _>(&ConversationRepository::newest_first(&"c1".into(), 10))
            .to_string();
    let sql = sql.split(" -- binds").next().expect("sql");

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
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let err = ConversationRepository::add_message(conn, &message("c1", "tool", "x", t0()))
        .expect_err("CHECK");
    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
}

#[test]
fn deleting_a_conversation_takes_its_messages_but_keeps_the_usage() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    ConversationRepository::add_message(conn, &message("c1", "user", "hello", t0()))
        .expect("message");
    UsageRepository::record(conn, &usage(&ada, "echo-1", 3, 4)).expect("usage");

    let err = ConversationRepository::delete_for_user(conn, &grace.id, &"c1".into())
        .expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    ConversationRepository::delete_for_user(conn, &ada.id, &"c1".into()).expect("delete");

    assert!(
        ConversationRepository::messages(conn, &"c1".into())
            .expect("messages")
            .is_empty()
    );
    let totals = UsageRepository::totals_by_model(conn, &ada.id).expect("totals");
    assert_eq!(totals.len(), 1, "usage is accounting: it stays");
    let err =
        ConversationRepository::delete_for_user(conn, &ada.id, &"c1".into()).expect_err("twice");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn touch_moves_updated_at() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let later = t0() + TimeDelta::minutes(3);

    ConversationRepository::touch(conn, &"c1".into(), later).expect("touch");

    let stored = ConversationRepository::get_for_user(conn, &ada.id, &"c1".into()).expect("get");
    assert_eq!((stored.created_at, stored.updated_at), (t0(), later));
    assert!(
        ConversationRepository::touch(conn, &"nope".into(), later)
            .expect_err("missing")
            .is_not_found()
    );
}

#[test]
fn usage_totals_are_per_model_and_per_user() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    for record in [
        usage(&ada, "echo-1", 3, 4),
        usage(&ada, "echo-1", 10, 20),
        usage(&ada, "alpha", 1, 1),
        usage(&grace, "echo-1", 100, 100),
    ] {
        UsageRepository::record(conn, &record).expect("record");
    }

    let totals = UsageRepository::totals_by_model(conn, &ada.id).expect("totals");

    assert_eq!(
        totals,
        [
            (
                "alpha".to_owned(),
                TokenTotals {
                    prompt_tokens: 1,
                    completion_tokens: 1
                }
            ),
            (
                "echo-1".to_owned(),
                TokenTotals {
                    prompt_tokens: 13,
                    completion_tokens: 24
                }
            ),
        ]
    );
    let nobody = UserFactory::new().insert(conn);
    assert!(
        UsageRepository::totals_by_model(conn, &nobody.id)
            .expect("none")
            .is_empty()
    );
    let err = conn
        .batch_execute(
            "INSERT INTO usage_records VALUES ('x', 'nope', 'm', 'other', 1, 1, '2026-01-01')",
        )
        .expect_err("source and user are checked");
    assert!(err.to_string().contains("constraint failed"), "{err}");
}
