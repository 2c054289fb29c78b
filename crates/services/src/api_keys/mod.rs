//! Personal API keys: [`ApiKeyService`].
//!
//! - create: returns the whole key once; only the SHA-256 of its secret is
//!   stored;
//! - list: the caller's active keys (neither revoked nor expired), without
//!   secrets;
//! - revoke: the key stops working at once; someone else's key is
//!   [`AuthError::NotFound`], never a refusal that would confirm it exists;
//! - authenticate: one read (the key joined with its user); a key that is
//!   unknown, malformed, wrong, revoked, expired, or whose user is disabled
//!   is [`AuthError::Unauthenticated`]. `last_used_at` is written at most
//!   once a minute per key, so key-authenticated reads stay read-only in the
//!   common case.

mod key;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use promptyard_repositories::{
    ApiKey, ApiKeyId, ApiKeyRepository, Db, NewApiKey, OptionalExt, RepoError, UserId,
};

use crate::limits::{KeyGrant, KeyLimits, LlmCaller};
use crate::providers::ProviderRegistry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use key::{
    FullKey, KEY_PREFIX, MalformedKey, PUBLIC_ID_LEN, PresentedKey, SECRET_BYTES, display_prefix,
};

use crate::auth::{AuthError, AuthUser};
use crate::clock::Clock;
use crate::ids::IdGenerator;

/// Longest key name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest lifetime a key can be given, in days.
pub const MAX_EXPIRES_IN_DAYS: i64 = 3650;
/// How often `last_used_at` is written at most, per key.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// A key as its owner sees it in a list: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    #[schema(value_type = String)]
    pub id: ApiKeyId,
    #[schema(example = "laptop")]
    pub name: String,
    /// The non-secret start of the key (`pyk_` and its public id), to
    /// recognise it by.
    #[schema(example = "pyk_01JD3X8K4M2Q")]
    pub prefix: String,
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// `null` for a key that never expires.
    #[serde(with = "crate::rfc3339::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key last authenticated a request (to the minute), or `null`.
    #[serde(with = "crate::rfc3339::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// What the key may spend.
    pub limits: KeyLimits,
    /// Tokens used in the current budget period (0 without a budget).
    #[schema(example = 0)]
    pub budget_used: u64,
}

impl ApiKeyInfo {
    /// The stored `key` as its owner sees it at `now`.
    fn at(key: ApiKey, now: DateTime<Utc>) -> Result<Self, AuthError> {
        let limits = KeyLimits::from_columns(&key.limits).map_err(AuthError::Unexpected)?;
        Ok(Self {
            prefix: display_prefix(&key.public_id),
            budget_used: limits.budget_used(&key.meter, now),
            limits,
            id: key.id,
            name: key.name,
            created_at: key.created_at.and_utc(),
            expires_at: key.expires_at.map(|t| t.and_utc()),
            last_used_at: key.last_used_at.map(|t| t.and_utc()),
        })
    }
}

/// A key's name: trimmed, 1 to [`NAME_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// `text` trimmed, if that is 1 to [`NAME_MAX_CHARS`] characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim();
        if name.is_empty() {
            Err("must not be empty".to_owned())
        } else if name.chars().count() > NAME_MAX_CHARS {
            Err(format!("must be at most {NAME_MAX_CHARS} characters"))
        } else {
            Ok(Self(name.to_owned()))
        }
    }
}

/// How long a key lives: a whole number of days from 1 to
/// [`MAX_EXPIRES_IN_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiresInDays(i64);

impl ExpiresInDays {
    /// `days` (a JSON number arrives as `f64`), if it is a whole number
    /// from 1 to [`MAX_EXPIRES_IN_DAYS`].
    pub fn parse(days: f64) -> Result<Self, String> {
        #[allow(clippy::cast_precision_loss)]
        let max = MAX_EXPIRES_IN_DAYS as f64;
        if days.fract() == 0.0 && (1.0..=max).contains(&days) {
            // In range, whole: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            Ok(Self(days as i64))
        } else {
            Err(format!(
                "must be a whole number from 1 to {MAX_EXPIRES_IN_DAYS}"
            ))
        }
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub name: KeyName,
    /// `None`: it never expires.
    pub expires_in_days: Option<ExpiresInDays>,
    /// Its limits (checked by [`ApiKeyService::create`]: models must exist).
    pub limits: KeyLimits,
}

/// A key just created: the whole key (shown once) and its description.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: FullKey,
    pub info: ApiKeyInfo,
}

/// Who a key authenticates, and what the key may spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCaller {
    pub user: AuthUser,
    pub key_id: ApiKeyId,
    pub limits: Arc<KeyLimits>,
}

impl KeyCaller {
    /// The caller of an LLM request made with this key: its limits apply.
    pub fn llm_caller(&self) -> LlmCaller {
        LlmCaller {
            user: self.user.id.clone(),
            key: Some(KeyGrant {
                key_id: self.key_id.clone(),
                limits: Arc::clone(&self.limits),
            }),
        }
    }
}

/// Creates, lists, revokes and checks API keys.
#[derive(Debug, Clone)]
pub struct ApiKeyService {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// The models a key's allow-list may name.
    providers: Arc<ProviderRegistry>,
}

/// Whether creating a key failed only because its random public id was
/// taken (drawn again), not for any other unique key (an error).
fn is_public_id_clash(err: &RepoError) -> bool {
    matches!(err, RepoError::UniqueViolation { constraint } if constraint == "api_keys.public_id")
}

