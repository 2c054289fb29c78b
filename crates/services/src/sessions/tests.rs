use chrono::TimeDelta;
use promptyard_repositories::SessionRepository;

use super::*;
use crate::ids::UuidV7Ids;
use crate::test_helpers::{assert_matches, start};

const TTL: Duration = Duration::from_secs(3600);

type Fixture = crate::test_helpers::Fixture<SessionService>;

/// A [`SessionService`] over a fresh database.
fn fixture() -> Fixture {
    Fixture::new(|env| SessionService::new(env.db.clone(), env.clock(), Arc::new(UuidV7Ids)))
}

impl Fixture {
    /// Creates a session of the fixture's user, replacing `replacing`, with
    /// this user agent and [`TTL`].
    async fn create_as(
        &self,
        user_agent: Option<&str>,
        replacing: Option<SessionId>,
    ) -> SessionKey {
        self.service
            .create(&self.ada, user_agent.map(str::to_owned), TTL, replacing)
            .await
            .expect("create")
    }

    /// Creates a plain session of the fixture's user.
    async fn create(&self) -> SessionKey {
        self.create_as(None, None).await
    }

    /// Loads the session of `key`, if it is valid.
    async fn load(&self, key: &str) -> Option<LoadedSession> {
        self.service.load(key).await.expect("load")
    }

    /// The stored row of `key`'s session.
    async fn stored(&self, key: &SessionKey) -> promptyard_repositories::Session {
        let id = session_id(key.expose());
        self.env
            .db
            .read(move |conn| SessionRepository::get_valid(conn, &id, start().naive_utc()))
            .await
            .expect("stored")
    }

    /// Moves the clock on by `seconds` and loads `key` (which may touch it).
    async fn load_after(&self, seconds: i64, key: &SessionKey) {
        self.env.clock.advance(TimeDelta::seconds(seconds));
        self.load(key.expose()).await;
    }
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
    let text = a.expose().to_owned();
    assert_eq!(a.into_string(), text, "the cookie gets the key itself");
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

    let key = f.create_as(Some("curl/8"), None).await;
    let loaded = f.load(key.expose()).await.expect("found");

    assert_eq!(loaded.id, session_id(key.expose()));
    assert_eq!(loaded.user.id, f.ada);
    assert_eq!(loaded.state, "{}");
    let row = f.stored(&key).await;
    assert_eq!(row.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(row.expires_at, (start() + TimeDelta::hours(1)).naive_utc());
    assert_ne!(row.id, key.expose(), "the key itself is never stored");
}

#[tokio::test]
async fn an_unknown_or_expired_key_loads_nothing() {
    let f = fixture();
    let key = f.create().await;

    assert!(f.load("no-such-key").await.is_none());
    f.env.clock.advance(TimeDelta::hours(1));
    assert!(f.load(key.expose()).await.is_none());
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let f = fixture();
    let key = f.create().await;
    let touched = (start() + TimeDelta::seconds(60)).naive_utc();

    for (seconds, last_seen, case) in [
        (59, start().naive_utc(), "not yet"),
        (1, touched, "a minute on"),
        (30, touched, "coalesced"),
    ] {
        f.load_after(seconds, &key).await;
        assert_eq!(f.stored(&key).await.last_seen_at, last_seen, "{case}");
    }
}

#[tokio::test]
async fn update_replaces_the_state_and_extends_the_expiry() {
    let f = fixture();
    let key = f.create().await;
    f.env.clock.advance(TimeDelta::minutes(10));

    let updated = f.service.update(key.expose(), r#"{"a":"1"}"#.into(), TTL);
    assert!(updated.await.expect("update"));

    let row = f.stored(&key).await;
    assert_eq!(row.state, r#"{"a":"1"}"#);
    let expires_at = (start() + TimeDelta::minutes(70)).naive_utc();
    assert_eq!(row.expires_at, expires_at);
    let gone = f.service.update("gone", "{}".into(), TTL);
    assert!(!gone.await.expect("update"));
}

#[tokio::test]
async fn update_ttl_only_moves_the_expiry() {
    let f = fixture();
    let key = f.create().await;
    let state = f.service.update(key.expose(), r#"{"x":"y"}"#.into(), TTL);
    assert!(state.await.expect("state"));
    f.env.clock.advance(TimeDelta::minutes(5));

    let moved = f.service.update_ttl(key.expose(), TTL * 2);
    assert!(moved.await.expect("ttl"));

    let row = f.stored(&key).await;
    let expires_at = (start() + TimeDelta::minutes(125)).naive_utc();
    assert_eq!(row.expires_at, expires_at);
    assert_eq!(row.state, r#"{"x":"y"}"#);
    assert!(!f.service.update_ttl("gone", TTL).await.expect("ttl"));
}

#[tokio::test]
async fn delete_removes_the_session() {
    let f = fixture();
    let key = f.create().await;

    assert!(f.service.delete(key.expose()).await.expect("delete"));
    assert!(!f.service.delete(key.expose()).await.expect("delete again"));
    assert!(f.load(key.expose()).await.is_none());
}

#[tokio::test]
async fn a_session_for_a_missing_user_is_refused() {
    let f = fixture();
    let missing = UserId::from("no-such-user");
    let result = f.service.create(&missing, None, TTL, None).await;
    assert_matches!(result, Err(RepoError::ForeignKeyViolation), "foreign key:");
}

#[test]
fn an_enormous_ttl_saturates_instead_of_overflowing() {
    let far = expiry(start(), Duration::from_secs(u64::MAX));
    assert!(far > start().naive_utc());
}

#[tokio::test]
async fn creating_a_session_can_replace_the_previous_one_atomically() {
    let f = fixture();
    let old = f.create().await;

    let new = f.create_as(None, Some(session_id(old.expose()))).await;

    assert!(f.load(old.expose()).await.is_none());
    assert!(f.load(new.expose()).await.is_some());
}

#[tokio::test]
async fn a_disabled_users_session_loads_nothing() {
    let f = fixture();
    let key = f.create().await;

    f.env.disable(&f.ada).await;

    assert!(f.load(key.expose()).await.is_none());
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
    assert!(
        shown.starts_with("LoadedSession") && shown.contains("ada@example.com"),
        "it still shows whose session it is: {shown}"
    );
}
