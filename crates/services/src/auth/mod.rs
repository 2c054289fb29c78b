//! Accounts and logins: [`AuthService`].
//!
//! Rules (the contract's Auth section):
//! - emails are trimmed, lower-cased, unique case-insensitively; passwords
//!   are 8 to 1024 characters, stored only as Argon2id PHC strings;
//! - a login answers an unknown email and a wrong password identically, in
//!   result and in time (an unknown email is verified against a dummy hash);
//! - a disabled account's correct password gets [`AuthError::AccountDisabled`];
//! - brute force: after `max_failed_logins` failures for one email (whether
//!   or not it has an account) within `failed_login_window`, every attempt
//!   for that email gets [`AuthError::RateLimited`] until the window ends,
//!   even with the right password; a successful login clears the count. The
//!   count is a row of `login_failures`, so it holds across every server
//!   process on the same database. Each attempt is counted *before* its
//!   password is checked, by one upsert that returns the new count, so of
//!   any number of simultaneous attempts no more than the remaining
//!   allowance are checked; an attempt that was not a failure (a disabled
//!   account's right password, a busy hasher) gives its count back;
//! - a wrong `current_password` on a password change counts as a failed
//!   login of the account's email, and is refused with
//!   [`AuthError::RateLimited`] while that email is limited;
//! - a password change revokes every other session of the user;
//! - security events (failed logins, lockouts, password changes) are logged
//!   with an `event` field and the user id where known, never a password.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use promptyard_repositories::{
    BoxError, Db, DbConn, LoginFailureRepository, NewUser, RepoError, SessionRepository, UserId,
    UserRepository,
};

use crate::clock::Clock;
use crate::credentials::{Email, Password};
use crate::ids::IdGenerator;
use crate::password::{HashError, PasswordHasher};
use crate::validation::FieldError;

mod account;
mod login;
mod views;

pub use account::PasswordChange;
pub use login::Credentials;
pub use views::{AuthUser, SessionInfo};

/// The knobs of [`AuthService`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long a session lives after login.
    pub session_ttl: Duration,
    /// Failed logins per email that trigger the limit.
    pub max_failed_logins: u32,
    /// The window those failures are counted in.
    pub failed_login_window: Duration,
}

impl Default for AuthConfig {
    /// 7-day sessions; 10 failures in 15 minutes.
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            max_failed_logins: 10,
            failed_login_window: Duration::from_secs(15 * 60),
        }
    }
}

/// What can go wrong in [`AuthService`].
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Input that breaks a rule, field by field.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// Registration with an email that has an account.
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// No valid credential: an unknown, malformed, revoked or expired API
    /// key, or one whose user is disabled.
    #[error("authentication required")]
    Unauthenticated,
    /// The right password of a disabled account.
    #[error("account disabled")]
    AccountDisabled,
    /// Too many failed logins for this email; try again after `retry_after`.
    #[error("too many failed logins")]
    RateLimited { retry_after: Duration },
    /// The password hasher is saturated (a storm of logins); nothing was
    /// checked or counted. Try again after `retry_after`.
    #[error("the password hasher is busy")]
    Busy { retry_after: Duration },
    /// No such resource for this user.
    #[error("not found")]
    NotFound,
    /// The database cannot serve the request now; retry later.
    #[error("database unavailable")]
    Unavailable(#[source] RepoError),
    /// A bug or broken invariant; the source chain says what.
    #[error("unexpected error")]
    Unexpected(#[source] BoxError),
}

from_repo_error!(AuthError);

impl From<HashError> for AuthError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy { retry_after } => Self::Busy { retry_after },
            failed @ HashError::Failed(_) => Self::Unexpected(Box::new(failed)),
        }
    }
}

/// Registration, login, password changes, sessions and account status.
#[derive(Debug, Clone)]
pub struct AuthService {
    db: Db,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: AuthConfig,
}

