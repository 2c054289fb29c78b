use chrono::{NaiveDate, TimeDelta};
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{TestDb, UserFactory};

use super::*;

fn t0() -> Timestamp {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(9, 0, 0, 0))
        .expect("valid")
}

fn new_key(user: &User, public_id: &str, created_at: Timestamp) -> NewApiKey {
    NewApiKey {
        id: new_id().into(),
        user_id: user.id.clone(),
        name: format!("key {public_id}"),
        public_id: public_id.to_owned(),
        secret_hash: vec![7; 32],
        created_at,
        expires_at: None,
    }
}

#[test]
fn a_created_key_is_found_by_its_public_id_with_its_user() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let created = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect("create");

    let (key, user) = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1").expect("found");

    assert_eq!(key, created);
    assert_eq!(key.secret_hash, vec![7; 32]);
    assert_eq!(key.last_used_at, None);
    assert_eq!(user, ada);
    let err = ApiKeyRepository::get_with_user_by_public_id(conn, "NOPE").expect_err("unknown");
    assert!(err.is_not_found(), "{err:?}");
}

#[test]
fn public_ids_are_unique_and_keys_need_a_user() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect("first");

    let err = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect_err("dup");
    assert!(
        matches!(&err, RepoError::UniqueViolation { constraint } if constraint == "api_keys.public_id"),
        "{err:?}"
    );
    let mut orphan = new_key(&ada, "PUB2", t0());
    orphan.user_id = new_id().into();
    let err = ApiKeyRepository::create(conn, &orphan).expect_err("no user");
    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
}

#[test]
fn a_hash_must_be_32_bytes() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let mut short = new_key(&ada, "PUB1", t0());
    short.secret_hash = vec![1; 16];
    let err = ApiKeyRepository::create(conn, &short).expect_err("CHECK");
    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
}

#[test]
fn listing_shows_only_the_users_active_keys_newest_first() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let at = |minutes| t0() + TimeDelta::minutes(minutes);
    ApiKeyRepository::create(conn, &new_key(&ada, "OLD", at(0))).expect("old");
    let mut expiring = new_key(&ada, "EXP", at(1));
    expiring.expires_at = Some(at(60));
    ApiKeyRepository::create(conn, &expiring).expect("expiring");
    ApiKeyRepository::create(conn, &new_key(&ada, "NEW", at(2))).expect("new");
    let revoked = ApiKeyRepository::create(conn, &new_key(&ada, "REV", at(3))).expect("revoked");
    ApiKeyRepository::revoke(conn, &ada.id, &revoked.id, at(3)).expect("revoke");
    ApiKeyRepository::create(conn, &new_key(&grace, "GRACE", at(4))).expect("grace's");

    let listed = |now| -> Vec<String> {
        ApiKeyRepository::list_active_for_user(&mut test_db.conn(), &ada.id, now)
            .expect("list")
            .into_iter()
            .map(|k| k.public_id)
            .collect()
    };

    assert_eq!(listed(at(5)), ["NEW", "EXP", "OLD"]);
    assert_eq!(
        listed(at(60)),
        ["NEW", "OLD"],
        "expired at its expiry instant"
    );
}

#[test]
fn revoking_needs_the_owner_and_happens_once() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let grace = UserFactory::new().insert(conn);
    let key = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect("create");

    let err = ApiKeyRepository::revoke(conn, &grace.id, &key.id, t0()).expect_err("not hers");
    assert!(err.is_not_found(), "{err:?}");
    ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0()).expect("revoke");
    let err = ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0()).expect_err("twice");
    assert!(err.is_not_found(), "{err:?}");

    let (stored, _) = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1").expect("row kept");
    assert_eq!(stored.revoked_at, Some(t0()));
}

#[test]
fn touch_writes_only_when_the_last_use_is_old_enough() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    let key = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect("create");
    let minute = TimeDelta::minutes(1);

    assert!(ApiKeyRepository::touch(conn, &key.id, t0(), t0() - minute).expect("first use"));
    let soon = t0() + TimeDelta::seconds(30);
    assert!(!ApiKeyRepository::touch(conn, &key.id, soon, soon - minute).expect("too soon"));
    let later = t0() + minute;
    assert!(ApiKeyRepository::touch(conn, &key.id, later, later - minute).expect("a minute on"));

    let (stored, _) = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1").expect("row");
    assert_eq!(stored.last_used_at, Some(later));
}

#[test]
fn deleting_the_user_deletes_their_keys() {
    let test_db = TestDb::new();
    let conn = &mut test_db.conn();
    let ada = UserFactory::new().insert(conn);
    ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0())).expect("create");

    crate::UserRepository::delete(conn, &ada.id).expect("delete");

    assert!(
        ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1")
            .expect_err("gone")
            .is_not_found()
    );
}
