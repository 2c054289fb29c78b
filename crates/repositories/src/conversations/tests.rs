use chrono::{NaiveDate, TimeDelta};
use diesel::connection::SimpleConnection;
use promptyard_db_models::models::User;
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
        id: id.to_owned(),
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
        id: new_id(),
        conversation_id: conversation_id.to_owned(),
        role: role.into(),
        content: content.into(),
        prompt_tokens: 0,
        completion_tokens: 0,
        created_at: at,
    }
}

fn usage(user: &User, model: &str, prompt: i32, completion: i32) -> UsageRecord {
    UsageRecord {
        id: new_id(),
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
        ConversationRepository::get_for_user(conn, &ada.id, "c1").expect("hers"),
        created
    );
    let err = ConversationRepository::get_for_user(conn, &grace.id, "c1").expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    let err = ConversationRepository::get_for_user(conn, &ada.id, "nope").expect_err("missing");
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
    let answer =
        ConversationRepository::add_message(conn, &message("c1", "assistant", "hi", later))
            .expect("answer");
    let question = ConversationRepository::add_message(conn, &message("c1", "user", "hello", t0()))
        .expect("question");

    let listed = ConversationRepository::messages(conn, "c1").expect("messages");

    assert_eq!(listed, [question, answer]);
    let err = ConversationRepository::add_message(conn, &message("nope", "user", "x", t0()))
        .expect_err("no conversation");
    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
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

    let err = ConversationRepository::delete_for_user(conn, &grace.id, "c1").expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    ConversationRepository::delete_for_user(conn, &ada.id, "c1").expect("delete");

    assert!(
        ConversationRepository::messages(conn, "c1")
            .expect("messages")
            .is_empty()
    );
    let totals = UsageRepository::totals_by_model(conn, &ada.id).expect("totals");
    assert_eq!(totals.len(), 1, "usage is accounting: it stays");
    let err = ConversationRepository::delete_for_user(conn, &ada.id, "c1").expect_err("twice");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn touch_moves_updated_at() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ConversationRepository::create(conn, &conversation(&ada, "c1", t0())).expect("create");
    let later = t0() + TimeDelta::minutes(3);

    ConversationRepository::touch(conn, "c1", later).expect("touch");

    let stored = ConversationRepository::get_for_user(conn, &ada.id, "c1").expect("get");
    assert_eq!((stored.created_at, stored.updated_at), (t0(), later));
    assert!(
        ConversationRepository::touch(conn, "nope", later)
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
