//! The `api_keys` table.

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamp as Timestamp_};
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
    /// added to the minute and the tokens to the period's reservations.
    /// Returns the windows it was counted in, or `None` if refused (then
    /// nothing changed).
    ///
    /// Windows never move backwards: a meter whose start is the window's or
    /// later (another process's clock, or a request queued a moment longer,
    /// got there first) is the current one and counts; an older one starts
    /// again from zero at the window's start. So the windows counted in are
    /// the stored ones when they are later than `window`: the statement
    /// returns them.
    ///
    /// ONE statement decides, an `UPDATE` whose `WHERE` holds the limits:
    /// of any number of simultaneous requests, in this process or another,
    /// only those that fit are admitted. Run it inside `Db::write`.
    pub fn reserve(
        conn: &mut DbConn,
        id: &ApiKeyId,
        window: MeterWindow,
        tokens: i64,
    ) -> Result<Option<MeterWindow>, RepoError> {
        let (minute, period) = (window.minute, window.period);
        let in_minute = api_keys::minute_started_at.ge(minute);
        let in_period = api_keys::period_started_at.ge(period);
        let requests =
            case_when(in_minute, api_keys::minute_requests).otherwise(0.into_sql::<BigInt>());
        let minute_tokens =
            case_when(in_minute, api_keys::minute_tokens).otherwise(0.into_sql::<BigInt>());
        let used = case_when(in_period, api_keys::period_used).otherwise(0.into_sql::<BigInt>());
        let reserved =
            case_when(in_period, api_keys::period_reserved).otherwise(0.into_sql::<BigInt>());
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
                api_keys::minute_started_at.eq(case_when(in_minute, api_keys::minute_started_at)
                    .otherwise(Some(minute).into_sql::<Nullable<Timestamp_>>())),
                api_keys::period_used.eq(used),
                api_keys::period_reserved.eq(reserved + tokens),
                api_keys::period_started_at.eq(case_when(in_period, api_keys::period_started_at)
                    .otherwise(Some(period).into_sql::<Nullable<Timestamp_>>())),
            ),
            api_keys::id.eq(id).and(fits),
        )
        .returning((api_keys::minute_started_at, api_keys::period_started_at));
        let counted_in: Option<(Option<Timestamp>, Option<Timestamp>)> =
            per_backend!(conn, |c| admitted.get_result(c).optional())?;
        Ok(counted_in.map(|(minute, period)| MeterWindow {
            minute: minute.unwrap_or(window.minute),
            period: period.unwrap_or(window.period),
        }))
    }

    /// Ends a request admitted by [`reserve`](Self::reserve) with `held`
    /// (the windows `reserve` returned), at `now`:
    /// - `Some(used)`: its reservation is replaced by the real usage: in its
    ///   minute, if the row still counts that minute, and in the current
    ///   period as settled use;
    /// - `None` (it failed before any answer, or was refused later): its
    ///   request and tokens are given back.
    ///
    /// A reservation is taken back only from the windows it was made in:
    /// once the row counts a later minute or period, that one is left
    /// alone (the old one went with its reservations). A period older than
    /// `now.period` starts again from zero; a later one (another clock)
    /// stays current. Meters never go below zero.
    pub fn settle(
        conn: &mut DbConn,
        id: &ApiKeyId,
        held: &MeterHold,
        now: MeterWindow,
        used: Option<i64>,
    ) -> Result<(), RepoError> {
        let back = held.tokens;
        let request_back = i64::from(used.is_none());
        let used = used.unwrap_or(0);
        let held_minute = api_keys::minute_started_at.eq(held.window.minute);
        let current = api_keys::period_started_at.ge(now.period);
        let held_period = current.and(api_keys::period_started_at.eq(held.window.period));
        let requests_left = api_keys::minute_requests - request_back;
        let tokens_left = api_keys::minute_tokens + used - back;
        let reserved_left = api_keys::period_reserved - back;
        let settle = cached_update(
            api_keys::table,
            (
                api_keys::minute_requests.eq(case_when(
                    held_minute.and(requests_left.ge(0)),
                    requests_left,
                )
                .otherwise(
                    case_when(held_minute, 0.into_sql::<BigInt>())
                        .otherwise(api_keys::minute_requests),
                )),
                api_keys::minute_tokens.eq(case_when(
                    held_minute.and(tokens_left.ge(0)),
                    tokens_left,
                )
                .otherwise(
                    case_when(held_minute, 0.into_sql::<BigInt>())
                        .otherwise(api_keys::minute_tokens),
                )),
                api_keys::period_used.eq(case_when(current, api_keys::period_used + used)
                    .otherwise(used.into_sql::<BigInt>())),
                api_keys::period_reserved.eq(case_when(
                    held_period.and(reserved_left.ge(0)),
                    reserved_left,
                )
                .otherwise(
                    case_when(held_period, 0.into_sql::<BigInt>())
                        .when(current, api_keys::period_reserved)
                        .otherwise(0.into_sql::<BigInt>()),
                )),
                api_keys::period_started_at.eq(case_when(current, api_keys::period_started_at)
                    .otherwise(Some(now.period).into_sql::<Nullable<Timestamp_>>())),
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
