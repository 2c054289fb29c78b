use promptyard_repositories::{DbConfig, UserRepository};
use promptyard_test_support::{TestDb, UserFactory};

use super::*;
use crate::clock::ManualClock;
use crate::ids::UuidV7Ids;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

struct Fixture {
    keys: ApiKeyService,
    clock: ManualClock,
    ada: UserId,
    grace: UserId,
    db: Db,
    test_db: TestDb,
}

fn fixture() -> Fixture {
    let test_db = TestDb::new();
    let (ada, grace) = {
        let mut conn = test_db.conn();
        (
            UserFactory::new().insert(&mut conn).id,
            UserFactory::new().insert(&mut conn).id,
        )
    };
    let db = Db::open(DbConfig::new(test_db.url())).expect("db");
    let clock = ManualClock::new(start());
    Fixture {
        keys: ApiKeyService::new(db.clone(), Arc::new(clock.clone()), Arc::new(UuidV7Ids)),
        clock,
        ada,
        grace,
        db,
        test_db,
    }
}

/// A key to create, parsed (the rules are the parsers' own tests).
fn key(name: &str, days: Option<i64>) -> NewKey {
    NewKey {
        name: KeyName::parse(name).expect("a valid name"),
        #[allow(clippy::cast_precision_loss)]
        expires_in_days: days.map(|d| ExpiresInDays::parse(d as f64).expect("valid days")),
    }
}

fn unauthenticated(result: Result<KeyCaller, AuthError>) {
    assert!(
        matches!(result, Err(AuthError::Unauthenticated)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_created_key_authenticates_its_owner_and_is_listed_without_its_secret() {
    let f = fixture();

    let created = f
        .keys
        .create(&f.ada, key("  laptop  ", None))
        .await
        .expect("create");
    let caller = f
        .keys
        .authenticate(created.key.expose())
        .await
        .expect("authenticates");
    let listed = f.keys.list(&f.ada).await.expect("list");

    assert_eq!(caller.user.id, f.ada);
    assert_eq!(caller.key_id, created.info.id);
    assert_eq!(created.info.name, "laptop", "trimmed");
    assert_eq!(
        created.info.prefix,
        format!("pyk_{}", created.key.public_id())
    );
    assert_eq!(created.info.created_at, start());
    assert_eq!(created.info.expires_at, None);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.info.id);
    assert!(
        !format!("{listed:?}").contains(&created.key.expose()[17..]),
        "no secret in the list"
    );
    assert!(
        f.keys.list(&f.grace).await.expect("list").is_empty(),
        "only the owner's keys"
    );
}

#[tokio::test]
async fn names_and_lifetimes_are_validated_together() {
    for (name, days, fields) in [
        ("", None, vec!["name"]),
        ("   ", None, vec!["name"]),
        (&*"x".repeat(101), None, vec!["name"]),
        ("ok", Some(0.0), vec!["expires_in_days"]),
        ("ok", Some(3651.0), vec!["expires_in_days"]),
        ("ok", Some(1.5), vec!["expires_in_days"]),
        ("", Some(-1.0), vec!["name", "expires_in_days"]),
    ] {
        let mut named = Vec::new();
        if KeyName::parse(name).is_err() {
            named.push("name");
        }
        if days.is_some_and(|d| ExpiresInDays::parse(d).is_err()) {
            named.push("expires_in_days");
        }
        assert_eq!(named, fields, "{name:?} {days:?}");
    }
    assert_eq!(KeyName::parse(" ").unwrap_err(), "must not be empty");
    assert_eq!(
        ExpiresInDays::parse(0.0).unwrap_err(),
        "must be a whole number from 1 to 3650"
    );
    let f = fixture();
    let longest = "é".repeat(100);
    f.keys
        .create(&f.ada, key(&longest, Some(3650)))
        .await
        .expect("100 characters, 3650 days");
    f.keys
        .create(&f.ada, key("a", Some(1)))
        .await
        .expect("1 character, 1 day");
}

#[tokio::test]
async fn a_key_expires_after_its_days_and_leaves_the_list() {
    let f = fixture();
    let created = f
        .keys
        .create(&f.ada, key("ci", Some(30)))
        .await
        .expect("create");
    assert_eq!(created.info.expires_at, Some(start() + TimeDelta::days(30)));

    f.clock
        .advance(TimeDelta::days(30) - TimeDelta::milliseconds(1));
    f.keys
        .authenticate(created.key.expose())
        .await
        .expect("still valid");
    f.clock.advance(TimeDelta::milliseconds(1));

    unauthenticated(f.keys.authenticate(created.key.expose()).await);
    assert!(f.keys.list(&f.ada).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_revoked_key_stops_at_once_and_only_its_owner_can_revoke_it() {
    let f = fixture();
    let created = f
        .keys
        .create(&f.ada, key("ci", None))
        .await
        .expect("create");

    let err = f
        .keys
        .revoke(&f.grace, &created.info.id)
        .await
        .expect_err("not hers");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
    f.keys
        .authenticate(created.key.expose())
        .await
        .expect("still works");

    f.keys
        .revoke(&f.ada, &created.info.id)
        .await
        .expect("revoke");
    unauthenticated(f.keys.authenticate(created.key.expose()).await);
    assert!(f.keys.list(&f.ada).await.expect("list").is_empty());
    let err = f
        .keys
        .revoke(&f.ada, &created.info.id)
        .await
        .expect_err("twice");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
    let err = f
        .keys
        .revoke(&f.ada, &"no-such-key".into())
        .await
        .expect_err("unknown");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
}

#[tokio::test]
async fn unknown_malformed_and_wrong_keys_are_refused_alike() {
    let f = fixture();
    let created = f
        .keys
        .create(&f.ada, key("ci", None))
        .await
        .expect("create");
    let text = created.key.expose().to_owned();
    let wrong_secret = format!(
        "{}{}",
        &text[..text.len() - 1],
        if text.ends_with('0') { '1' } else { '0' }
    );
    let unknown = FullKey::generate().expect("another key");

    for raw in [
        "",
        "Bearer",
        "pyk_",
        "not a key at all",
        &wrong_secret,
        unknown.expose(),
    ] {
        unauthenticated(f.keys.authenticate(raw).await);
    }
}

#[tokio::test]
async fn a_disabled_users_keys_stop_at_once() {
    let f = fixture();
    let created = f
        .keys
        .create(&f.ada, key("ci", None))
        .await
        .expect("create");
    let id = f.ada.clone();
    f.db.write(move |conn| UserRepository::set_active(conn, &id, false, start().naive_utc()))
        .await
        .expect("disable");

    unauthenticated(f.keys.authenticate(created.key.expose()).await);
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_a_minute() {
    let f = fixture();
    let created = f
        .keys
        .create(&f.ada, key("ci", None))
        .await
        .expect("create");
    let last_used = || async { f.keys.list(&f.ada).await.expect("list")[0].last_used_at };
    assert_eq!(last_used().await, None);

    f.keys
        .authenticate(created.key.expose())
        .await
        .expect("first use");
    assert_eq!(last_used().await, Some(start()));

    f.clock.advance(TimeDelta::seconds(59));
    f.keys
        .authenticate(created.key.expose())
        .await
        .expect("again");
    assert_eq!(last_used().await, Some(start()), "coalesced: no write");

    f.clock.advance(TimeDelta::seconds(1));
    f.keys
        .authenticate(created.key.expose())
        .await
        .expect("a minute on");
    assert_eq!(last_used().await, Some(start() + TimeDelta::seconds(60)));
    let _ = &f.test_db;
}
