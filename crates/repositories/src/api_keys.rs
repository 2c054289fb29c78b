//! The `api_keys` table.

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use promptyard_db_models::DbConn;
use promptyard_db_models::ids::{ApiKeyId, UserId};
use promptyard_db_models::models::{ApiKey, KeyLimitColumns, NewApiKey, Timestamp, User};
use promptyard_db_models::schema::{api_keys, users};

use crate::backend::{cached_update, per_backend};
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

    /// The key with this id, whatever its state. [`RepoError::NotFound`] if
    /// there is none.
    pub fn get(conn: &mut DbConn, id: &ApiKeyId) -> Result<ApiKey, RepoError> {
        api_keys::table.find(id).select_one(conn)
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

    /// Replaces the limits of one of the user's active keys (neither revoked
    /// nor expired at `now`) and returns the key as it now stands; its
    /// meters are kept. [`RepoError::NotFound`] if there is no such key.
    ///
    /// Two statements: run it inside `Db::write`, which makes them one
    /// transaction.
    pub fn set_limits(
        conn: &mut DbConn,
        user_id: &UserId,
        id: &ApiKeyId,
        now: Timestamp,
        limits: &KeyLimitColumns,
    ) -> Result<ApiKey, RepoError> {
        found(
            diesel::update(
                api_keys::table
                    .filter(api_keys::id.eq(id))
                    .filter(api_keys::user_id.eq(user_id))
                    .filter(api_keys::revoked_at.is_null())
                    .filter(
                        api_keys::expires_at
                            .is_null()
                            .or(api_keys::expires_at.gt(now)),
                    ),
            )
            .set(limits)
            .execute(conn)?,
        )?;
        Self::get(conn, id)
    }

    /// Admits one request of `tokens` tokens on the key `id` if it fits
    /// every limit the row holds: its requests and tokens in the minute
    /// `window.minute`, and its budget in the period `window.period`
    /// (settled plus reserved). Admitted, the request and its tokens are
    /// added to the minute and the tokens to the period's reservations;
    /// a meter whose start is not the window's starts again from zero.
    /// Returns whether it was admitted.
    ///
    /// ONE statement, an `UPDATE` whose `WHERE` holds the limits: of any
    /// number of simultaneous requests, in this process or another, only
    /// those that fit are admitted.
    pub fn reserve(
        conn: &mut DbConn,
        id: &ApiKeyId,
        window: MeterWindow,
        tokens: i64,
    ) -> Result<bool, RepoError> {
        let (minute, period) = (window.minute, window.period);
        let requests = case_when(
            api_keys::minute_started_at.eq(minute),
            api_keys::minute_requests,
        )
        .otherwise(0.into_sql::<BigInt>());
        let minute_tokens = case_when(
            api_keys::minute_started_at.eq(minute),
            api_keys::minute_tokens,
        )
        .otherwise(0.into_sql::<BigInt>());
        let used = case_when(
            api_keys::period_started_at.eq(period),
            api_keys::period_used,
        )
        .otherwise(0.into_sql::<BigInt>());
        let reserved = case_when(
            api_keys::period_started_at.eq(period),
            api_keys::period_reserved,
        )
        .otherwise(0.into_sql::<BigInt>());
        let fits = api_keys::requests_per_minute
            .is_null()
            .or(requests.lt(api_keys::requests_per_minute.assume_not_null()))
            .and(
                api_keys::tokens_per_minute
                    .is_null()
                    .or((minute_tokens + tokens).le(api_keys::tokens_per_minute.assume_not_null())),
            )
            .and(
                api_keys::token_budget
                    .is_null()
                    .or((used + reserved + tokens).le(api_keys::token_budget.assume_not_null())),
            );
        let admitted = cached_update(
            api_keys::table,
            (
                api_keys::minute_requests.eq(requests + 1),
                api_keys::minute_tokens.eq(minute_tokens + tokens),
                api_keys::minute_started_at.eq(minute),
                api_keys::period_used.eq(used),
                api_keys::period_reserved.eq(reserved + tokens),
                api_keys::period_started_at.eq(period),
            ),
            api_keys::id.eq(id).and(fits),
        );
        let admitted = per_backend!(conn, |c| admitted.execute(c))?;
        Ok(admitted > 0)
    }

    /// Ends a request admitted by [`reserve`](Self::reserve) with `held`:
    /// with `Some(used)` tokens, its reservation is replaced by them (in
    /// its minute if that is still the current one, `now.minute`; in the
    /// current period `now.period` as settled use); with `None` (it failed
    /// or was cancelled) its request and tokens are given back. Meters
    /// never go below zero; a reservation whose minute or period has
    /// passed is gone with it.
    pub fn settle(
        conn: &mut DbConn,
        id: &ApiKeyId,
        held: &MeterHold,
        now: MeterWindow,
        used: Option<i64>,
    ) -> Result<(), RepoError> {
        let same_minute = held.window.minute == now.minute;
        let same_period = held.window.period == now.period;
        // What the reservation gives back, in this minute and this period.
        let minute_back = if same_minute { held.tokens } else { 0 };
        let period_back = if same_period { held.tokens } else { 0 };
        let request_back = i64::from(same_minute && used.is_none());
        let (minute_add, period_add) = match used {
            Some(used) if same_minute => (used, used),
            Some(used) => (0, used),
            None => (0, 0),
        };
        let in_minute = api_keys::minute_started_at.eq(now.minute);
        let in_period = api_keys::period_started_at.eq(now.period);
        let settle = cached_update(
            api_keys::table,
            (
                api_keys::minute_requests.eq(case_when(
                    in_minute.and(api_keys::minute_requests.ge(request_back)),
                    api_keys::minute_requests - request_back,
                )
                .otherwise(api_keys::minute_requests)),
                api_keys::minute_tokens.eq(case_when(
                    in_minute.and((api_keys::minute_tokens + minute_add).ge(minute_back)),
                    api_keys::minute_tokens + minute_add - minute_back,
                )
                .otherwise(
                    case_when(in_minute, 0.into_sql::<BigInt>()).otherwise(api_keys::minute_tokens),
                )),
                api_keys::period_used.eq(case_when(in_period, api_keys::period_used)
                    .otherwise(0.into_sql::<BigInt>())
                    + period_add),
                api_keys::period_reserved.eq(case_when(
                    in_period.and(api_keys::period_reserved.ge(period_back)),
                    api_keys::period_reserved - period_back,
                )
                .otherwise(0.into_sql::<BigInt>())),
                api_keys::period_started_at.eq(now.period),
            ),
            api_keys::id.eq(id),
        );
        per_backend!(conn, |c| settle.execute(c))?;
        Ok(())
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

/// The windows admission counts in: the current UTC minute and budget
/// period, by their starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterWindow {
    pub minute: Timestamp,
    pub period: Timestamp,
}

/// A reservation [`ApiKeyRepository::reserve`] admitted: its windows and
/// its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterHold {
    pub window: MeterWindow,
    pub tokens: i64,
}

#[cfg(test)]
mod tests;
