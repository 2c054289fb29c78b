//! [`Db`]: the handle every repository call goes through.
//!
//! SQLite allows one writer at a time. Rather than let connections race for
//! the write lock (a deferred transaction that reads and then writes fails at
//! once with `database is locked` under concurrency, busy timeout or not),
//! `Db` owns:
//!
//! - one **writer** connection. Writes queue for it in FIFO order and run
//!   inside `BEGIN IMMEDIATE`, so they never see `database is locked`;
//!   the writes waiting in the queue when the writer comes free share one
//!   transaction (group commit), each in a savepoint of its own, so an
//!   `Err` still rolls back that write alone;
//! - a **reader pool** (4 connections by default, `PRAGMA query_only`). In WAL
//!   mode readers never block the writer nor each other. Each read runs in a
//!   deferred transaction, so a closure that runs several queries sees one
//!   snapshot.
//!
//! [`Db::read`] and [`Db::write`] run a whole closure — one query or a whole
//! transaction composed of several repository calls — in ONE hop to a
//! connection's thread. Once the closure has started it runs to completion
//! even if the caller's future is dropped (a client disconnected, a timeout
//! fired), so a cancelled request can never leave a transaction open or a
//! connection half-used; a closure that has not started when its caller
//! gives up never runs.
//!
//! Each connection lives on a thread of its own and takes closures from
//! its role's queue (`db/lanes.rs`). Two pools were measured against it,
//! r2d2 behind an async semaphore and `spawn_blocking`, and diesel-async's
//! deadpool; they live only in the benchmark now (`benches/db_backends.rs`,
//! figures in `docs/benchmarks.md`).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use promptyard_db_models::connection::{ConnectionOptions, DEFAULT_BUSY_TIMEOUT, OpenError};
use promptyard_db_models::{Backend, DatabaseUrl, DbConn};

use crate::error::{BoxError, RepoError};
use crate::migrations::MigrateError;

mod lanes;
use lanes::Lanes;

/// What [`Db::open`] needs.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// The database: a SQLite file (created if missing) or a PostgreSQL
    /// server.
    pub url: DatabaseUrl,
    /// Size of the reader pool (at least 1).
    pub readers: usize,
    /// `PRAGMA busy_timeout` of every connection.
    pub busy_timeout: Duration,
    /// How long a call may wait for a connection before it fails with
    /// [`Unavailable::Timeout`](crate::Unavailable::Timeout).
    pub acquire_timeout: Duration,
    /// How long the writer waits, after writing, with nothing to do before
    /// it checkpoints the WAL and truncates it (`None`: never).
    /// SQLite's own checkpoints keep the WAL from growing
    /// without bound, but not its file from keeping its peak size.
    pub idle_checkpoint: Option<Duration>,
}

impl DbConfig {
    /// The defaults for the SQLite file at `path`: 4 readers, a 5 s busy
    /// timeout, a 10 s acquire timeout, a WAL checkpoint after 1 s of
    /// idleness.
    pub fn new(path: impl Into<String>) -> Self {
        Self::for_url(DatabaseUrl::sqlite(path))
    }

    /// The same defaults for the database `url` names. On PostgreSQL, the
    /// writer connections are as many as the readers; their transactions
    /// still run one at a time (see [`write_transaction`](crate::write_transaction)).
    pub fn for_url(url: DatabaseUrl) -> Self {
        Self {
            url,
            readers: 4,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            acquire_timeout: Duration::from_secs(10),
            idle_checkpoint: Some(Duration::from_secs(1)),
        }
    }

    /// The same configuration with another idle checkpoint delay.
    #[must_use]
    pub fn with_idle_checkpoint(mut self, idle: Option<Duration>) -> Self {
        self.idle_checkpoint = idle;
        self
    }

    /// The same configuration with `readers` reader connections.
    #[must_use]
    pub fn with_readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// The same configuration with another acquire timeout.
    #[must_use]
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The same configuration with another busy timeout.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// How many calls wait for a connection ([`Db::queued`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    /// Reads waiting for a reader.
    pub reads: usize,
    /// Writes waiting for the writer.
    pub writes: usize,
}

/// Why [`Db::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenDbError {
    /// The file could not be opened or configured.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The pool could not open its connections.
    #[error("cannot open the {role} pool on {path:?}: {source}")]
    Pool {
        role: &'static str,
        path: String,
        #[source]
        source: BoxError,
    },
    /// A reader pool of size zero was asked for.
    #[error("the reader pool needs at least one connection")]
    NoReaders,
}

