//! The one place where SQLite and PostgreSQL part ways.
//!
//! Repositories take a [`DbConn`](promptyard_db_models::DbConn) and write
//! each query once against diesel's `MultiBackend`. A statement that
//! `MultiBackend` cannot express (`ON CONFLICT`) is written once too, and
//! [`per_backend!`] builds it for each concrete connection.
//!
//! Why diesel's `MultiConnection` (measured; `docs/benchmarks.md`, "DbConn
//! (MultiConnection) against a bare SqliteConnection"):
//! - it costs about 1.5 µs per statement on SQLite (a cached point read
//!   1.8×, a committed insert 1.05–1.15×), a few percent of a request that
//!   reads once (`/auth/me` serves ~60,000/s here);
//! - the alternative without that cost, every repository body expanded
//!   once per backend by a macro (what `per_backend!` does for the one
//!   upsert), type-checks and compiles every query twice and makes every
//!   repository function a macro call; kept for the statements that need it;
//! - diesel-async's `AsyncPgConnection` (pure Rust) would make every
//!   repository async and SQLite go through `SyncConnectionWrapper`, which
//!   `Db` measured slower and which panics when a caller gives up on a
//!   current-thread runtime (`docs/benchmarks.md`, "`Db`: r2d2 + async
//!   semaphore vs deadpool"); sync diesel on libpq keeps one code path, and
//!   libpq is compiled in (`pq-sys`'s `bundled_without_openssl`), so no
//!   system library is needed.

/// Runs `$body` with `$c` bound to the concrete connection inside `$conn`
/// (a `&mut DbConn`): the body is written once and type-checked once per
/// backend.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            promptyard_db_models::DbConn::Sqlite($c) => $body,
            promptyard_db_models::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use per_backend;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use promptyard_db_models::DbConn;

/// The PostgreSQL advisory lock every write transaction takes
/// ([`write_transaction`]); any number, fixed for Promptyard.
pub const WRITE_LOCK: i64 = 0x7072_6f6d_7074;

/// The statement that takes [`WRITE_LOCK`] (built once, not per write).
const TAKE_WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(123636798025844)";

/// Runs `f` in a write transaction on `conn`, committed if `f` returns
/// `Ok`, rolled back if it returns `Err`; inside it, `conn.transaction(..)`
/// opens savepoints as usual.
///
/// Write transactions run one at a time, on either backend, so that a
/// closure that reads and then writes is atomic (no lost update), as
/// `Db::write` promises:
/// - SQLite: `BEGIN IMMEDIATE` takes the database's write lock up front;
/// - PostgreSQL: `BEGIN`, then the transaction-scoped advisory lock
///   [`WRITE_LOCK`], which every process on the database shares; it waits
///   at most the connection's `lock_timeout` (then the write is
///   [`Unavailable::Busy`](crate::Unavailable::Busy)). Reads never take it.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            let locked = c.batch_execute(TAKE_WRITE_LOCK);
            if let Err(err) = locked {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                return Err(err.into());
            }
        }
    }
    type Manager = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// An `UPDATE table SET ... WHERE ...` that diesel caches as a prepared
/// statement, keyed by its SQL text: [`cached_update`].
///
/// diesel never caches its own `UPDATE` statements (an `AsChangeset` of
/// `Option`s writes different SQL for one Rust type, so it cannot key them
/// by type), and so parses and plans one on every call. This statement
/// writes every assignment it is given and every value as a bind, so its
/// text is the same on every call and is a safe cache key. Admission's
/// `reserve` and `settle`, run for every request of a limited key, are
/// built with it (measured in `docs/benchmarks.md`, "Per-key limits").
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedUpdate<F, S, W, R = ()> {
    from: F,
    set: S,
    filter: W,
    /// `()`, or [`Returning`] its columns.
    returning: R,
}

/// The `RETURNING` clause of a [`CachedUpdate`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Returning<E>(E);

/// `UPDATE table SET values WHERE filter`, cached by its SQL text (see
/// [`CachedUpdate`]). `values` is a changeset without optional parts (a
/// tuple of `column.eq(expression)`).
pub(crate) fn cached_update<T, V, W>(
    table: T,
    values: V,
    filter: W,
) -> CachedUpdate<T::FromClause, V::Changeset, W>
where
    T: diesel::Table,
    V: diesel::AsChangeset<Target = T>,
    W: diesel::expression::AppearsOnTable<T>,
    W::SqlType: diesel::sql_types::BoolOrNullableBool,
{
    CachedUpdate {
        from: table.from_clause(),
        set: values.as_changeset(),
        filter,
        returning: (),
    }
}

impl<F, S, W> CachedUpdate<F, S, W> {
    /// The same statement, returning `columns` of the rows it updated
    /// (`RETURNING`: SQLite 3.35 and PostgreSQL): one trip, where an
    /// `UPDATE` and a `SELECT` would be two.
    pub(crate) fn returning<E>(self, columns: E) -> CachedUpdate<F, S, W, Returning<E>>
    where
        E: diesel::Expression,
    {
        CachedUpdate {
            from: self.from,
            set: self.set,
            filter: self.filter,
            returning: Returning(columns),
        }
    }
}

impl<E, DB> diesel::query_builder::QueryFragment<DB> for Returning<E>
where
    DB: diesel::backend::Backend,
    E: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(" RETURNING ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<F, S, W, R, DB> diesel::query_builder::QueryFragment<DB> for CachedUpdate<F, S, W, R>
where
    DB: diesel::backend::Backend,
    F: diesel::query_builder::QueryFragment<DB>,
    S: diesel::query_builder::QueryFragment<DB>,
    W: diesel::query_builder::QueryFragment<DB>,
    R: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        self.returning.walk_ast(out.reborrow())
    }
}

impl<F, S, W, R> diesel::query_builder::QueryId for CachedUpdate<F, S, W, R> {
    type QueryId = ();
    // Keyed by its SQL text, never by its type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, S, W, E> diesel::query_builder::Query for CachedUpdate<F, S, W, Returning<E>>
where
    E: diesel::Expression,
{
    type SqlType = E::SqlType;
}

impl<F, S, W, R, Conn> diesel::RunQueryDsl<Conn> for CachedUpdate<F, S, W, R> {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lock_statement_takes_write_lock() {
        assert_eq!(
            super::TAKE_WRITE_LOCK,
            format!("SELECT pg_advisory_xact_lock({})", super::WRITE_LOCK)
        );
    }
}
