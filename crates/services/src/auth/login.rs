//! Logins, and the brute-force limit they and password changes share.

use std::time::Duration;

use chrono::{DateTime, Utc};
use promptyard_repositories::{
    LoginFailure, LoginFailureRepository, OptionalExt, UserId, UserRepository,
};

use super::{AuthError, AuthService, AuthUser, delta};
use crate::credentials::{Email, PASSWORD_MAX_CHARS};

/// An email and a password, as someone typed them (registration, login).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl AuthService {
    /// Checks an email and password. See the module docs for the rules.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, credentials: Credentials<'_>) -> Result<AuthUser, AuthError> {
        let Credentials { email, password } = credentials;
        let key = Email::login_key(email);
        if let Some(key) = &key {
            self.reserve_attempt(key, None).await?;
        }
        let checked = self.check_login(email, password).await;
        let Some(key) = key else {
            return checked;
        };
        match &checked {
            // Counted: a failure (logged where it was found).
            Err(AuthError::InvalidCredentials) => {}
            Ok(user) => {
                self.db
                    .write(move |conn| LoginFailureRepository::clear(conn, &key))
                    .await?;
                tracing::info!(event = "login", user_id = %user.id, "logged in");
            }
            // Not a failure (a disabled account's right password, a busy
            // hasher, storage trouble): the attempt is given back.
            Err(_) => {
                self.release_attempt(key).await;
            }
        }
        checked
    }

    /// The password check of a login whose attempt is counted.
    async fn check_login(&self, email: &str, password: &str) -> Result<AuthUser, AuthError> {
        let user = match Email::parse(email) {
            Ok(email) => {
                self.db
                    .read(move |conn| UserRepository::get_by_email(conn, email.as_str()).optional())
                    .await?
            }
            Err(_) => None,
        };
        let verified = match &user {
            Some(user) if password.chars().count() <= PASSWORD_MAX_CHARS => {
                self.hasher.verify(password, &user.password_hash).await?
            }
            _ => self.hasher.verify_dummy(password).await?,
        };
        match user {
            Some(user) if verified => {
                if user.is_active {
                    Ok(user.into())
                } else {
                    tracing::info!(event = "login_refused", user_id = %user.id, "login of a disabled account");
                    Err(AuthError::AccountDisabled)
                }
            }
            Some(user) => {
                tracing::info!(event = "login_failed", user_id = %user.id, "failed login: wrong password");
                Err(AuthError::InvalidCredentials)
            }
            None => {
                tracing::info!(event = "login_failed", "failed login: no such account");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Counts one attempt for the email `key` before its password is
    /// checked; [`AuthError::RateLimited`] if that goes over the limit.
    ///
    /// A refusal is logged with the account's id when the email has one
    /// (`user_id`, if the caller knows it; else one read to find it).
    pub(super) async fn reserve_attempt(
        &self,
        key: &str,
        user_id: Option<&UserId>,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let window = delta(self.config.failed_login_window);
        let owned = key.to_owned();
        let cap = i32::try_from(self.config.max_failed_logins)
            .unwrap_or(i32::MAX)
            .saturating_add(1);
        let counted = self
            .db
            .write(move |conn| {
                LoginFailureRepository::reserve(conn, &owned, now.naive_utc(), window, cap)
            })
            .await?;
        let Some(retry_after) = self.limited(&counted, now) else {
            return Ok(());
        };
        let user_id = match user_id {
            Some(id) => Some(id.clone()),
            None => {
                let email = key.to_owned();
                self.db
                    .read(move |conn| UserRepository::get_by_email(conn, &email).optional())
                    .await
                    .ok()
                    .flatten()
                    .map(|user| user.id)
            }
        };
        match user_id {
            Some(user_id) => tracing::warn!(
                event = "rate_limited",
                user_id = %user_id,
                failures = counted.failures,
                "too many failed logins for one email"
            ),
            None => tracing::warn!(
                event = "rate_limited",
                failures = counted.failures,
                "too many failed logins for one email (no such account)"
            ),
        }
        Err(AuthError::RateLimited { retry_after })
    }

    /// Gives back an attempt that was not a failure. Best effort: if the
    /// database fails now, the attempt stays counted (the safe side).
    pub(super) async fn release_attempt(&self, key: String) {
        if let Err(err) = self
            .db
            .write(move |conn| LoginFailureRepository::release(conn, &key))
            .await
        {
            tracing::warn!(error = %err, "cannot give back a login attempt");
        }
    }

    /// How long the count `counted` blocks attempts at `now`, if it does:
    /// when it is over the limit and its window is open.
    fn limited(&self, counted: &LoginFailure, now: DateTime<Utc>) -> Option<Duration> {
        let ends = counted.window_started_at.and_utc() + delta(self.config.failed_login_window);
        let over = u32::try_from(counted.failures).unwrap_or(0) > self.config.max_failed_logins;
        (over && ends > now).then(|| {
            let left = (ends - now).to_std().unwrap_or_default();
            // Whole seconds, rounded up: Retry-After must not invite a retry
            // that is still refused.
            Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))
        })
    }
}
