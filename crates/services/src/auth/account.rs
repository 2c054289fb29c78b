//! An account's own business: its password, its sessions.

use promptyard_repositories::{
    SessionId, SessionPublicId, SessionRepository, UserId, UserRepository,
};

use super::{AuthError, AuthService, SessionInfo};
use crate::credentials::{PASSWORD_MAX_CHARS, Password};
use crate::validation::FieldError;

/// A password change, as its owner typed it.
#[derive(Clone, Copy)]
pub struct PasswordChange<'a> {
    pub current_password: &'a str,
    pub new_password: &'a str,
}

impl std::fmt::Debug for PasswordChange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange([redacted])")
    }
}

impl AuthService {
    /// Changes a user's password after checking the current one, and revokes
    /// every session of the user except `keep` (the caller's). Returns how
    /// many sessions were revoked.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn change_password(
        &self,
        user_id: &UserId,
        keep: &SessionId,
        change: PasswordChange<'_>,
    ) -> Result<usize, AuthError> {
        let PasswordChange {
            current_password,
            new_password,
        } = change;
        let new_password = Password::parse(new_password)
            .map_err(|m| AuthError::Validation(vec![FieldError::new("new_password", m)]))?;
        let id = user_id.clone();
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
        let keep = keep.clone();
        let revoked = self
            .db
            .write(move |conn| {
                UserRepository::set_password_hash(conn, &user.id, &hash, now)?;
                SessionRepository::delete_all_for_user_except(conn, &user.id, &keep)
            })
            .await?;
        tracing::info!(event = "password_changed", user_id = %user_id, revoked, "password changed");
        Ok(revoked)
    }

    /// The user's live sessions, newest first; `current` is marked.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn list_sessions(
        &self,
        user_id: &UserId,
        current: &SessionId,
    ) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.clock.now().naive_utc();
        let id = user_id.clone();
        let sessions = self
            .db
            .read(move |conn| SessionRepository::list_valid_for_user(conn, &id, now))
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionInfo {
                current: s.id == *current,
                id: s.public_id,
                created_at: s.created_at.and_utc(),
                expires_at: s.expires_at.and_utc(),
                last_seen_at: s.last_seen_at.and_utc(),
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Revokes one of the user's sessions, named by its public id (the
    /// `id` of [`SessionInfo`]); returns whether it was `current` (the
    /// caller's own). [`AuthError::NotFound`] if it is not theirs or does
    /// not exist.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn revoke_session(
        &self,
        user_id: &UserId,
        public_id: &SessionPublicId,
        current: &SessionId,
    ) -> Result<bool, AuthError> {
        let (user, public_id) = (user_id.clone(), public_id.clone());
        let revoked = self
            .db
            .write(move |conn| SessionRepository::delete_for_user(conn, &user, &public_id))
            .await
            .map_err(AuthError::from)?;
        tracing::info!(event = "session_revoked", user_id = %user_id, "session revoked");
        Ok(revoked == *current)
    }
}
