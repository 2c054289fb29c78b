use chrono::Duration;
use diesel::connection::SimpleConnection;
use promptyard_db_models::ids::SessionId;
use promptyard_db_models::schema::sessions;
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{SessionFactory, UserFactory};

use super::*;
use crate::error::OptionalExt;
use crate::test_helpers::{assert_not_found, assert_unique_violation, fresh, on_test_day, users};

fn t0() -> Timestamp {
    on_test_day(17, 0, 0, 123)
}

#[test]
fn create_returns_the_stored_row() {
    let (conn, _db) = &mut fresh();
    let new = UserFactory::new().created_at(t0()).build();

    let user = UserRepository::create(conn, &new).expect("create");

    assert_eq!(user.id, new.id);
    assert_eq!(user.email, new.email);
    assert_eq!(user.password_hash, new.password_hash);
    assert!(user.is_active);
    assert_eq!(user.created_at, t0(), "millisecond timestamps round-trip");
    assert_eq!(user.updated_at, t0());
    assert_eq!(UserRepository::get_by_id(conn, &new.id).expect("get"), user);
}

#[test]
fn get_by_email_ignores_letter_case() {
    let (conn, _db) = &mut fresh();
    let ada = UserFactory::new().email("ada@example.com").insert(conn);
    UserFactory::new().insert(conn);

    let found = UserRepository::get_by_email(conn, "Ada@EXAMPLE.com").expect("found");

    assert_eq!(found, ada);
}

#[test]
fn get_by_email_of_an_unknown_email_is_not_found() {
    let (conn, _db) = &mut fresh();
    UserFactory::new().email("ada@example.com").insert(conn);

    let found = UserRepository::get_by_email(conn, "grace@example.com").optional();

    assert!(matches!(found, Ok(None)), "{found:?}");
}

#[test]
fn an_email_taken_in_another_case_is_a_unique_violation() {
    let (conn, _db) = &mut fresh();
    UserFactory::new().email("ada@example.com").insert(conn);

    let twin = UserFactory::new().email("ADA@example.COM").build();
    assert_unique_violation(UserRepository::create(conn, &twin), "users.email");
    assert_eq!(UserRepository::count(conn).expect("count"), 1);
}

#[test]
fn a_reused_id_is_a_unique_violation() {
    let (conn, _db) = &mut fresh();
    let [first] = users(conn);
    let mut second = UserFactory::new().build();
    second.id = first.id;

    assert_unique_violation(UserRepository::create(conn, &second), "users.id");
}

#[test]
fn is_active_accepts_only_booleans() {
    let (conn, _db) = &mut fresh();
    let err = conn
        .batch_execute(
            "INSERT INTO users VALUES ('x', 'x@example.com', 'h', 2, '2026-11-25 00:00:00', '2026-11-25 00:00:00')",
        )
        .expect_err("is_active is a boolean");
    // SQLite stores it as an integer that a CHECK limits to 0 and 1;
    // PostgreSQL's column is a boolean, which refuses an integer.
    let refused_by = match conn {
        DbConn::Sqlite(_) => "CHECK constraint failed",
        DbConn::Postgres(_) => "is of type boolean but expression is of type integer",
    };
    assert!(err.to_string().contains(refused_by), "{err}");
}

#[test]
fn set_active_changes_the_flag_and_updated_at() {
    let (conn, _db) = &mut fresh();
    let user = UserFactory::new().created_at(t0()).insert(conn);
    let later = t0() + Duration::minutes(3);

    let disabled = UserRepository::set_active(conn, &user.id, false, later).expect("disable");

    assert!(!disabled.is_active);
    assert_eq!(disabled.updated_at, later);
    assert_eq!(disabled.created_at, t0());
    let enabled = UserRepository::set_active(conn, &user.id, true, later).expect("enable");
    assert!(enabled.is_active);
}

#[test]
fn set_password_hash_replaces_the_hash() {
    let (conn, _db) = &mut fresh();
    let [user] = users(conn);

    let updated =
        UserRepository::set_password_hash(conn, &user.id, "$argon2id$new", t0()).expect("set");

    assert_eq!(updated.password_hash, "$argon2id$new");
    let stored = UserRepository::get_by_id(conn, &user.id).expect("get");
    assert_eq!(stored.password_hash, "$argon2id$new");
}

#[test]
fn every_lookup_or_change_of_a_missing_user_is_not_found() {
    let (conn, _db) = &mut fresh();
    let missing: UserId = new_id().into();

    let get = UserRepository::get_by_id(conn, &missing);
    assert_not_found(get, "get_by_id");
    let set_active = UserRepository::set_active(conn, &missing, false, t0());
    assert_not_found(set_active, "set_active");
    let set_password_hash = UserRepository::set_password_hash(conn, &missing, "h", t0());
    assert_not_found(set_password_hash, "set_password_hash");
    assert_not_found(UserRepository::delete(conn, &missing), "delete");
}

#[test]
fn delete_removes_the_user_and_cascades_to_their_sessions() {
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    SessionFactory::for_user(&ada).insert(conn);
    let graces = SessionFactory::for_user(&grace).insert(conn);

    UserRepository::delete(conn, &ada.id).expect("delete");

    assert_not_found(UserRepository::get_by_id(conn, &ada.id), "gone");
    let remaining: Vec<SessionId> = sessions::table
        .select(sessions::id)
        .load(conn)
        .expect("sessions");
    assert_eq!(remaining, vec![graces.id]);
    assert_not_found(UserRepository::delete(conn, &ada.id), "twice");
}

#[test]
fn count_counts_users() {
    let (conn, _db) = &mut fresh();
    assert_eq!(UserRepository::count(conn).expect("count"), 0);
    UserFactory::new().insert(conn);
    UserFactory::new().inactive().insert(conn);
    assert_eq!(UserRepository::count(conn).expect("count"), 2);
}
