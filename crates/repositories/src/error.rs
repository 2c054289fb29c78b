//! [`RepoError`]: every database failure, classified once.
//!
//! Diesel and SQLite report failures as error kinds plus SQLite's message
//! text; this module is the one place that turns them into the few cases a
//! caller can act on. Services map `RepoError` to their own errors, and the
//! HTTP layer turns [`RepoError::Unavailable`] into 503.

use std::error::Error as StdError;
use std::fmt;

use diesel::dsl::{AsSelect, Select};
use diesel::query_dsl::methods::SelectDsl;
use diesel::query_dsl::{LoadQuery, RunQueryDsl};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Expression, Selectable, SelectableHelper as _};
use promptyard_db_models::MultiBackend;

/// A boxed error that keeps its source chain.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What can go wrong in a repository call.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The row asked for does not exist (or is not visible to the caller).
    #[error("row not found")]
    NotFound,
    /// An insert or update broke a `UNIQUE` constraint. `constraint` names it
    /// as SQLite does: the table and columns, e.g. `users.email`.
    #[error("unique constraint violated: {constraint}")]
    UniqueViolation { constraint: String },
    /// An insert or update referenced a row that does not exist.
    #[error("foreign key constraint violated")]
    ForeignKeyViolation,
    /// The database cannot serve the request right now: locked, full,
    /// read-only, failing I/O, or no connection came free in time. Worth a
    /// retry later; the HTTP layer answers 503.
    #[error("database unavailable: {reason}")]
    Unavailable {
        reason: Unavailable,
        #[source]
        source: Option<BoxError>,
    },
    /// Anything else: a bug or a broken invariant. Logged with its cause,
    /// never shown to an API consumer.
    #[error("unexpected database error")]
    Unexpected(#[source] BoxError),
}

/// Why the database is [`RepoError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// `SQLITE_BUSY`/`SQLITE_LOCKED`: another connection held a lock for longer
    /// than the busy timeout.
    Busy,
    /// `SQLITE_FULL`: the disk is full.
    DiskFull,
    /// `SQLITE_READONLY`: the file or its directory is not writable.
    ReadOnly,
    /// `SQLITE_IOERR`, `SQLITE_CANTOPEN`, `SQLITE_CORRUPT`, `SQLITE_NOTADB`:
    /// the file cannot be read or written as a database.
    Storage,
    /// No connection came free within the acquire timeout.
    Timeout,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Busy => "database is locked",
            Self::DiskFull => "disk is full",
            Self::ReadOnly => "database is read-only",
            Self::Storage => "storage error",
            Self::Timeout => "timed out waiting for a connection",
        })
    }
}

impl RepoError {
    /// An [`RepoError::Unavailable`] with a cause.
    pub fn unavailable(reason: Unavailable, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            reason,
            source: Some(source.into()),
        }
    }

    /// An [`RepoError::Unexpected`] with a cause.
    pub fn unexpected(source: impl Into<BoxError>) -> Self {
        Self::Unexpected(source.into())
    }

    /// Whether this is [`RepoError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// Whether this is [`RepoError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// SQLite's own messages for the conditions that make a database unavailable
/// (`sqlite3_errstr` of the primary result codes diesel reports as
/// `DatabaseErrorKind::Unknown`).
const UNAVAILABLE_MESSAGES: &[(&str, Unavailable)] = &[
    ("database is locked", Unavailable::Busy),
    ("database table is locked", Unavailable::Busy),
    ("database schema is locked", Unavailable::Busy),
    ("database or disk is full", Unavailable::DiskFull),
    (
        "attempt to write a readonly database",
        Unavailable::ReadOnly,
    ),
    ("disk I/O error", Unavailable::Storage),
    ("unable to open database file", Unavailable::Storage),
    ("database disk image is malformed", Unavailable::Storage),
    ("file is not a database", Unavailable::Storage),
    // PostgreSQL's, for the same conditions.
    ("canceling statement due to lock timeout", Unavailable::Busy),
    ("deadlock detected", Unavailable::Busy),
    ("could not extend file", Unavailable::DiskFull),
    ("could not write to file", Unavailable::Storage),
    ("terminating connection", Unavailable::Storage),
    ("server closed the connection", Unavailable::Storage),
    ("no connection to the server", Unavailable::Storage),
];

