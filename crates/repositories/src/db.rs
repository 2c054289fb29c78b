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
//! Three ways to run the connections were measured behind this API
//! ([`PoolBackend`], `benches/db_backends.rs`, figures in
//! `docs/benchmarks.md`): each connection on a thread of its own fed by a
//! queue (the default, and the only one that batches writes), r2d2 behind
//! an async semaphore and `spawn_blocking`, and diesel-async's deadpool
//! (only built with the `deadpool-backend` feature).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::{Connection, SqliteConnection};
#[cfg(feature = "deadpool-backend")]
use diesel_async::pooled_connection::deadpool::Pool as Deadpool;
#[cfg(feature = "deadpool-backend")]
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
#[cfg(feature = "deadpool-backend")]
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use promptyard_db_models::configure_connection;
use promptyard_db_models::connection::{ConnectionOptions, DEFAULT_BUSY_TIMEOUT, OpenError};
use tokio::sync::Semaphore;

use crate::error::{BoxError, RepoError, Unavailable};
use crate::migrations::MigrateError;

mod lanes;
use lanes::Lanes;

/// How the writer and the readers are pooled. All give the same guarantees;
/// they differ in speed (see `docs/benchmarks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolBackend {
    /// Each connection on a thread of its own, all taking closures from one
    /// FIFO queue per role (the writer's, the readers'). The default: under
    /// load a thread goes from one closure to the next without a hand-off.
    #[default]
    Threads,
    /// r2d2 pools of plain diesel connections, entered through a fair async
    /// semaphore (one permit per connection) and used inside
    /// `tokio::task::spawn_blocking`.
    R2d2,
    /// deadpool pools of diesel-async `SyncConnectionWrapper`s, used through
    /// `SyncConnectionWrapper::spawn_blocking`. Only with the
    /// `deadpool-backend` feature, for the benchmark: when a caller stops
    /// waiting, diesel-async blocks the caller's thread until the closure
    /// finishes (`block_in_place`), which panics on the current-thread
    /// runtimes actix-web runs its workers on.
    #[cfg(feature = "deadpool-backend")]
    Deadpool,
}

/// What [`Db::open`] needs.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// Path of the SQLite file; created if missing.
    pub path: String,
    /// Size of the reader pool (at least 1).
    pub readers: usize,
    /// `PRAGMA busy_timeout` of every connection.
    pub busy_timeout: Duration,
    /// How long a call may wait for a connection before it fails with
    /// [`Unavailable::Timeout`].
    pub acquire_timeout: Duration,
    /// The pool implementation.
    pub backend: PoolBackend,
    /// How long the writer waits, after writing, with nothing to do before
    /// it checkpoints the WAL and truncates it (`None`: never; the threads
    /// backend only). SQLite's own checkpoints keep the WAL from growing
    /// without bound, but not its file from keeping its peak size.
    pub idle_checkpoint: Option<Duration>,
}

impl DbConfig {
    /// The defaults for the database file at `path`: 4 readers, a 5 s busy
    /// timeout, a 10 s acquire timeout, the threads backend, a WAL
    /// checkpoint after 1 s of idleness.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            acquire_timeout: Duration::from_secs(10),
            backend: PoolBackend::default(),
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

    /// The same configuration with another pool backend.
    #[must_use]
    pub fn with_backend(mut self, backend: PoolBackend) -> Self {
        self.backend = backend;
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
    writer: Pool,
    readers: Pool,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.config.path)
            .field("readers", &self.inner.config.readers)
            .field("backend", &self.inner.config.backend)
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
        drop(promptyard_db_models::open(&config.path, &write_options)?);

