//! Opening and configuring SQLite connections.
//!
//! Every connection Promptyard opens — the writer, each pooled reader, the
//! CLI's, and every test fixture's — goes through [`configure_connection`], so
//! production and tests run with the same PRAGMAs:
//!
//! | PRAGMA | value | why |
//! |---|---|---|
//! | `busy_timeout` | 5 s by default | first, because switching to WAL takes a lock; a connection opened meanwhile waits instead of failing |
//! | `journal_mode` | `WAL` | readers never block the writer nor each other |
//! | `synchronous` | `NORMAL` | durable across application crashes; safe with WAL |
//! | `foreign_keys` | `ON` | SQLite enforces `REFERENCES` only when asked to |
//! | `query_only` | `ON` for readers | a write sent to a reader fails at once instead of racing the writer |
//! | `journal_size_limit` | 64 MiB | a WAL that a burst of writes grew is cut back to this whenever it restarts |
//!
//! [`open`] creates a missing database file readable and writable by its
//! owner only (0600, on Unix); SQLite gives its `-wal` and `-shm` files the
//! same permissions.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::backend::DbConn;
use crate::url::DatabaseUrl;

/// How long a connection waits for a lock before giving up with `SQLITE_BUSY`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA journal_size_limit`, bytes: the size a WAL is truncated back to
/// when it restarts after a checkpoint.
pub const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// What kind of connection to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `PRAGMA busy_timeout`. Zero is refused: without it, opening a pool
    /// while another process holds a lock fails at once.
    pub busy_timeout: Duration,
    /// Sets `PRAGMA query_only`, for reader connections.
    pub read_only: bool,
}

impl ConnectionOptions {
    /// A read-write connection (the writer, the CLI, test fixtures).
    pub const fn read_write() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            read_only: false,
        }
    }

    /// A connection that refuses to write (the reader pool).
    pub const fn read_only() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            read_only: true,
        }
    }

    /// The same options with another busy timeout.
    #[must_use]
    pub const fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self::read_write()
    }
}

/// Why a connection could not be opened or configured.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite could not open (or create) the file.
    #[error("cannot open database {path:?}: {source}")]
    Open {
        path: String,
        #[source]
        source: diesel::ConnectionError,
    },
    /// A PRAGMA failed (the file is locked, not a database, read-only, ...).
    #[error("cannot configure database {path:?}: {source}")]
    Configure {
        path: String,
        #[source]
        source: diesel::result::Error,
    },
    /// The database refused to switch to WAL (an in-memory database answers
    /// `memory`): Promptyard and its tests only run on WAL files.
    #[error("database {path:?} cannot use WAL (journal_mode is {mode:?}); use a file path")]
    NotWal { path: String, mode: String },
    /// A busy timeout of zero was asked for.
    #[error("busy_timeout must be greater than zero")]
    ZeroBusyTimeout,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

/// Applies Promptyard's PRAGMAs to an open connection, in the order that
/// works for a fresh database opened by several connections at once.
///
/// Returns the `journal_mode` error as [`OpenError::NotWal`] if the database
/// cannot use WAL (an in-memory database, for one).
pub fn configure_connection(
    conn: &mut SqliteConnection,
    options: &ConnectionOptions,
) -> Result<(), OpenError> {
    configure(conn, options, "")
}

fn configure(
    conn: &mut SqliteConnection,
    options: &ConnectionOptions,
    path: &str,
) -> Result<(), OpenError> {
    let millis = options.busy_timeout.as_millis();
    if millis == 0 {
        return Err(OpenError::ZeroBusyTimeout);
    }
    let pragma_error = |source| OpenError::Configure {
        path: path.to_owned(),
        source,
    };
    conn.batch_execute(&format!("PRAGMA busy_timeout = {millis};"))
        .map_err(pragma_error)?;
    let mode = diesel::sql_query("PRAGMA journal_mode = WAL")
        .get_result::<JournalMode>(conn)
        .map_err(pragma_error)?
        .journal_mode;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    conn.batch_execute(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT};"
    ))
    .map_err(pragma_error)?;
    if options.read_only {
        conn.batch_execute("PRAGMA query_only = ON;")
            .map_err(pragma_error)?;
    }
    Ok(())
}

/// Opens (creating it if missing, readable by its owner only) the SQLite
/// file at `path` and configures the connection with
/// [`configure_connection`].
pub fn open(path: &str, options: &ConnectionOptions) -> Result<SqliteConnection, OpenError> {
    create_private(path);
    let mut conn = SqliteConnection::establish(path).map_err(|source| OpenError::Open {
        path: path.to_owned(),
        source,
    })?;
    configure(&mut conn, options, path)?;
    Ok(conn)
}

/// Opens the database `url` names with `options`: a SQLite file through
/// [`open`], or a PostgreSQL server through [`open_postgres`]. Errors name
/// the database with its password redacted.
pub fn open_url(url: &DatabaseUrl, options: &ConnectionOptions) -> Result<DbConn, OpenError> {
    match url.sqlite_path() {
        Some(path) => open(path, options).map(DbConn::Sqlite),
        None => open_postgres(url, options).map(DbConn::Postgres),
    }
}

/// Connects to the PostgreSQL server `url` names and configures the
/// session the way [`configure_connection`] does a SQLite one:
///
/// | setting | value | why |
/// |---|---|---|
/// | `lock_timeout` | the busy timeout | a statement waits that long for a row or table lock, then fails (as SQLite's `busy_timeout`) |
/// | `default_transaction_read_only` | `on` for readers | a write sent to a reader fails at once |
/// | `default_transaction_isolation` | `repeatable read` for readers | a read transaction sees one snapshot, as on SQLite (a read-only one never fails to serialize) |
/// | `TimeZone` | `UTC` | timestamps are UTC without a zone; nothing may shift them |
pub fn open_postgres(
    url: &DatabaseUrl,
    options: &ConnectionOptions,
) -> Result<PgConnection, OpenError> {
    let millis = options.busy_timeout.as_millis();
    if millis == 0 {
        return Err(OpenError::ZeroBusyTimeout);
    }
    let mut conn = PgConnection::establish(url.expose()).map_err(|source| OpenError::Open {
        path: url.to_string(),
        // libpq explains over several lines; an error here is one line.
        source: match source {
            diesel::ConnectionError::BadConnection(message) => {
                diesel::ConnectionError::BadConnection(
                    message
                        .lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            }
            other => other,
        },
    })?;
    // A reader's transaction sees one snapshot, as a SQLite read
    // transaction does (read committed takes a new one per statement).
    let (read_only, isolation) = if options.read_only {
        ("on", "repeatable read")
    } else {
        ("off", "read committed")
    };
    conn.batch_execute(&format!(
        "SET lock_timeout = {millis}; SET default_transaction_read_only = {read_only}; \
         SET default_transaction_isolation = '{isolation}'; SET TIME ZONE 'UTC';"
    ))
    .map_err(|source| OpenError::Configure {
        path: url.to_string(),
        source,
    })?;
    Ok(conn)
}

/// Creates `path` as an empty file with mode 0600 if it does not exist, so
/// that SQLite (and its `-wal` and `-shm` files, which take the database
/// file's mode) never makes it readable by others. Anything else — the
/// file exists, the directory is missing, a URI — is left to SQLite and
/// its own errors.
fn create_private(path: &str) {
    if path.is_empty() || path.starts_with(':') || path.starts_with("file:") {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests;
