use chrono::{Duration, NaiveDate};
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};

use super::*;

fn t0() -> Timestamp {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(17, 0, 0, 500))
        .expect("valid time")
}

fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn create_then_get_valid_returns_the_row() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let new = SessionFactory::for_user(&user)
        .created_at(t0())
        .state(r#"{"user_id":"x"}"#)
        .build();

    let created = SessionRepository::create(conn, &new).expect("create");
    let found = SessionRepository::get_valid(conn, &new.id, t0()).expect("valid");

    assert_eq!(created, found);
    assert_eq!(found.user_id, user.id);
    assert_eq!(found.state, r#"{"user_id":"x"}"#);
    assert_eq!(found.created_at, t0());
    assert_eq!(found.last_seen_at, t0());
    assert_eq!(found.expires_at, t0() + Duration::days(7));
    assert_eq!(found.user_agent, new.user_agent);
}

#[test]
fn a_missing_user_agent_is_stored_as_null() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let new = SessionFactory::for_user(&user).user_agent(None).build();

    let created = SessionRepository::create(conn, &new).expect("create");

    assert_eq!(created.user_agent, None);
}

#[test]
fn a_session_for_a_missing_user_is_a_foreign_key_violation() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();

    let err =
        SessionRepository::create(conn, &SessionFactory::for_user_id(&new_id().into()).build())
            .expect_err("no such user");

    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
}

#[test]
fn a_reused_session_id_is_a_unique_violation() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let first = SessionFactory::for_user(&user).insert(conn);
    let mut second = SessionFactory::for_user(&user).build();
    second.id = first.id;

    let err = SessionRepository::create(conn, &second).expect_err("duplicate");

    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "sessions.id"),
        "{err:?}"
    );
}

#[test]
fn get_valid_refuses_an_expired_session_from_its_expiry_instant_on() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let expires = t0() + Duration::minutes(10);
    let session = SessionFactory::for_user(&user)
        .created_at(t0())
        .expires_at(expires)
        .insert(conn);

    let just_before = expires - Duration::milliseconds(1);
    assert!(SessionRepository::get_valid(conn, &session.id, just_before).is_ok());
    for at in [expires, expires + Duration::seconds(1)] {
        let err = SessionRepository::get_valid(conn, &session.id, at).expect_err("expired");
        assert!(err.is_not_found(), "at {at}: {err:?}");
    }
}

#[test]
fn get_valid_of_an_unknown_id_is_not_found() {
    let test_db = TestDb::new();
    let err =
        SessionRepository::get_valid(&mut test_db.conn(), &"nope".into(), t0()).expect_err("none");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn list_valid_for_user_is_newest_first_and_skips_expired_and_other_users() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let old = SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
    let new = SessionFactory::for_user(&ada)
        .created_at(t0() + Duration::hours(1))
        .insert(conn);
    SessionFactory::for_user(&ada)
        .created_at(t0() - Duration::days(30))
        .ttl(Duration::days(1))
        .insert(conn);
    SessionFactory::for_user(&grace)
        .created_at(t0())
        .insert(conn);

    let listed = SessionRepository::list_valid_for_user(conn, &ada.id, t0() + Duration::hours(2))
        .expect("list");

    assert_eq!(ids(&listed), vec![new.id.as_str(), old.id.as_str()]);
}

#[test]
fn touch_sets_last_seen_at_only() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let session = SessionFactory::for_user(&user)
        .created_at(t0())
        .insert(conn);
    let later = t0() + Duration::minutes(2);

    SessionRepository::touch(conn, &session.id, later).expect("touch");

    let found = SessionRepository::get_valid(conn, &session.id, later).expect("valid");
    assert_eq!(found.last_seen_at, later);
    assert_eq!(found.expires_at, session.expires_at);
    assert_eq!(found.state, session.state);
    let err = SessionRepository::touch(conn, &"nope".into(), later).expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn update_changes_only_the_given_columns() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let session = SessionFactory::for_user(&user)
        .created_at(t0())
        .insert(conn);
    let new_expiry = t0() + Duration::days(30);

    let updated = SessionRepository::update(
        conn,
        &session.id,
        &SessionUpdate {
            state: Some(r#"{"k":"v"}"#.to_owned()),
            expires_at: Some(new_expiry),
            last_seen_at: None,
        },
    )
    .expect("update");

    assert_eq!(updated.state, r#"{"k":"v"}"#);
    assert_eq!(updated.expires_at, new_expiry);
    assert_eq!(updated.last_seen_at, session.last_seen_at);
    let unchanged = SessionRepository::update(conn, &session.id, &SessionUpdate::default())
        .expect("empty update");
    assert_eq!(unchanged, updated);
}

#[test]
fn update_of_a_missing_session_is_not_found_even_with_nothing_to_change() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    for changes in [
        SessionUpdate::default(),
        SessionUpdate {
            last_seen_at: Some(t0()),
            ..SessionUpdate::default()
        },
    ] {
        let err = SessionRepository::update(conn, &"nope".into(), &changes).expect_err("missing");
        assert!(err.is_not_found(), "{changes:?}: {err:?}");
    }
}