/// PostgreSQL's names for the unique indexes and keys, as SQLite names them
/// (`table.column`), so that callers match one name whatever the backend.
const POSTGRES_UNIQUE_NAMES: &[(&str, &str)] = &[
    ("users_email_key", "users.email"),
    ("users_pkey", "users.id"),
    ("sessions_pkey", "sessions.id"),
    ("sessions_public_id_idx", "sessions.public_id"),
    ("api_keys_pkey", "api_keys.id"),
    ("api_keys_public_id_key", "api_keys.public_id"),
    ("conversations_pkey", "conversations.id"),
    ("messages_pkey", "messages.id"),
    ("usage_records_pkey", "usage_records.id"),
    ("login_failures_pkey", "login_failures.email"),
];

impl From<DieselError> for RepoError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => Self::UniqueViolation {
                    constraint: unique_constraint_name(info.as_ref()),
                },
                DatabaseErrorKind::ReadOnlyTransaction => Self::unavailable(
                    Unavailable::ReadOnly,
                    DieselError::DatabaseError(kind, info),
                ),
                DatabaseErrorKind::SerializationFailure => {
                    Self::unavailable(Unavailable::Busy, DieselError::DatabaseError(kind, info))
                }
                DatabaseErrorKind::ForeignKeyViolation => Self::ForeignKeyViolation,
                DatabaseErrorKind::ClosedConnection => {
                    Self::unavailable(Unavailable::Storage, DieselError::DatabaseError(kind, info))
                }
                _ => {
                    let reason = UNAVAILABLE_MESSAGES
                        .iter()
                        .find(|(prefix, _)| info.message().starts_with(prefix))
                        .map(|(_, reason)| *reason);
                    let err = DieselError::DatabaseError(kind, info);
                    match reason {
                        Some(reason) => Self::unavailable(reason, err),
                        None => Self::unexpected(err),
                    }
                }
            },
            other => Self::unexpected(other),
        }
    }
}

/// The violated key as `table.column`: SQLite's `"UNIQUE constraint
/// failed: users.email"` → `"users.email"`; PostgreSQL's constraint
/// `users_email_key` → `"users.email"` too.
fn unique_constraint_name(info: &dyn diesel::result::DatabaseErrorInformation) -> String {
    if let Some(sqlite) = info.message().strip_prefix("UNIQUE constraint failed: ") {
        return sqlite.to_owned();
    }
    match info.constraint_name() {
        Some(name) => POSTGRES_UNIQUE_NAMES
            .iter()
            .find(|(postgres, _)| *postgres == name)
            .map_or(name, |(_, ours)| ours)
            .to_owned(),
        None => info.message().to_owned(),
    }
}

/// `Ok(())` if a statement that targets one row changed any, else
/// [`RepoError::NotFound`].
pub(crate) fn found(rows: usize) -> Result<(), RepoError> {
    if rows == 0 {
        Err(RepoError::NotFound)
    } else {
        Ok(())
    }
}

/// `Result<T, RepoError>` helpers.
pub trait OptionalExt<T> {
    /// Turns [`RepoError::NotFound`] into `Ok(None)`.
    fn optional(self) -> Result<Option<T>, RepoError>;
}

