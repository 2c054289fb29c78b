//! The one place where SQLite and PostgreSQL part ways.
//!
//! Repositories take a [`DbConn`](promptyard_db_models::DbConn) and write
//! each query once against diesel's `MultiBackend`. A statement that
//! `MultiBackend` cannot express (`ON CONFLICT`) is written once too, and
//! [`per_backend!`] builds it for each concrete connection.

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
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use promptyard_db_models::DbConn;

/// Runs `f` in a write transaction on `conn`: `BEGIN IMMEDIATE` on SQLite
/// (the write lock taken up front, so a read-then-write never fails on
/// the lock midway), a plain `BEGIN` (read committed) on PostgreSQL.
/// Committed if `f` returns `Ok`, rolled back if it returns `Err`; inside
/// it, `conn.transaction(..)` opens savepoints as usual.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
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