        let writer = Pool::new(&config, "writer", 1, write_options)?;
        let readers = Pool::new(&config, "reader", config.readers, read_options)?;
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
        F: FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        let timeout = self.inner.config.acquire_timeout;
        self.inner
            .readers
            .run(timeout, move |conn| {
                in_transaction(conn, |c| c.transaction(|c| f(c).map_err(Abort::App)))
            })
            .await
            .map_err(E::from)?
    }

    /// Runs `f` on the writer connection inside `BEGIN IMMEDIATE`: committed
    /// if `f` returns `Ok`, rolled back if it returns `Err` (nothing is
    /// half-written). Writes wait for the writer in FIFO order.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        let timeout = self.inner.config.acquire_timeout;
        if let Pool::Threads(writer) = &self.inner.writer {
            return writer.write(timeout, f).await;
        }
        self.inner
            .writer
            .run(timeout, move |conn| {
                in_transaction(conn, |c| {
                    c.immediate_transaction(|c| f(c).map_err(Abort::App))
                })
            })
            .await
            .map_err(E::from)?
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
    /// queue). Only the [`PoolBackend::Threads`] backend keeps queues it
    /// can count; the others report zeros.
    pub fn queued(&self) -> Queued {
        let depth = |pool: &Pool| match pool {
            Pool::Threads(lanes) => lanes.queued(),
            _ => 0,
        };
        Queued {
            reads: depth(&self.inner.readers),
            writes: depth(&self.inner.writer),
        }
    }

    /// Whether the database answers a read that touches the file.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.read(|conn| {
            conn.batch_execute("SELECT count(*) FROM sqlite_schema")
                .map_err(RepoError::from)
        })
        .await
    }

    /// Moves the WAL's content into the database file and truncates the WAL
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`); after it, the main file alone is
    /// a complete copy of the database.
    pub async fn checkpoint(&self) -> Result<(), RepoError> {
        let timeout = self.inner.config.acquire_timeout;
        self.inner
            .writer
            .run(timeout, |conn| {
                conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    .map_err(RepoError::from)
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

fn in_transaction<T, E: From<RepoError>>(
    conn: &mut SqliteConnection,
    run: impl FnOnce(&mut SqliteConnection) -> Result<T, Abort<E>>,
) -> Result<T, E> {
    run(conn).map_err(|abort| match abort {
        Abort::App(err) => err,
        Abort::Db(err) => E::from(RepoError::from(err)),
    })
}

/// One pool of connections (the writer is a pool of one).
enum Pool {
    Threads(Lanes),
    R2d2 {
        pool: r2d2::Pool<ConnectionManager<SqliteConnection>>,
        permits: Arc<Semaphore>,
    },
    #[cfg(feature = "deadpool-backend")]
    Deadpool(Deadpool<SyncConnectionWrapper<SqliteConnection>>),
}

impl Pool {
    fn new(
        config: &DbConfig,
        role: &'static str,
        size: usize,
        options: ConnectionOptions,
    ) -> Result<Self, OpenDbError> {
        match config.backend {
            PoolBackend::Threads => Ok(Self::Threads(Lanes::spawn(
                &config.path,
                role,
                size,
                options,
                config.idle_checkpoint.filter(|_| !options.read_only),
            )?)),
            PoolBackend::R2d2 => {
                let max_size = u32::try_from(size).unwrap_or(u32::MAX);
                let pool = r2d2::Pool::builder()
                    .max_size(max_size)
                    .min_idle(Some(max_size))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .test_on_check_out(false)
                    .connection_timeout(config.acquire_timeout)
                    .connection_customizer(Box::new(Configure(options)))
                    .error_handler(Box::new(TracingErrorHandler))
                    .build(ConnectionManager::new(&config.path))
                    .map_err(|source| OpenDbError::Pool {
                        role,
                        path: config.path.clone(),
                        source: source.into(),
                    })?;
                Ok(Self::R2d2 {
                    pool,
                    permits: Arc::new(Semaphore::new(size)),
                })
            }
            #[cfg(feature = "deadpool-backend")]
            PoolBackend::Deadpool => {
                let mut manager_config = ManagerConfig::default();
                manager_config.custom_setup = Box::new(move |path: &str| {
                    let path = path.to_owned();
                    Box::pin(async move {
                        let conn = tokio::task::spawn_blocking(move || {
                            promptyard_db_models::open(&path, &options)
                        })
                        .await
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                        Ok(SyncConnectionWrapper::new(conn))
                    })
                });
                let manager =
                    AsyncDieselConnectionManager::new_with_config(&config.path, manager_config);
                let pool = Deadpool::builder(manager)
                    .max_size(size)
                    .build()
                    .map_err(|e| OpenDbError::Pool {
                        role,
                        path: config.path.clone(),
                        source: e.into(),
                    })?;
                Ok(Self::Deadpool(pool))
            }
        }
    }

    /// Runs `f` with a connection of this pool, in one blocking hop.
    async fn run<R, F>(&self, acquire_timeout: Duration, f: F) -> Result<R, RepoError>
    where
        F: FnOnce(&mut SqliteConnection) -> R + Send + 'static,
        R: Send + 'static,
    {
        match self {
            Self::Threads(lanes) => lanes.run(acquire_timeout, f).await,
            Self::R2d2 { pool, permits } => {
                // A free connection is the common case: take it without
                // arming a timer.
                let permit = match Arc::clone(permits).try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        tokio::time::timeout(acquire_timeout, Arc::clone(permits).acquire_owned())
                            .await
                            .map_err(|elapsed| {
                                RepoError::unavailable(Unavailable::Timeout, elapsed)
                            })?
                            .map_err(RepoError::unexpected)?
                    }
                };
                let pool = pool.clone();
                let task = tokio::task::spawn_blocking(move || {
                    // The permit travels with the connection: it is released
                    // only after the connection is back in the pool, even when
                    // the caller stopped waiting long ago.
                    let mut conn = pool
                        .get()
                        .map_err(|e| RepoError::unavailable(Unavailable::Timeout, e))?;
                    let out = f(&mut conn);
                    drop(conn);
                    drop(permit);
                    Ok(out)
                });
                match task.await {
                    Ok(out) => out,
                    Err(join) => Err(task_failed(join)),
                }
            }
            #[cfg(feature = "deadpool-backend")]
            Self::Deadpool(pool) => {
                let mut conn = tokio::time::timeout(acquire_timeout, pool.get())
                    .await
                    .map_err(|elapsed| RepoError::unavailable(Unavailable::Timeout, elapsed))?
                    .map_err(|e| RepoError::unavailable(Unavailable::Storage, e.to_string()))?;
                conn.spawn_blocking(move |c| Ok(f(c)))
                    .await
                    .map_err(RepoError::from)
            }
        }
    }
}

/// A blocking task that did not complete: it panicked (a bug in the closure)
/// or the runtime is shutting down.
fn task_failed(err: tokio::task::JoinError) -> RepoError {
    if err.is_panic() {
        let message = panic_message(err.into_panic());
        tracing::error!(panic = %message, "a database closure panicked");
        RepoError::unexpected(format!("database closure panicked: {message}"))
    } else {
        RepoError::unexpected("database task was cancelled")
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Applies Promptyard's PRAGMAs to every connection r2d2 opens.
#[derive(Debug, Clone, Copy)]
struct Configure(ConnectionOptions);

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Configure {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        configure_connection(conn, &self.0).map_err(|err| match err {
            OpenError::Configure { source, .. } => diesel::r2d2::Error::QueryError(source),
            other => diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                other.to_string(),
            )),
        })
    }
}

/// Sends r2d2's background connection errors to `tracing`.
#[derive(Debug, Clone, Copy)]
struct TracingErrorHandler;

impl r2d2::HandleError<diesel::r2d2::Error> for TracingErrorHandler {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(%error, "database pool could not open a connection");
    }
}

#[cfg(test)]
mod tests;