/// The database: one writer connection and a pool of readers over one SQLite
/// file in WAL mode. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    config: DbConfig,
    writer: Lanes,
    readers: Lanes,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("url", &self.inner.config.url)
            .field("readers", &self.inner.config.readers)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens the database file (creating it if missing), switches it to WAL
    /// and opens the writer and the reader pool. Blocks while it opens the
    /// file; call it at startup, not on a request path.
    ///
    /// The file is opened once up front, so a bad path fails at once with a
    /// message naming it rather than after the pool's acquire timeout.
    pub fn open(config: DbConfig) -> Result<Self, OpenDbError> {
        if config.readers == 0 {
            return Err(OpenDbError::NoReaders);
        }
        let write_options = ConnectionOptions::read_write().with_busy_timeout(config.busy_timeout);
        let read_options = ConnectionOptions::read_only().with_busy_timeout(config.busy_timeout);
        let writers = match config.url.backend() {
            Backend::Sqlite => {
                // Creates the file and switches it to WAL before the pool
                // opens its connections side by side.
                drop(promptyard_db_models::open_url(&config.url, &write_options)?);
                1
            }
            Backend::Postgres => config.readers,
        };
        let writer = Lanes::spawn(
            &config.url,
            "writer",
            writers,
            write_options,
            config.idle_checkpoint,
        )?;
        let readers = Lanes::spawn(&config.url, "reader", config.readers, read_options, None)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                writer,
                readers,
            }),
        })
    }

    /// The configuration this handle was opened with.
    pub fn config(&self) -> &DbConfig {
        &self.inner.config
    }

    /// Runs `f` on a reader connection inside a deferred (snapshot)
    /// transaction. The connection refuses writes.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        let timeout = self.inner.config.acquire_timeout;
        self.inner
            .readers
            .run(timeout, move |conn| transaction(conn, f))
            .await
            .map_err(E::from)?
    }

    /// Runs `f` in a write transaction ([`write_transaction`](crate::write_transaction):
    /// `BEGIN IMMEDIATE` on SQLite, the shared write lock on PostgreSQL):
    /// committed if `f` returns `Ok`, rolled back if it returns `Err`
    /// (nothing is half-written). Write transactions run one at a time, so
    /// a closure that reads then writes loses no update. Writes wait for a
    /// writer connection in FIFO order.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        let timeout = self.inner.config.acquire_timeout;
        self.inner.writer.write(timeout, f).await
    }

    /// Applies every pending embedded migration on the writer; returns the
    /// names of those applied. Refuses a database that holds migrations
    /// this binary does not know ([`MigrateError::Unknown`]).
    pub async fn migrate(&self) -> Result<Vec<String>, MigrateError> {
        let timeout = self.inner.config.acquire_timeout;
        self.inner
            .writer
            .run(timeout, crate::migrations::apply_pending)
            .await?
    }

    /// Calls waiting for a connection now (the reader queue, the writer
    /// queue).
    pub fn queued(&self) -> Queued {
        Queued {
            reads: self.inner.readers.queued(),
            writes: self.inner.writer.queued(),
        }
    }

    /// Whether the database answers a read that touches the file.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.read(|conn| {
            let touch = match conn {
                DbConn::Sqlite(_) => "SELECT count(*) FROM sqlite_schema",
                DbConn::Postgres(_) => "SELECT count(*) FROM pg_catalog.pg_class LIMIT 1",
            };
            conn.batch_execute(touch).map_err(RepoError::from)
        })
        .await
    }

    /// Moves the WAL's content into the database file and truncates the WAL
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`); after it, the main file alone is
    /// a complete copy of the database. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), RepoError> {
        let timeout = self.inner.config.acquire_timeout;
        self.inner
            .writer
            .run(timeout, |conn| match conn {
                DbConn::Sqlite(c) => c
                    .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    .map_err(RepoError::from),
                DbConn::Postgres(_) => Ok(()), // its write-ahead log is its own
            })
            .await?
    }
}

/// An application error or a transaction error, kept apart while diesel's
/// transaction helpers run so the caller gets its own error type back.
enum Abort<E> {
    App(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Abort<E> {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err)
    }
}

/// Runs `f` in a transaction on `conn` (a savepoint inside one already
/// open): committed if `f` returns `Ok`, rolled back if it returns `Err`,
/// which comes back as it is.
fn transaction<T, E: From<RepoError>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    conn.transaction(|c| f(c).map_err(Abort::App))
        .map_err(|abort| match abort {
            Abort::App(err) => err,
            Abort::Db(err) => E::from(RepoError::from(err)),
        })
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests;
