use chrono::{DateTime, TimeDelta, Utc};
use promptyard_repositories::{DbConfig, SessionRepository};
use promptyard_test_support::{TestDb, UserFactory};

use super::*;
use crate::clock::ManualClock;

const TTL: Duration = Duration::from_secs(3600);

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

struct Fixture {
    service: SessionService,
    clock: ManualClock,
    user_id: UserId,
    db: Db,
    test_db: TestDb,
}

fn fixture() -> Fixture {
    let test_db = TestDb::new();
    let user_id = UserFactory::new().insert(&mut test_db.conn()).id;
    let db = Db::open(DbConfig::new(test_db.url())).expect("db");
    let clock = ManualClock::new(start());
    Fixture {
        service: SessionService::new(
            db.clone(),
            Arc::new(clock.clone()),
            Arc::new(crate::ids::UuidV7Ids),
        ),
        clock,
        user_id,
        db,
        test_db,
    }
}

async fn stored(f: &Fixture, key: &SessionKey) -> promptyard_repositories::Session {
    let id = session_id(key.expose());
    f.db.read(move |conn| SessionRepository::get_valid(conn, &id, start().naive_utc()))
        .await
        .expect("stored")
}

#[test]
fn keys_are_random_url_safe_and_never_shown() {
    let a = SessionKey::generate().expect("key");
    let b = SessionKey::generate().expect("key");
    assert_ne!(a, b);
    assert_eq!(a.expose().len(), 43, "32 bytes of base64url");
    assert!(
        a.expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(format!("{a:?}"), "SessionKey([redacted])");
}

#[test]
fn the_stored_id_is_the_sha256_of_the_key() {
    // SHA-256("abc"), from FIPS 180-2.
    assert_eq!(
        session_id("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn a_created_session_loads_by_its_key_and_is_stored_under_its_hash() {
    let f = fixture();

    let key = f
        .service
        .create(&f.user_id, Some("curl/8".into()), TTL, None)
        .await
        .expect("create");
    let loaded = f
        .service
        .load(key.expose())
        .await
        .expect("load")
        .expect("found");

    assert_eq!(loaded.id, session_id(key.expose()));
    assert_eq!(loaded.user.id, f.user_id);
    assert_eq!(loaded.state, "{}");
    let row = stored(&f, &key).await;
    assert_eq!(row.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(row.expires_at, (start() + TimeDelta::hours(1)).naive_utc());
    assert_ne!(row.id, key.expose(), "the key itself is never stored");
}

#[tokio::test]
async fn an_unknown_or_expired_key_loads_nothing() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");

    assert!(f.service.load("no-such-key").await.expect("load").is_none());
    f.clock.advance(TimeDelta::hours(1));
    assert!(f.service.load(key.expose()).await.expect("load").is_none());
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");

    f.clock.advance(TimeDelta::seconds(59));
    f.service.load(key.expose()).await.expect("load");
    assert_eq!(
        stored(&f, &key).await.last_seen_at,
        start().naive_utc(),
        "not yet"
    );

    f.clock.advance(TimeDelta::seconds(1));
    f.service.load(key.expose()).await.expect("load");
    let touched = (start() + TimeDelta::seconds(60)).naive_utc();
    assert_eq!(stored(&f, &key).await.last_seen_at, touched);

    f.clock.advance(TimeDelta::seconds(30));
    f.service.load(key.expose()).await.expect("load");
    assert_eq!(stored(&f, &key).await.last_seen_at, touched, "coalesced");
}

#[tokio::test]
async fn update_replaces_the_state_and_extends_the_expiry() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");
    f.clock.advance(TimeDelta::minutes(10));

    assert!(
        f.service
            .update(key.expose(), r#"{"a":"1"}"#.into(), TTL)
            .await
            .expect("update")
    );

    let row = stored(&f, &key).await;
    assert_eq!(row.state, r#"{"a":"1"}"#);
    assert_eq!(
        row.expires_at,
        (start() + TimeDelta::minutes(70)).naive_utc()
    );
    assert!(
        !f.service
            .update("gone", "{}".into(), TTL)
            .await
            .expect("update")
    );
}

#[tokio::test]
async fn update_ttl_only_moves_the_expiry() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");
    assert!(
        f.service
            .update(key.expose(), r#"{"x":"y"}"#.into(), TTL)
            .await
            .expect("state")
    );
    f.clock.advance(TimeDelta::minutes(5));

    assert!(
        f.service
            .update_ttl(key.expose(), TTL * 2)
            .await
            .expect("ttl")
    );

    let row = stored(&f, &key).await;
    assert_eq!(
        row.expires_at,
        (start() + TimeDelta::minutes(125)).naive_utc()
    );
    assert_eq!(row.state, r#"{"x":"y"}"#);
    assert!(!f.service.update_ttl("gone", TTL).await.expect("ttl"));
}

#[tokio::test]
async fn delete_removes_the_session() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");

    assert!(f.service.delete(key.expose()).await.expect("delete"));
    assert!(!f.service.delete(key.expose()).await.expect("delete again"));
    assert!(f.service.load(key.expose()).await.expect("load").is_none());
}

#[tokio::test]
async fn a_session_for_a_missing_user_is_refused() {
    let f = fixture();
    let err = f
        .service
        .create(&"no-such-user".into(), None, TTL, None)
        .await
        .expect_err("foreign key");
    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
    let _ = &f.test_db;
}

#[test]
fn an_enormous_ttl_saturates_instead_of_overflowing() {
    let far = expiry(start(), Duration::from_secs(u64::MAX));
    assert!(far > start().naive_utc());
}

#[tokio::test]
async fn creating_a_session_can_replace_the_previous_one_atomically() {
    let f = fixture();
    let old = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("old");

    let new = f
        .service
        .create(&f.user_id, None, TTL, Some(session_id(old.expose())))
        .await
        .expect("new");

    assert!(f.service.load(old.expose()).await.expect("load").is_none());
    assert!(f.service.load(new.expose()).await.expect("load").is_some());
}

#[tokio::test]
async fn a_disabled_users_session_loads_nothing() {
    let f = fixture();
    let key = f
        .service
        .create(&f.user_id, None, TTL, None)
        .await
        .expect("create");
    let id = f.user_id.clone();
    f.db.write(move |conn| {
        promptyard_repositories::UserRepository::set_active(conn, &id, false, start().naive_utc())
    })
    .await
    .expect("disable");

    assert!(f.service.load(key.expose()).await.expect("load").is_none());
}

#[test]
fn debug_of_a_loaded_session_hides_its_id_and_state() {
    let loaded = LoadedSession {
        id: "f".repeat(64).into(),
        user: AuthUser {
            id: "u1".into(),
            email: "ada@example.com".into(),
            is_active: true,
            created_at: start(),
        },
        state: "secret-state".into(),
    };
    let shown = format!("{loaded:?}");
    assert!(
        !shown.contains("ffff") && !shown.contains("secret-state"),
        "{shown}"
    );
}