impl<T> OptionalExt<T> for Result<T, RepoError> {
    fn optional(self) -> Result<Option<T>, RepoError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(RepoError::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Runs a diesel query with its error classified as a [`RepoError`], the
/// one step every repository function ends with.
pub(crate) trait Run<Conn>: diesel::RunQueryDsl<Conn> + Sized {
    /// The one row ([`RepoError::NotFound`] if there is none).
    fn one<'q, U>(self, conn: &mut Conn) -> Result<U, RepoError>
    where
        Self: diesel::query_dsl::LoadQuery<'q, Conn, U>,
    {
        self.get_result(conn).map_err(RepoError::from)
    }

    /// Every row.
    fn all<'q, U>(self, conn: &mut Conn) -> Result<Vec<U>, RepoError>
    where
        Self: diesel::query_dsl::LoadQuery<'q, Conn, U>,
    {
        self.load(conn).map_err(RepoError::from)
    }

    /// The one row, selected as the `U` the caller expects
    /// (`select(U::as_select())`; [`RepoError::NotFound`] if there is none).
    fn select_one<'q, U>(self, conn: &mut Conn) -> Result<U, RepoError>
    where
        Self: SelectAs<'q, Conn, U>,
    {
        self.select_as().one(conn)
    }

    /// Every row, each selected as the `U` the caller expects
    /// (`select(U::as_select())`).
    fn select_all<'q, U>(self, conn: &mut Conn) -> Result<Vec<U>, RepoError>
    where
        Self: SelectAs<'q, Conn, U>,
    {
        self.select_as().all(conn)
    }

    /// How many rows the statement changed.
    fn run(self, conn: &mut Conn) -> Result<usize, RepoError>
    where
        Conn: diesel::Connection,
        Self: diesel::query_dsl::methods::ExecuteDsl<Conn>,
    {
        self.execute(conn).map_err(RepoError::from)
    }
}

impl<T: diesel::RunQueryDsl<Conn>, Conn> Run<Conn> for T {}

/// A query that, given `select(U::as_select())`, loads `U` rows on `Conn`
/// (the bounds behind [`Run::select_one`] and [`Run::select_all`]).
pub(crate) trait SelectAs<'q, Conn, U>: Sized {
    /// The query with its selection.
    type Selected: LoadQuery<'q, Conn, U> + RunQueryDsl<Conn>;

    /// `self.select(U::as_select())`.
    fn select_as(self) -> Self::Selected;
}

impl<'q, Conn, U, Q> SelectAs<'q, Conn, U> for Q
where
    U: Selectable<MultiBackend>,
    AsSelect<U, MultiBackend>: Expression,
    Q: SelectDsl<AsSelect<U, MultiBackend>>,
    Select<Q, AsSelect<U, MultiBackend>>: LoadQuery<'q, Conn, U> + RunQueryDsl<Conn>,
{
    type Selected = Select<Q, AsSelect<U, MultiBackend>>;

    fn select_as(self) -> Self::Selected {
        self.select(U::as_select())
    }
}

/// The columns of `U`, in its fields' order, for a `RETURNING` clause
/// (`as_returning()` builds a `SelectBy` over `MultiBackend`, which is no
/// SQL for the backends inside it; the bare columns are).
pub(crate) fn columns_of<U: Selectable<MultiBackend>>() -> U::SelectExpression {
    U::construct_selection()
}

/// `INSERT INTO $table VALUES ($new) RETURNING` the new row as a `$row`,
/// errors classified: the body of every repository's `create`.
macro_rules! insert_returning {
    ($conn:expr, $table:expr, $new:expr, $row:ty) => {
        diesel::insert_into($table)
            .values($new)
            .returning($crate::error::columns_of::<$row>())
            .one($conn)
    };
}
pub(crate) use insert_returning;

/// Deletes up to `$limit` rows of `$table` whose `$at` column is at or
/// before `$cutoff`, found by their text key `$key`, and evaluates to how
/// many (`Result<usize, RepoError>`): the body of every bounded purge.
///
/// Two statements: run it inside `Db::write`, so they form one transaction.
macro_rules! delete_at_or_before {
    ($conn:expr, $table:ident, $key:ident, $at:ident <= $cutoff:expr, limit $limit:expr) => {{
        let keys: Vec<String> = $table::table
            .filter($table::$at.le($cutoff))
            .select($table::$key)
            .limit($limit)
            .load($conn)?;
        if keys.is_empty() {
            Ok(0)
        } else {
            diesel::delete($table::table.filter($table::$key.eq_any(&keys))).run($conn)
        }
    }};
}
pub(crate) use delete_at_or_before;

#[cfg(test)]
mod tests;
