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

use chrono::{DateTime, TimeDelta, Utc};
use promptyard_repositories::{
    BoxError, Db, LoginFailure, LoginFailureRepository, NewUser, OptionalExt, RepoError,
    SessionRepository, SqliteConnection, User, UserRepository,
};

use crate::clock::Clock;
use crate::credentials::{Email, PASSWORD_MAX_CHARS, Password};
use crate::ids::IdGenerator;
use crate::password::{HashError, PasswordHasher};
use crate::validation::FieldError;

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

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for AuthUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            is_active: user.is_active,
            created_at: user.created_at.and_utc(),
        }
    }
}

/// A session as its owner sees it in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its public id (a UUIDv7), never derived from its key.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// Whether this is the session asking.
    pub current: bool,
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

impl From<RepoError> for AuthError {
    fn from(err: RepoError) -> Self {
        match err {
            // The row the caller named is not there (or not theirs).
            RepoError::NotFound => Self::NotFound,
            RepoError::Unavailable { .. } => Self::Unavailable(err),
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

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

fn delta(d: Duration) -> TimeDelta {
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

    /// Creates an account. [`AuthError::Validation`] names every bad field;
    /// [`AuthError::EmailTaken`] if the email has an account in any case.
    pub async fn register(&self, email: &str, password: &str) -> Result<AuthUser, AuthError> {
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
            id: self.ids.new_id(),
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

    /// Checks an email and password. See the module docs for the rules.
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthUser, AuthError> {
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
    async fn reserve_attempt(&self, key: &str, user_id: Option<&str>) -> Result<(), AuthError> {
        let now = self.clock.now();
        let window = delta(self.config.failed_login_window);
        let owned = key.to_owned();
        let cap = i32::try_from(self.config.max_failed_logins)
            .unwrap_or(i32::MAX - 1)
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
            Some(id) => Some(id.to_owned()),
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
                user_id,
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
    async fn release_attempt(&self, key: String) {
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

    /// The user with this id, if the account exists.
    pub async fn user(&self, user_id: &str) -> Result<AuthUser, AuthError> {
        let id = user_id.to_owned();
        self.db
            .read(move |conn| UserRepository::get_by_id(conn, &id))
            .await
            .map(AuthUser::from)
            .map_err(AuthError::from)
    }

    /// Changes a user's password after checking the current one, and revokes
    /// every session of the user except `keep_session_id` (the caller's).
    /// Returns how many sessions were revoked.
    pub async fn change_password(
        &self,
        user_id: &str,
        keep_session_id: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<usize, AuthError> {
        let new_password = Password::parse(new_password)
            .map_err(|m| AuthError::Validation(vec![FieldError::new("new_password", m)]))?;
        let id = user_id.to_owned();
        let user = self
            .db
            .read(move |conn| UserRepository::get_by_id(conn, &id))
            .await?;
        // A wrong current password counts as a failed login of the
        // account's email: a session is no password-guessing oracle.
        let key = user.email.clone();
        self.reserve_attempt(&key, Some(&user.id)).await?;
        let verified = if current_password.chars().count() <= PASSWORD_MAX_CHARS {
            match self
                .hasher
                .verify(current_password, &user.password_hash)
                .await
            {
                Ok(verified) => verified,
                Err(err) => {
                    self.release_attempt(key).await;
                    return Err(err.into());
                }
            }
        } else {
            false
        };
        if !verified {
            tracing::info!(event = "password_change_failed", user_id = %user.id, "wrong current password");
            return Err(AuthError::InvalidCredentials);
        }
        self.release_attempt(key).await;
        let hash = self.hasher.hash(&new_password).await?;
        let now = self.clock.now().naive_utc();
        let keep = keep_session_id.to_owned();
        let revoked = self
            .db
            .write(move |conn| {
                UserRepository::set_password_hash(conn, &user.id, &hash, now)?;
                SessionRepository::delete_all_for_user_except(conn, &user.id, &keep)
            })
            .await?;
        tracing::info!(
            event = "password_changed",
            user_id,
            revoked,
            "password changed"
        );
        Ok(revoked)
    }

    /// The user's live sessions, newest first; `current_session_id` is
    /// marked `current`.
    pub async fn list_sessions(
        &self,
        user_id: &str,
        current_session_id: &str,
    ) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.clock.now().naive_utc();
        let id = user_id.to_owned();
        let sessions = self
            .db
            .read(move |conn| SessionRepository::list_valid_for_user(conn, &id, now))
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionInfo {
                current: s.id == current_session_id,
                id: s.public_id,
                created_at: s.created_at.and_utc(),
                expires_at: s.expires_at.and_utc(),
                last_seen_at: s.last_seen_at.and_utc(),
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Revokes one of the user's sessions, named by its public id (the
    /// `id` of [`SessionInfo`]); returns whether it was `current_session_id`
    /// (the caller's own). [`AuthError::NotFound`] if it is not theirs or
    /// does not exist.
    pub async fn revoke_session(
        &self,
        user_id: &str,
        public_id: &str,
        current_session_id: &str,
    ) -> Result<bool, AuthError> {
        let (user, public_id) = (user_id.to_owned(), public_id.to_owned());
        let revoked = self
            .db
            .write(move |conn| SessionRepository::delete_for_user(conn, &user, &public_id))
            .await
            .map_err(AuthError::from)?;
        tracing::info!(event = "session_revoked", user_id, "session revoked");
        Ok(revoked == current_session_id)
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
        F: Fn(&mut SqliteConnection) -> Result<usize, RepoError> + Copy + Send + 'static,
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
