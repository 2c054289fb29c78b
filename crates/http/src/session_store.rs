//! [`DbSessionStore`]: actix-session's `SessionStore` on the `sessions`
//! table, through [`SessionService`].
//!
//! Every request that carries a `session_id` cookie costs one indexed read:
//! the session joined with its user, refused if expired or if the user is
//! disabled. The state handed to the handlers then holds the user as of now
//! (`user`) and the session's id (`_sid`).
//!
//! All writes happen in the handlers, through the services, where a failure
//! becomes a proper answer (503, 500 problem+json). The middleware, by
//! contrast, turns any store error into an opaque, empty 500. So:
//! - login creates the row itself (`SessionService::create`) and puts the
//!   new key in the state under `_key`; `save` only hands that key to the
//!   middleware, which signs it into the cookie;
//! - logout deletes the row itself (`SessionService::end`) and then purges
//!   the session, so `delete` has nothing left to do;
//! - a failed `load` is not an error for the middleware either: the state
//!   carries `_failure`, and the authentication extractors answer 503.
//!
//! TTL extension is `OnStateChanges`, so an ordinary request never writes;
//! `last_seen_at` is coalesced to one write per minute by the service.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use promptyard_services::SessionService;

/// State key: the signed-in user (an [`AuthUser`](promptyard_services::AuthUser)), filled in by `load`.
pub(crate) const USER: &str = "user";
/// State key: the session's stored id, filled in by `load`.
pub(crate) const SESSION_ID: &str = "_sid";
/// State key: the key of a session the handler just created.
pub(crate) const NEW_KEY: &str = "_key";
/// State key: why the session could not be loaded (`unavailable` or
/// `unexpected`).
pub(crate) const FAILURE: &str = "_failure";

const DERIVED: [&str; 4] = [USER, SESSION_ID, NEW_KEY, FAILURE];

/// The session store on the `sessions` table.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    sessions: SessionService,
}

impl DbSessionStore {
    /// A store over these sessions.
    pub fn new(sessions: SessionService) -> Self {
        Self { sessions }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn std_duration(ttl: &Duration) -> std::time::Duration {
    std::time::Duration::try_from(*ttl).unwrap_or_default()
}

impl SessionStore for DbSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        match self.sessions.load(session_key.as_ref()).await {
            Ok(Some(loaded)) => {
                let mut state: HashMap<String, String> =
                    serde_json::from_str(&loaded.state).unwrap_or_default();
                state.insert(USER.to_owned(), to_json(&loaded.user));
                state.insert(SESSION_ID.to_owned(), to_json(&loaded.id));
                Ok(Some(state))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                let failure = if err.is_unavailable() {
                    "unavailable"
                } else {
                    tracing::error!(error = %crate::error::cause_chain(&err), "session load failed");
                    "unexpected"
                };
                Ok(Some(HashMap::from([(
                    FAILURE.to_owned(),
                    to_json(&failure),
                )])))
            }
        }
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        _ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = session_state
            .get(NEW_KEY)
            .and_then(|json| serde_json::from_str::<String>(json).ok())
            .ok_or_else(|| {
                SaveError::Other(anyhow::anyhow!(
                    "session state saved without a session started by the service"
                ))
            })?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        mut session_state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        for key in DERIVED {
            session_state.remove(key);
        }
        self.sessions
            .update(
                session_key.as_ref(),
                to_json(&session_state),
                std_duration(ttl),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        Ok(session_key)
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        self.sessions
            .update_ttl(session_key.as_ref(), std_duration(ttl))
            .await?;
        Ok(())
    }

    /// Nothing to do: the handlers end sessions through the service before
    /// purging them (see the module docs).
    async fn delete(&self, _session_key: &SessionKey) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