pub(super) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl AuthService {
    /// The service over `db`, with its collaborators.
    pub fn new(
        db: Db,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        config: AuthConfig,
    ) -> Self {
        Self {
            db,
            hasher,
            clock,
            ids,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Sign-ins waiting for a password hashing worker now.
    pub fn hashes_queued(&self) -> usize {
        self.hasher.queued()
    }

    /// Creates an account. [`AuthError::Validation`] names every bad field;
    /// [`AuthError::EmailTaken`] if the email has an account in any case.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, credentials: Credentials<'_>) -> Result<AuthUser, AuthError> {
        let Credentials { email, password } = credentials;
        let email = Email::parse(email).map_err(|m| FieldError::new("email", m));
        let password = Password::parse(password).map_err(|m| FieldError::new("password", m));
        let (email, password) = match (email, password) {
            (Ok(email), Ok(password)) => (email, password),
            (email, password) => {
                let errors = [email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                return Err(AuthError::Validation(errors));
            }
        };
        let password_hash = self.hasher.hash(&password).await?;
        let now = self.clock.now().naive_utc();
        let new = NewUser {
            id: self.ids.new_id().into(),
            email: email.as_str().to_owned(),
            password_hash,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        match self
            .db
            .write(move |conn| UserRepository::create(conn, &new))
            .await
        {
            Ok(user) => Ok(user.into()),
            Err(RepoError::UniqueViolation { constraint }) if constraint == "users.email" => {
                Err(AuthError::EmailTaken)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The user with this id, if the account exists.
    pub async fn user(&self, user_id: &UserId) -> Result<AuthUser, AuthError> {
        let id = user_id.clone();
        self.db
            .read(move |conn| UserRepository::get_by_id(conn, &id))
            .await
            .map(AuthUser::from)
            .map_err(AuthError::from)
    }

    /// Enables or disables the account with this email (the CLI's
    /// `user enable|disable`). Disabling also deletes every session of the
    /// user, so they stop working at once.
    pub async fn set_active(&self, email: &str, active: bool) -> Result<AuthUser, AuthError> {
        let email = Email::parse(email)
            .map_err(|m| AuthError::Validation(vec![FieldError::new("email", m)]))?;
        let now = self.clock.now().naive_utc();
        let user = self
            .db
            .write(move |conn| {
                let user = UserRepository::get_by_email(conn, email.as_str())?;
                let user = UserRepository::set_active(conn, &user.id, active, now)?;
                if !active {
                    SessionRepository::delete_all_for_user(conn, &user.id)?;
                }
                Ok::<_, AuthError>(user)
            })
            .await
            .map(AuthUser::from)?;
        let event = if active {
            "user_enabled"
        } else {
            "user_disabled"
        };
        tracing::info!(event, user_id = %user.id, "account {}", if active { "enabled" } else { "disabled" });
        Ok(user)
    }

    /// Deletes expired sessions and closed login-failure windows, in batches
    /// of `batch` rows per write so the writer is never held for long.
    /// Returns how many of each were deleted.
    pub async fn purge_expired(&self, batch: i64) -> Result<(usize, usize), AuthError> {
        let now = self.clock.now().naive_utc();
        let cutoff = now - delta(self.config.failed_login_window);
        let sessions = self
            .in_batches(batch, move |conn| {
                SessionRepository::delete_expired(conn, now, batch)
            })
            .await?;
        let failures = self
            .in_batches(batch, move |conn| {
                LoginFailureRepository::delete_expired(conn, cutoff, batch)
            })
            .await?;
        Ok((sessions, failures))
    }

    /// Runs `delete` (which deletes at most `batch` rows) in a write of its
    /// own until it deletes fewer; returns the total.
    async fn in_batches<F>(&self, batch: i64, delete: F) -> Result<usize, AuthError>
    where
        F: Fn(&mut DbConn) -> Result<usize, RepoError> + Copy + Send + 'static,
    {
        let mut total = 0;
        loop {
            let n = self.db.write(delete).await?;
            total += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < batch {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests;
