//! The `api_keys` table.

use diesel::prelude::*;
use promptyard_db_models::DbConn;
use promptyard_db_models::ids::{ApiKeyId, UserId};
use promptyard_db_models::models::{ApiKey, NewApiKey, Timestamp, User};
use promptyard_db_models::schema::{api_keys, users};

use crate::error::{RepoError, Run as _, found, insert_returning};

/// Queries on `api_keys`.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyRepository;

impl ApiKeyRepository {
    /// Inserts a key. [`RepoError::UniqueViolation`] (`api_keys.public_id`)
    /// if the public id is taken, [`RepoError::ForeignKeyViolation`] if the
    /// user does not exist.
    pub fn create(conn: &mut DbConn, new: &NewApiKey) -> Result<ApiKey, RepoError> {
        insert_returning!(conn, api_keys::table, new, ApiKey)
    }

    /// The key with this public id and its user, whatever their state
    /// (revoked, expired, disabled): the one query behind every
    /// key-authenticated request. [`RepoError::NotFound`] if there is none.
    pub fn get_with_user_by_public_id(
        conn: &mut DbConn,
        public_id: &str,
    ) -> Result<(ApiKey, User), RepoError> {
        api_keys::table
            .inner_join(users::table)
            .filter(api_keys::public_id.eq(public_id))
            .select_one(conn)
    }

    /// The user's keys that are neither revoked nor expired at `now`,
    /// newest first.
    pub fn list_active_for_user(
        conn: &mut DbConn,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiKey>, RepoError> {
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null())
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            )
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .select_all(conn)
    }

    /// Revokes one of the user's keys at `now`. [`RepoError::NotFound`] if
    /// the key does not exist, is someone else's, or is revoked already.
    pub fn revoke(
        conn: &mut DbConn,
        user_id: &UserId,
        id: &ApiKeyId,
        now: Timestamp,
    ) -> Result<(), RepoError> {
        found(
            diesel::update(
                api_keys::table
                    .filter(api_keys::id.eq(id))
                    .filter(api_keys::user_id.eq(user_id))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)?,
        )
    }

    /// Records a use of the key at `now`, unless one was recorded after
    /// `not_before` already (so concurrent uses write once). Returns whether
    /// it wrote.
    pub fn touch(
        conn: &mut DbConn,
        id: &ApiKeyId,
        now: Timestamp,
        not_before: Timestamp,
    ) -> Result<bool, RepoError> {
        let touched = diesel::update(
            api_keys::table.filter(api_keys::id.eq(id)).filter(
                api_keys::last_used_at
                    .is_null()
                    .or(api_keys::last_used_at.le(not_before)),
            ),
        )
        .set(api_keys::last_used_at.eq(now))
        .execute(conn)?;
        Ok(touched > 0)
    }
}

#[cfg(test)]
mod tests;