#[test]
fn delete_reports_whether_the_session_existed() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let session = SessionFactory::for_user(&user).insert(conn);

    assert!(SessionRepository::delete(conn, &session.id).expect("delete"));
    assert!(!SessionRepository::delete(conn, &session.id).expect("delete again"));
    assert!(SessionRepository::get_valid(conn, &session.id, t0()).is_err());
}

#[test]
fn delete_all_for_user_leaves_other_users_alone() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    for _ in 0..3 {
        SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
    }
    let graces = SessionFactory::for_user(&grace)
        .created_at(t0())
        .insert(conn);

    let deleted = SessionRepository::delete_all_for_user(conn, &ada.id).expect("delete");

    assert_eq!(deleted, 3);
    assert!(
        SessionRepository::list_valid_for_user(conn, &ada.id, t0())
            .expect("list")
            .is_empty()
    );
    assert!(SessionRepository::get_valid(conn, &graces.id, t0()).is_ok());
}

#[test]
fn delete_all_for_user_except_keeps_exactly_one() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let keep = SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
    SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
    SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
    let graces = SessionFactory::for_user(&grace)
        .created_at(t0())
        .insert(conn);

    let deleted =
        SessionRepository::delete_all_for_user_except(conn, &ada.id, &keep.id).expect("delete");

    assert_eq!(deleted, 2);
    let left = SessionRepository::list_valid_for_user(conn, &ada.id, t0()).expect("list");
    assert_eq!(ids(&left), vec![keep.id.as_str()]);
    assert!(SessionRepository::get_valid(conn, &graces.id, t0()).is_ok());
}

#[test]
fn delete_expired_removes_only_expired_sessions_in_bounded_batches() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);
    let now = t0();
    for minutes in 1..=5 {
        SessionFactory::for_user(&user)
            .created_at(now - Duration::days(1))
            .expires_at(now - Duration::minutes(minutes))
            .insert(conn);
    }
    let boundary = SessionFactory::for_user(&user)
        .created_at(now - Duration::days(1))
        .expires_at(now)
        .insert(conn);
    let live = SessionFactory::for_user(&user).created_at(now).insert(conn);

    assert_eq!(
        SessionRepository::delete_expired(conn, now, 4).expect("batch 1"),
        4
    );
    assert_eq!(
        SessionRepository::delete_expired(conn, now, 4).expect("batch 2"),
        2
    );
    assert_eq!(
        SessionRepository::delete_expired(conn, now, 4).expect("batch 3"),
        0
    );

    assert!(!SessionRepository::delete(conn, &boundary.id).expect("gone already"));
    assert!(SessionRepository::get_valid(conn, &live.id, now).is_ok());
}

#[test]
fn get_valid_for_active_user_refuses_expired_sessions_and_disabled_users() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let session = SessionFactory::for_user(&ada).created_at(t0()).insert(conn);

    let (found, user) =
        SessionRepository::get_valid_for_active_user(conn, &session.id, t0()).expect("valid");
    assert_eq!(found, session);
    assert_eq!(user, ada);

    let expired = session.expires_at;
    let err = SessionRepository::get_valid_for_active_user(conn, &session.id, expired)
        .expect_err("expired");
    assert!(err.is_not_found(), "{err:?}");

    crate::UserRepository::set_active(conn, &ada.id, false, t0()).expect("disable");
    let err = SessionRepository::get_valid_for_active_user(conn, &session.id, t0())
        .expect_err("disabled user");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn delete_for_user_only_deletes_the_users_own_session() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let graces = SessionFactory::for_user(&grace)
        .created_at(t0())
        .insert(conn);
    let adas = SessionFactory::for_user(&ada).created_at(t0()).insert(conn);

    let err =
        SessionRepository::delete_for_user(conn, &ada.id, &graces.public_id).expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    assert!(SessionRepository::get_valid(conn, &graces.id, t0()).is_ok());
    let err = SessionRepository::delete_for_user(conn, &ada.id, &adas.id.as_str().into())
        .expect_err("the key's hash is not a public id");
    assert!(err.is_not_found(), "{err:?}");

    let deleted = SessionRepository::delete_for_user(conn, &ada.id, &adas.public_id).expect("hers");
    assert_eq!(deleted, adas.id, "the stored id of the deleted session");
    assert!(SessionRepository::get_valid(conn, &adas.id, t0()).is_err());
    let err = SessionRepository::delete_for_user(conn, &ada.id, &adas.public_id).expect_err("gone");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn public_ids_are_unique() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let first = SessionFactory::for_user(&ada).insert(conn);
    let mut twin = SessionFactory::for_user(&ada).build();
    twin.public_id = first.public_id.clone();

    let err = SessionRepository::create(conn, &twin).expect_err("same public id");

    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "sessions.public_id"),
        "{err:?}"
    );
}
