//! Server-side login sessions, as the HTTP layer's session store needs them.
//!
//! The cookie carries a random session key (32 bytes from the OS, base64url);
//! the database only ever sees its SHA-256 ([`session_id`]), which is also the
//! session's public id in `GET /api/v1/auth/sessions`. A copy of the
//! database therefore hands out no live session.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use promptyard_repositories::{
    Db, NewSession, OptionalExt, RepoError, SessionRepository, SessionUpdate,
};
use sha2::{Digest, Sha256};

use crate::auth::AuthUser;
use crate::clock::Clock;
use crate::ids::IdGenerator;
use promptyard_repositories::{SessionId, UserId};

/// How often `last_seen_at` is written at most, per session.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// A session key as the cookie carries it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    /// A new key: 32 random bytes from the OS, base64url without padding.
    pub fn generate() -> Result<Self, RepoError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RepoError::unexpected(e.to_string()))?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The key's text, to put in the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the key into its text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// The id a session is stored under: the SHA-256 of its key, in hex.
pub fn session_id(key: &str) -> SessionId {
    SessionId::new(hex::encode(Sha256::digest(key.as_bytes())))
}

/// A session found by its key, with its (active) user.
#[derive(Clone, PartialEq, Eq)]
pub struct LoadedSession {
    /// The stored id ([`session_id`] of the key).
    pub id: SessionId,
    /// The user as of this request (not a copy taken at login).
    pub user: AuthUser,
    /// The state as stored (a JSON object).
    pub state: String,
}

impl fmt::Debug for LoadedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedSession")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Creates, loads, updates and deletes sessions by key.
#[derive(Debug, Clone)]
pub struct SessionService {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

fn expiry(now: chrono::DateTime<chrono::Utc>, ttl: Duration) -> promptyard_repositories::Timestamp {
    let ttl = chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX);
    now.checked_add_signed(ttl)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
        .naive_utc()
}

impl SessionService {
    /// Sessions on `db`, timed by `clock`, with public ids from `ids`.
    pub fn new(db: Db, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Self { db, clock, ids }
    }

    /// Stores a new session of `user` expiring `ttl` from now, deleting
    /// the session `replacing` (the caller's previous one, at login) in the
    /// same transaction; returns the new key.
    /// [`RepoError::ForeignKeyViolation`] if the user is gone.
    pub async fn create(
        &self,
        user: &UserId,
        user_agent: Option<String>,
        ttl: Duration,
        replacing: Option<SessionId>,
    ) -> Result<SessionKey, RepoError> {
        let key = SessionKey::generate()?;
        let now = self.clock.now();
        let new = NewSession {
            id: session_id(key.expose()),
            user_id: user.clone(),
            state: "{}".to_owned(),
            created_at: now.naive_utc(),
            last_seen_at: now.naive_utc(),
            expires_at: expiry(now, ttl),
            user_agent,
            public_id: self.ids.new_id().into(),
        };
        self.db
            .write(move |conn| {
                if let Some(old) = replacing {
                    SessionRepository::delete(conn, &old)?;
                }
                SessionRepository::create(conn, &new)
            })
            .await?;
        Ok(key)
    }

    /// Deletes the session with this stored id (logout); `false` if there
    /// was none.
    pub async fn end(&self, id: &SessionId) -> Result<bool, RepoError> {
        let id = id.clone();
        self.db
            .write(move |conn| SessionRepository::delete(conn, &id))
            .await
    }

    /// The session with this key if it exists, has not expired and its user
    /// is active. Records the visit in `last_seen_at` at most once per
    /// [`TOUCH_INTERVAL`], so most loads are a single read.
    pub async fn load(&self, key: &str) -> Result<Option<LoadedSession>, RepoError> {
        let id = session_id(key);
        let now = self.clock.now();
        let lookup = id.clone();
        let Some((session, user)) = self
            .db
            .read(move |conn| {
                SessionRepository::get_valid_for_active_user(conn, &lookup, now.naive_utc())
                    .optional()
            })
            .await?
        else {
            return Ok(None);
        };
        let stale = chrono::TimeDelta::from_std(TOUCH_INTERVAL).unwrap_or(chrono::TimeDelta::MAX);
        if now.naive_utc() - session.last_seen_at >= stale {
            let touch = id.clone();
            let touched = self
                .db
                .write(move |conn| SessionRepository::touch(conn, &touch, now.naive_utc()))
                .await;
            if let Err(err) = touched.optional() {
                // Last-seen is informational: never fail a request over it.
                tracing::warn!(error = %err, "could not record session activity");
            }
        }
        Ok(Some(LoadedSession {
            id,
            user: user.into(),
            state: session.state,
        }))
    }

    /// Replaces a session's state and sets its expiry `ttl` from now;
    /// `false` if the session is gone.
    pub async fn update(&self, key: &str, state: String, ttl: Duration) -> Result<bool, RepoError> {
        let now = self.clock.now();
        self.change(
            key,
            SessionUpdate {
                state: Some(state),
                last_seen_at: Some(now.naive_utc()),
                expires_at: Some(expiry(now, ttl)),
            },
        )
        .await
    }

    /// Sets a session's expiry `ttl` from now; `false` if it is gone.
    pub async fn update_ttl(&self, key: &str, ttl: Duration) -> Result<bool, RepoError> {
        let now = self.clock.now();
        self.change(
            key,
            SessionUpdate {
                expires_at: Some(expiry(now, ttl)),
                ..SessionUpdate::default()
            },
        )
        .await
    }

    async fn change(&self, key: &str, changes: SessionUpdate) -> Result<bool, RepoError> {
        let id = session_id(key);
        self.db
            .write(move |conn| SessionRepository::update(conn, &id, &changes).optional())
            .await
            .map(|updated| updated.is_some())
    }

    /// Deletes the session with this key; `false` if there was none.
    pub async fn delete(&self, key: &str) -> Result<bool, RepoError> {
        self.end(&session_id(key)).await
    }
}

#[cfg(test)]
mod tests;
