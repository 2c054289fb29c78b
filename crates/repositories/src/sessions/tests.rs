use chrono::Duration;
use promptyard_test_support::SessionFactory;
use promptyard_test_support::factories::new_id;

use super::*;
use crate::test_helpers::{
    assert_foreign_key_violation, assert_not_found, assert_unique_violation, delete_in_batches,
    fresh, on_test_day, users,
};

fn t0() -> Timestamp {
    on_test_day(17, 0, 0, 500)
}

fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

/// A new user and one session of theirs created at [`t0`].
fn user_with_session(conn: &mut DbConn) -> (User, Session) {
    let [user] = users(conn);
    let session = SessionFactory::for_user(&user)
        .created_at(t0())
        .insert(conn);
    (user, session)
}

#[test]
fn create_then_get_valid_returns_the_row() {
    let (conn, _db) = &mut fresh();
    let [user] = users(conn);
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
    let (conn, _db) = &mut fresh();
    let [user] = users(conn);
    let new = SessionFactory::for_user(&user).user_agent(None).build();

    let created = SessionRepository::create(conn, &new).expect("create");

    assert_eq!(created.user_agent, None);
}

#[test]
fn a_session_for_a_missing_user_is_a_foreign_key_violation() {
    let (conn, _db) = &mut fresh();
    let orphan = SessionFactory::for_user_id(&new_id().into()).build();

    assert_foreign_key_violation(SessionRepository::create(conn, &orphan), "no such user");
}

#[test]
fn a_reused_session_id_or_public_id_is_a_unique_violation() {
    type Reuse = fn(&mut NewSession, &Session);
    let cases: [(Reuse, &str); 2] = [
        (|twin, first| twin.id = first.id.clone(), "sessions.id"),
        (
            |twin, first| twin.public_id = first.public_id.clone(),
            "sessions.public_id",
        ),
    ];
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    for (reuse, constraint) in cases {
        let first = SessionFactory::for_user(&ada).insert(conn);
        let mut twin = SessionFactory::for_user(&ada).build();
        reuse(&mut twin, &first);

        assert_unique_violation(SessionRepository::create(conn, &twin), constraint);
    }
}

#[test]
fn get_valid_refuses_an_expired_session_from_its_expiry_instant_on() {
    let (conn, _db) = &mut fresh();
    let [user] = users(conn);
    let expires = t0() + Duration::minutes(10);
    let session = SessionFactory::for_user(&user)
        .created_at(t0())
        .expires_at(expires)
        .insert(conn);

    let just_before = expires - Duration::milliseconds(1);
    assert!(SessionRepository::get_valid(conn, &session.id, just_before).is_ok());
    for at in [expires, expires + Duration::seconds(1)] {
        let found = SessionRepository::get_valid(conn, &session.id, at);
        assert_not_found(found, &format!("expired at {at}"));
    }
}

#[test]
fn get_valid_of_an_unknown_id_is_not_found() {
    let (conn, _db) = &mut fresh();
    assert_not_found(
        SessionRepository::get_valid(conn, &"nope".into(), t0()),
        "none",
    );
}

#[test]
fn list_valid_for_user_is_newest_first_and_skips_expired_and_other_users() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
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
    let (conn, _db) = &mut fresh();
    let (_, session) = user_with_session(conn);
    let later = t0() + Duration::minutes(2);

    SessionRepository::touch(conn, &session.id, later).expect("touch");

    let found = SessionRepository::get_valid(conn, &session.id, later).expect("valid");
    assert_eq!(found.last_seen_at, later);
    assert_eq!(found.expires_at, session.expires_at);
    assert_eq!(found.state, session.state);
    assert_not_found(
        SessionRepository::touch(conn, &"nope".into(), later),
        "missing",
    );
}

