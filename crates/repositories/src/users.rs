//! The `users` table.

use diesel::prelude::*;
use promptyard_db_models::DbConn;
use promptyard_db_models::ids::UserId;
use promptyard_db_models::models::{NewUser, Timestamp, User};
use promptyard_db_models::schema::users;

use crate::error::{RepoError, Run as _, columns_of, found, insert_returning};

/// Queries on `users`. Every function takes the connection to run on, so a
/// service can compose several calls in one [`Db::write`](crate::Db::write)
/// transaction.
#[derive(Debug, Clone, Copy)]
pub struct UserRepository;

impl UserRepository {
    /// Inserts a user. Fails with [`RepoError::UniqueViolation`] (constraint
    /// `users.email`) if the email is taken in any letter case.
    pub fn create(conn: &mut DbConn, new: &NewUser) -> Result<User, RepoError> {
        insert_returning!(conn, users::table, new, User)
    }

    /// The user with this id, or [`RepoError::NotFound`].
    pub fn get_by_id(conn: &mut DbConn, id: &UserId) -> Result<User, RepoError> {
        users::table.find(id).select_one(conn)
    }

    /// The user with this email compared case-insensitively (the column is
    /// `COLLATE NOCASE`, so the lookup uses the unique index), or
    /// [`RepoError::NotFound`].
    pub fn get_by_email(conn: &mut DbConn, email: &str) -> Result<User, RepoError> {
        users::table.filter(users::email.eq(email)).select_one(conn)
    }

    /// Enables or disables a user; returns the updated row, or
    /// [`RepoError::NotFound`].
    pub fn set_active(
        conn: &mut DbConn,
        id: &UserId,
        is_active: bool,
        now: Timestamp,
    ) -> Result<User, RepoError> {
        diesel::update(users::table.find(id))
            .set((users::is_active.eq(is_active), users::updated_at.eq(now)))
            .returning(columns_of::<User>())
            .one(conn)
    }

    /// Replaces a user's password hash; returns the updated row, or
    /// [`RepoError::NotFound`].
    pub fn set_password_hash(
        conn: &mut DbConn,
        id: &UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User, RepoError> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(password_hash),
                users::updated_at.eq(now),
            ))
            .returning(columns_of::<User>())
            .one(conn)
    }

    /// Deletes a user and, through `ON DELETE CASCADE`, everything they own.
    /// [`RepoError::NotFound`] if there was no such user.
    pub fn delete(conn: &mut DbConn, id: &UserId) -> Result<(), RepoError> {
        found(diesel::delete(users::table.find(id)).execute(conn)?)
    }

    /// How many users there are.
    pub fn count(conn: &mut DbConn) -> Result<i64, RepoError> {
        users::table.count().one(conn)
    }
}

#[cfg(test)]
mod tests;
