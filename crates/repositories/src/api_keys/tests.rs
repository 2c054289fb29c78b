use chrono::TimeDelta;
use promptyard_test_support::factories::new_id;

use super::*;
use crate::test_helpers::{
    assert_foreign_key_violation, assert_not_found, assert_unexpected, assert_unique_violation,
    fresh, on_test_day, users,
};

fn t0() -> Timestamp {
    on_test_day(9, 0, 0, 0)
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
        limits: KeyLimitColumns::default(),
    }
}

/// Creates `user`'s key `public_id` at [`t0`].
fn create_key(conn: &mut DbConn, user: &User, public_id: &str) -> ApiKey {
    ApiKeyRepository::create(conn, &new_key(user, public_id, t0())).expect(public_id)
}

/// The stored key `public_id`.
fn stored(conn: &mut DbConn, public_id: &str) -> ApiKey {
    let (key, _) = ApiKeyRepository::get_with_user_by_public_id(conn, public_id).expect("row");
    key
}

#[test]
fn a_created_key_is_found_by_its_public_id_with_its_user() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let created = create_key(conn, &ada, "PUB1");

    let (key, user) = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1").expect("found");

    assert_eq!(key, created);
    assert_eq!(key.secret_hash, vec![7; 32]);
    assert_eq!(key.last_used_at, None);
    assert_eq!(user, ada);
    let unknown = ApiKeyRepository::get_with_user_by_public_id(conn, "NOPE");
    assert_not_found(unknown, "unknown");
}

#[test]
fn public_ids_are_unique_keys_need_a_user_and_hashes_are_32_bytes() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    create_key(conn, &ada, "PUB1");

    let dup = ApiKeyRepository::create(conn, &new_key(&ada, "PUB1", t0()));
    assert_unique_violation(dup, "api_keys.public_id");
    let mut orphan = new_key(&ada, "PUB2", t0());
    orphan.user_id = new_id().into();
    assert_foreign_key_violation(ApiKeyRepository::create(conn, &orphan), "no user");
    let mut short = new_key(&ada, "PUB3", t0());
    short.secret_hash = vec![1; 16];
    assert_unexpected(ApiKeyRepository::create(conn, &short), "CHECK");
}

#[test]
fn listing_shows_only_the_users_active_keys_newest_first() {
    let (conn, db) = &mut fresh();
    let [ada, grace] = users(conn);
    let at = |minutes| t0() + TimeDelta::minutes(minutes);
    let mut expiring = new_key(&ada, "EXP", at(1));
    expiring.expires_at = Some(at(60));
    for key in [
        new_key(&ada, "OLD", at(0)),
        expiring,
        new_key(&ada, "NEW", at(2)),
        new_key(&ada, "REV", at(3)),
        new_key(&grace, "GRACE", at(4)),
    ] {
        ApiKeyRepository::create(conn, &key).expect(&key.public_id);
    }
    let revoked = stored(conn, "REV");
    ApiKeyRepository::revoke(conn, &ada.id, &revoked.id, at(3)).expect("revoke");

    let listed = |now| -> Vec<String> {
        ApiKeyRepository::list_active_for_user(&mut db.conn(), &ada.id, now)
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
    let (conn, _db) = &mut fresh();
    let [ada, grace] = users(conn);
    let key = create_key(conn, &ada, "PUB1");

    let by_grace = ApiKeyRepository::revoke(conn, &grace.id, &key.id, t0());
    assert_not_found(by_grace, "not hers");
    ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0()).expect("revoke");
    let again = ApiKeyRepository::revoke(conn, &ada.id, &key.id, t0());
    assert_not_found(again, "twice");

    assert_eq!(stored(conn, "PUB1").revoked_at, Some(t0()), "row kept");
}

#[test]
fn touch_writes_only_when_the_last_use_is_old_enough() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    let key = create_key(conn, &ada, "PUB1");
    let minute = TimeDelta::minutes(1);

    assert!(ApiKeyRepository::touch(conn, &key.id, t0(), t0() - minute).expect("first use"));
    let soon = t0() + TimeDelta::seconds(30);
    assert!(!ApiKeyRepository::touch(conn, &key.id, soon, soon - minute).expect("too soon"));
    let later = t0() + minute;
    assert!(ApiKeyRepository::touch(conn, &key.id, later, later - minute).expect("a minute on"));

    assert_eq!(stored(conn, "PUB1").last_used_at, Some(later));
}

#[test]
fn deleting_the_user_deletes_their_keys() {
    let (conn, _db) = &mut fresh();
    let [ada] = users(conn);
    create_key(conn, &ada, "PUB1");

    crate::UserRepository::delete(conn, &ada.id).expect("delete");

    let gone = ApiKeyRepository::get_with_user_by_public_id(conn, "PUB1");
    assert_not_found(gone, "gone");
}
