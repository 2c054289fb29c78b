use chrono::{Duration, NaiveDate};
use diesel::connection::SimpleConnection;
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};

use super::*;
use crate::error::OptionalExt;

fn t0() -> Timestamp {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(17, 0, 0, 123))
        .expect("valid time")
}

#[test]
fn create_returns_the_stored_row() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
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
fn get_by_id_of_a_missing_user_is_not_found() {
    let test_db = TestDb::new();
    let err =
        UserRepository::get_by_id(&mut test_db.conn(), &new_id().into()).expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn get_by_email_ignores_letter_case() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().email("ada@example.com").insert(conn);
    UserFactory::new().insert(conn);

    let found = UserRepository::get_by_email(conn, "Ada@EXAMPLE.com").expect("found");

    assert_eq!(found, ada);
}

#[test]
fn get_by_email_of_an_unknown_email_is_not_found() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    UserFactory::new().email("ada@example.com").insert(conn);

    let found = UserRepository::get_by_email(conn, "grace@example.com").optional();

    assert!(matches!(found, Ok(None)), "{found:?}");
}

#[test]
fn an_email_taken_in_another_case_is_a_unique_violation() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    UserFactory::new().email("ada@example.com").insert(conn);

    let err = UserRepository::create(conn, &UserFactory::new().email("ADA@example.COM").build())
        .expect_err("duplicate");

    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "users.email"),
        "{err:?}"
    );
    assert_eq!(UserRepository::count(conn).expect("count"), 1);
}

#[test]
fn a_reused_id_is_a_unique_violation() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let first = UserFactory::new().insert(conn);
    let mut second = UserFactory::new().build();
    second.id = first.id;

    let err = UserRepository::create(conn, &second).expect_err("duplicate id");

    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "users.id"),
        "{err:?}"
    );
}

#[test]
fn is_active_accepts_only_booleans() {
    let test_db = TestDb::new();
    let err = test_db
        .conn()
        .batch_execute(
            "INSERT INTO users VALUES ('x', 'x@example.com', 'h', 2, '2026-11-25 00:00:00', '2026-11-25 00:00:00')",
        )
        .expect_err("CHECK constraint");
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[test]
fn set_active_changes_the_flag_and_updated_at() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
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
fn set_active_of_a_missing_user_is_not_found() {
    let test_db = TestDb::new();
    let err = UserRepository::set_active(&mut test_db.conn(), &new_id().into(), false, t0())
        .expect_err("missing");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn set_password_hash_replaces_the_hash() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let user = UserFactory::new().insert(conn);

    let updated =
        UserRepository::set_password_hash(conn, &user.id, "$argon2id$new", t0()).expect("set");

    assert_eq!(updated.password_hash, "$argon2id$new");
    assert_eq!(
        UserRepository::get_by_id(conn, &user.id)
            .expect("get")
            .password_hash,
        "$argon2id$new"
    );
    let err = UserRepository::set_password_hash(conn, &new_id().into(), "h", t0())
        .expect_err("missing user");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn delete_removes_the_user_and_cascades_to_their_sessions() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    SessionFactory::for_user(&ada).insert(conn);
    let graces = SessionFactory::for_user(&grace).insert(conn);

    UserRepository::delete(conn, &ada.id).expect("delete");

    assert!(
        UserRepository::get_by_id(conn, &ada.id)
            .expect_err("gone")
            .is_not_found()
    );
    let remaining: Vec<promptyard_db_models::ids::SessionId> =
        promptyard_db_models::schema::sessions::table
            .select(promptyard_db_models::schema::sessions::id)
            .load(conn)
            .expect("sessions");
    assert_eq!(remaining, vec![graces.id]);
    assert!(
        UserRepository::delete(conn, &ada.id)
            .expect_err("twice")
            .is_not_found()
    );
}

#[test]
fn count_counts_users() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    assert_eq!(UserRepository::count(conn).expect("count"), 0);
    UserFactory::new().insert(conn);
    UserFactory::new().inactive().insert(conn);
    assert_eq!(UserRepository::count(conn).expect("count"), 2);
}