#[test]
fn update_changes_only_the_given_columns() {
    let (conn, _db) = &mut fresh();
    let (_, session) = user_with_session(conn);
    let changes = SessionUpdate {
        state: Some(r#"{"k":"v"}"#.to_owned()),
        expires_at: Some(t0() + Duration::days(30)),
        last_seen_at: None,
    };

    let updated = SessionRepository::update(conn, &session.id, &changes).expect("update");

    assert_eq!(updated.state, r#"{"k":"v"}"#);
    assert_eq!(Some(updated.expires_at), changes.expires_at);
    assert_eq!(updated.last_seen_at, session.last_seen_at);
    let unchanged = SessionRepository::update(conn, &session.id, &SessionUpdate::default())
        .expect("empty update");
    assert_eq!(unchanged, updated);
}

#[test]
fn update_of_a_missing_session_is_not_found_even_with_nothing_to_change() {
    let (conn, _db) = &mut fresh();
    for changes in [
        SessionUpdate::default(),
        SessionUpdate {
            last_seen_at: Some(t0()),
            ..SessionUpdate::default()
        },
    ] {
        let updated = SessionRepository::update(conn, &"nope".into(), &changes);
        assert_not_found(updated, &format!("{changes:?}"));
    }
}

#[test]
fn delete_reports_whether_the_session_existed() {
    let (conn, _db) = &mut fresh();
    let (_, session) = user_with_session(conn);

    assert!(SessionRepository::delete(conn, &session.id).expect("delete"));
    assert!(!SessionRepository::delete(conn, &session.id).expect("delete again"));
    assert!(SessionRepository::get_valid(conn, &session.id, t0()).is_err());
}

/// What the bulk deletes under test do to ada's sessions: `keep` is one
/// of her three.
type DeleteAdas = fn(&mut DbConn, &UserId, &SessionId) -> Result<usize, RepoError>;

#[test]
fn bulk_deletes_of_a_users_sessions_leave_other_users_alone() {
    let cases: [(&str, DeleteAdas, usize, bool); 2] = [
        (
            "delete_all_for_user",
            |conn, ada, _| SessionRepository::delete_all_for_user(conn, ada),
            3,
            false,
        ),
        (
            "delete_all_for_user_except",
            SessionRepository::delete_all_for_user_except,
            2,
            true,
        ),
    ];
    for (case, delete, deleted_count, keeps_one) in cases {
        let (conn, _db) = &mut fresh();
        let [ada, grace] = users(conn);
        let keep = SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
        for _ in 0..2 {
            SessionFactory::for_user(&ada).created_at(t0()).insert(conn);
        }
        let graces = SessionFactory::for_user(&grace)
            .created_at(t0())
            .insert(conn);

        let deleted = delete(conn, &ada.id, &keep.id).expect(case);

        assert_eq!(deleted, deleted_count, "{case}");
        let left = SessionRepository::list_valid_for_user(conn, &ada.id, t0()).expect("list");
        let expected_left = if keeps_one {
            vec![keep.id.as_str()]
        } else {
            vec![]
        };
        assert_eq!(ids(&left), expected_left, "{case}");
        assert!(
            SessionRepository::get_valid(conn, &graces.id, t0()).is_ok(),
            "{case}"
        );
    }
}

#[test]
fn delete_expired_removes_only_expired_sessions_in_bounded_batches() {
    let (conn, _db) = &mut fresh();
    let [user] = users(conn);
    let now = t0();
    let expired_at = |minutes| {
        SessionFactory::for_user(&user)
            .created_at(now - Duration::days(1))
            .expires_at(now - Duration::minutes(minutes))
    };
    for minutes in 1..=5 {
        expired_at(minutes).insert(conn);
    }
    let boundary = expired_at(0).insert(conn);
    let live = SessionFactory::for_user(&user).created_at(now).insert(conn);

    let batches = delete_in_batches(3, || SessionRepository::delete_expired(conn, now, 4));

    assert_eq!(batches, [4, 2, 0]);
    assert!(!SessionRepository::delete(conn, &boundary.id).expect("gone already"));
    assert!(SessionRepository::get_valid(conn, &live.id, now).is_ok());
}

#[test]
fn get_valid_for_active_user_refuses_expired_sessions_and_disabled_users() {
    let (conn, _db) = &mut fresh();
    let (ada, session) = user_with_session(conn);

    let (found, user) =
        SessionRepository::get_valid_for_active_user(conn, &session.id, t0()).expect("valid");
    assert_eq!(found, session);
    assert_eq!(user, ada);

    let expired = session.expires_at;
    assert_not_found(
        SessionRepository::get_valid_for_active_user(conn, &session.id, expired),
        "expired",
    );

    crate::UserRepository::set_active(conn, &ada.id, false, t0()).expect("disable");
    assert_not_found(
        SessionRepository::get_valid_for_active_user(conn, &session.id, t0()),
        "disabled user",
    );
}

#[test]
fn delete_for_user_only_deletes_the_users_own_session() {
    let (conn, _db) = &mut fresh();
    let (_, graces) = user_with_session(conn);
    let (ada, adas) = user_with_session(conn);
    let delete = |conn: &mut DbConn, public_id: &SessionPublicId| {
        SessionRepository::delete_for_user(conn, &ada.id, public_id)
    };

    assert_not_found(delete(conn, &graces.public_id), "not hers");
    assert!(SessionRepository::get_valid(conn, &graces.id, t0()).is_ok());
    assert_not_found(
        delete(conn, &adas.id.as_str().into()),
        "the key's hash is not a public id",
    );

    let deleted = delete(conn, &adas.public_id).expect("hers");
    assert_eq!(deleted, adas.id, "the stored id of the deleted session");
    assert!(SessionRepository::get_valid(conn, &adas.id, t0()).is_err());
    assert_not_found(delete(conn, &adas.public_id), "gone");
}