impl ApiKeyService {
    /// Keys on `db`, timed by `clock`, with ids from `ids`, whose
    /// allow-lists name models of `providers`.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        providers: Arc<ProviderRegistry>,
    ) -> Self {
        Self {
            db,
            clock,
            ids,
            providers,
        }
    }

    /// `limits` if every model it names exists, else
    /// [`AuthError::Validation`] naming each one that does not.
    fn checked(&self, limits: KeyLimits) -> Result<KeyLimits, AuthError> {
        limits
            .check(|model| self.providers.provider(model).is_some())
            .map_err(AuthError::Validation)
    }

    /// Creates a key for `user`; returns it whole, this once.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn create(&self, user: &UserId, new: NewKey) -> Result<CreatedApiKey, AuthError> {
        let limits = self.checked(new.limits)?.to_columns();
        let (name, expires_in_days) = (new.name.0, new.expires_in_days.map(|d| d.0));
        let now = self.clock.now();
        // 60 random bits make a clash of public ids all but impossible; if
        // one happens, draw again.
        for _ in 0..3 {
            let key = FullKey::generate().map_err(|e| AuthError::Unexpected(Box::new(e)))?;
            let row = NewApiKey {
                id: self.ids.new_id().into(),
                user_id: user.clone(),
                name: name.clone(),
                public_id: key.public_id().to_owned(),
                secret_hash: key.secret_hash().to_vec(),
                created_at: now.naive_utc(),
                expires_at: expires_in_days.map(|days| (now + TimeDelta::days(days)).naive_utc()),
                limits: limits.clone(),
            };
            match self
                .db
                .write(move |conn| ApiKeyRepository::create(conn, &row))
                .await
            {
                Ok(row) => {
                    tracing::info!(event = "api_key_created", user_id = %user, key_id = %row.id, "API key created");
                    return Ok(CreatedApiKey {
                        key,
                        info: ApiKeyInfo::at(row, now)?,
                    });
                }
                Err(err) if is_public_id_clash(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(AuthError::Unexpected(
            "three public id clashes in a row".into(),
        ))
    }

    /// The user's active keys, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    pub async fn list(&self, user: &UserId) -> Result<Vec<ApiKeyInfo>, AuthError> {
        let now = self.clock.now();
        let user = user.clone();
        let keys = self
            .db
            .read(move |conn| ApiKeyRepository::list_active_for_user(conn, &user, now.naive_utc()))
            .await?;
        keys.into_iter()
            .map(|key| ApiKeyInfo::at(key, now))
            .collect()
    }

    /// Replaces the limits of one of the user's active keys (a field left
    /// `None` is no limit); returns the key. [`AuthError::NotFound`] if it
    /// is not theirs, does not exist, or is revoked or expired;
    /// [`AuthError::Validation`] for a model that does not exist. What the
    /// key has spent in the current minute and period still counts.
    #[tracing::instrument(skip_all, fields(user_id = %user, key_id = %key))]
    pub async fn set_limits(
        &self,
        user: &UserId,
        key: &ApiKeyId,
        limits: KeyLimits,
    ) -> Result<ApiKeyInfo, AuthError> {
        let columns = self.checked(limits)?.to_columns();
        let now = self.clock.now();
        let (owner, id) = (user.clone(), key.clone());
        let row = self
            .db
            .write(move |conn| {
                ApiKeyRepository::set_limits(conn, &owner, &id, now.naive_utc(), &columns)
            })
            .await?;
        tracing::info!(event = "api_key_limits_set", user_id = %user, key_id = %key, "API key limits set");
        ApiKeyInfo::at(row, now)
    }

    /// Revokes one of the user's keys; [`AuthError::NotFound`] if it is not
    /// theirs, does not exist, or is revoked already.
    #[tracing::instrument(skip_all, fields(user_id = %user, key_id = %key))]
    pub async fn revoke(&self, user: &UserId, key: &ApiKeyId) -> Result<(), AuthError> {
        let now = self.clock.now().naive_utc();
        let (owner, id) = (user.clone(), key.clone());
        self.db
            .write(move |conn| ApiKeyRepository::revoke(conn, &owner, &id, now))
            .await?;
        tracing::info!(event = "api_key_revoked", user_id = %user, key_id = %key, "API key revoked");
        Ok(())
    }

    /// Who the key `raw` belongs to, if it is a live key of an active user.
    pub async fn authenticate(&self, raw: &str) -> Result<KeyCaller, AuthError> {
        let presented = PresentedKey::parse(raw).map_err(|_| AuthError::Unauthenticated)?;
        let now = self.clock.now();
        let public_id = presented.public_id().to_owned();
        let Some((key, user)) = self
            .db
            .read(move |conn| {
                ApiKeyRepository::get_with_user_by_public_id(conn, &public_id).optional()
            })
            .await?
        else {
            return Err(AuthError::Unauthenticated);
        };
        let live = presented.matches(&key.secret_hash)
            && key.revoked_at.is_none()
            && key.expires_at.is_none_or(|at| at > now.naive_utc())
            && user.is_active;
        if !live {
            return Err(AuthError::Unauthenticated);
        }
        let resolution = TimeDelta::from_std(LAST_USED_RESOLUTION).unwrap_or(TimeDelta::MAX);
        let not_before = now.naive_utc() - resolution;
        if key.last_used_at.is_none_or(|at| at <= not_before) {
            let id = key.id.clone();
            let touched = self
                .db
                .write(move |conn| ApiKeyRepository::touch(conn, &id, now.naive_utc(), not_before))
                .await;
            if let Err(err) = touched {
                // Informational: never fail a request over it.
                tracing::warn!(error = %err, "could not record API key use");
            }
        }
        let limits = KeyLimits::from_columns(&key.limits).map_err(AuthError::Unexpected)?;
        Ok(KeyCaller {
            user: user.into(),
            key_id: key.id,
            limits: Arc::new(limits),
        })
    }
}

#[cfg(test)]
mod tests;
