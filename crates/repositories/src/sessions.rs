//! The `sessions` table: server-side login sessions.
//!
//! A session is valid while `expires_at` is in the future; every lookup that
//! serves authentication goes through [`SessionRepository::get_valid`], so an
//! expired row is never honoured even before the purge job deletes it.

use diesel::dsl::{Eq, Filter};
use diesel::prelude::*;
use promptyard_db_models::DbConn;
use promptyard_db_models::ids::{SessionId, SessionPublicId, UserId};
use promptyard_db_models::models::{NewSession, Session, Timestamp, User};
use promptyard_db_models::schema::{sessions, users};

use crate::error::{RepoError, Run as _, columns_of, delete_at_or_before, insert_returning};

/// Queries on `sessions`. Ids are the SHA-256 of the session key, computed by
/// the caller.
#[derive(Debug, Clone, Copy)]
pub struct SessionRepository;

/// Columns to change on a session; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionUpdate {
    pub state: Option<String>,
    pub last_seen_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// The sessions of the user `user_id`.
fn of_user(user_id: &UserId) -> Filter<sessions::table, Eq<sessions::user_id, &UserId>> {
    sessions::table.filter(sessions::user_id.eq(user_id))
}

impl SessionRepository {
    /// Inserts a session. [`RepoError::ForeignKeyViolation`] if the user does
    /// not exist, [`RepoError::UniqueViolation`] if the id is taken.
    pub fn create(conn: &mut DbConn, new: &NewSession) -> Result<Session, RepoError> {
        insert_returning!(conn, sessions::table, new, Session)
    }

    /// The session with this id if it has not expired at `now`, else
    /// [`RepoError::NotFound`].
    pub fn get_valid(
        conn: &mut DbConn,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Session, RepoError> {
        sessions::table
            .find(id)
            .filter(sessions::expires_at.gt(now))
            .select_one(conn)
    }

    /// The session with this id and its user, if the session has not
    /// expired at `now` and the user is active, else [`RepoError::NotFound`]:
    /// the one query behind every cookie-authenticated request.
    pub fn get_valid_for_active_user(
        conn: &mut DbConn,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<(Session, User), RepoError> {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(id))
            .filter(sessions::expires_at.gt(now))
            .filter(users::is_active.eq(true))
            .select_one(conn)
    }

    /// The user's sessions that have not expired at `now`, newest first.
    pub fn list_valid_for_user(
        conn: &mut DbConn,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, RepoError> {
        of_user(user_id)
            .filter(sessions::expires_at.gt(now))
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .select_all(conn)
    }

    /// Records activity on a session: sets `last_seen_at`.
    /// [`RepoError::NotFound`] if the session is gone.
    pub fn touch(conn: &mut DbConn, id: &SessionId, now: Timestamp) -> Result<(), RepoError> {
        Self::update(
            conn,
            id,
            &SessionUpdate {
                last_seen_at: Some(now),
                ..SessionUpdate::default()
            },
        )
        .map(drop)
    }

    /// Changes the given columns of a session; returns the updated row, or
    /// [`RepoError::NotFound`]. An update with nothing to change returns the
    /// row as it is.
    pub fn update(
        conn: &mut DbConn,
        id: &SessionId,
        changes: &SessionUpdate,
    ) -> Result<Session, RepoError> {
        if changes == &SessionUpdate::default() {
            return sessions::table.find(id).select_one(conn);
        }
        diesel::update(sessions::table.find(id))
            .set(changes)
            .returning(columns_of::<Session>())
            .one(conn)
    }

    /// Deletes a session; returns whether it existed.
    pub fn delete(conn: &mut DbConn, id: &SessionId) -> Result<bool, RepoError> {
        let deleted = diesel::delete(sessions::table.find(id)).execute(conn)?;
        Ok(deleted > 0)
    }

    /// Deletes the session of this user whose public id is `public_id`, and
    /// returns its (stored) id; [`RepoError::NotFound`] if there is no such
    /// session or it belongs to someone else.
    pub fn delete_for_user(
        conn: &mut DbConn,
        user_id: &UserId,
        public_id: &SessionPublicId,
    ) -> Result<SessionId, RepoError> {
        diesel::delete(of_user(user_id).filter(sessions::public_id.eq(public_id)))
            .returning(sessions::id)
            .one::<SessionId>(conn)
    }

    /// Deletes every session of a user (a disabled account, say); returns
    /// how many.
    pub fn delete_all_for_user(conn: &mut DbConn, user_id: &UserId) -> Result<usize, RepoError> {
        diesel::delete(of_user(user_id)).run(conn)
    }

    /// Deletes every session of a user but one (the caller's own, after a
    /// password change); returns how many.
    pub fn delete_all_for_user_except(
        conn: &mut DbConn,
        user_id: &UserId,
        keep_id: &SessionId,
    ) -> Result<usize, RepoError> {
        diesel::delete(of_user(user_id).filter(sessions::id.ne(keep_id))).run(conn)
    }

    /// Deletes up to `limit` sessions that expired at or before `now` (in
    /// bounded batches, so a purge never holds the writer for long); returns
    /// how many.
    pub fn delete_expired(
        conn: &mut DbConn,
        now: Timestamp,
        limit: i64,
    ) -> Result<usize, RepoError> {
        delete_at_or_before!(conn, sessions, id, expires_at <= now, limit limit)
    }
}

#[cfg(test)]
mod tests;
