//! [`Lanes`]: connections that each live on a thread of their own, fed by
//! one queue per role.
//!
//! A call puts its closure on the queue and waits for the answer; a free
//! connection thread takes it, runs it and answers. Under load the threads
//! go from one closure to the next without sleeping, where a pool entered
//! through `spawn_blocking` takes a semaphore, wakes a blocking thread and
//! checks a connection out and back in for every call
//! (`docs/benchmarks.md`, "Db backends").
//!
//! **Group commit.** The writer thread takes every write waiting in its
//! queue (up to [`MAX_BATCH`]) into one `BEGIN IMMEDIATE` transaction, runs
//! each in a savepoint of its own (an `Err` rolls back that write alone),
//! commits once, and only then answers each caller. A burst of writes
//! costs one commit, not one each: one WAL append of the pages they share.
//! If the commit fails, every write of the batch fails with its error and
//! nothing of them is written.
//!
//! Same guarantees as the pool backends:
//! - closures start in the order they were queued (one queue, FIFO);
//! - a call that waits longer than the acquire timeout for a connection
//!   fails with [`Unavailable::Timeout`], and its closure never runs;
//! - a call whose caller went away before a connection took it never
//!   runs; once it has started, it runs to completion;
//! - a closure that panics is an unexpected error for its caller; the
//!   connection is replaced by a fresh one, and the writes that shared its
//!   batch and ran before it are rolled back and fail (the writes queued
//!   after it run in a batch of their own).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use promptyard_db_models::connection::ConnectionOptions;
use promptyard_db_models::{DatabaseUrl, DbConn};
use tokio::sync::oneshot;

mod jobs;

use self::jobs::*;
use super::OpenDbError;
use crate::backend::write_transaction;
use crate::error::{RepoError, Unavailable};

/// The most writes one transaction of the writer takes.
pub(super) const MAX_BATCH: usize = 128;

/// `size` connections, each on its own thread, taking closures from one
/// queue. The threads end when the last handle is dropped, after the
/// closures already queued.
pub(super) struct Lanes {
    jobs: Sender<Box<dyn Job>>,
}

impl Lanes {
    /// Opens `size` connections to `url` with `options` (here, so that a
    /// bad path or server fails at once) and starts a thread for each.
    ///
    /// With `idle_checkpoint`, a thread that has written checkpoints the
    /// WAL and truncates it once no job has come for that long (the
    /// writer's), so the `-wal` file a burst of writes grew shrinks back.
    pub(super) fn spawn(
        url: &DatabaseUrl,
        role: &'static str,
        size: usize,
        options: ConnectionOptions,
        idle_checkpoint: Option<Duration>,
    ) -> Result<Self, OpenDbError> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        for n in 0..size {
            let conn = promptyard_db_models::open_url(url, &options)?;
            let (queue, owned) = (queue.clone(), url.clone());
            std::thread::Builder::new()
                .name(format!("db-{role}-{n}"))
                .spawn(move || serve(conn, &queue, &owned, &options, idle_checkpoint))
                .map_err(|source| OpenDbError::Pool {
                    role,
                    path: url.to_string(),
                    source: source.into(),
                })?;
        }
        Ok(Self { jobs })
    }

    /// Closures waiting for a connection now.
    pub(super) fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Runs `f` as it is on one of the connections; waits at most
    /// `acquire_timeout` for one to take it.
    pub(super) async fn run<R, F>(&self, acquire_timeout: Duration, f: F) -> Result<R, RepoError>
    where
        F: FnOnce(&mut DbConn) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.queue(acquire_timeout, f, |ticket| Box::new(Alone(ticket)))
            .await
            .and_then(|answered| answered)
    }

    /// Runs the write `f` in the writer's next batch (see the module docs);
    /// waits at most `acquire_timeout` for the writer to take it.
    pub(super) async fn write<T, E, F>(&self, acquire_timeout: Duration, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        self.queue(acquire_timeout, f, |ticket| Box::new(Write(ticket)))
            .await
            .map_err(E::from)?
    }

    /// Queues the job `make` builds around `work`'s ticket, and waits for
    /// its answer: at most `acquire_timeout` until a connection takes it,
    /// then as long as it runs.
    async fn queue<F, X>(
        &self,
        acquire_timeout: Duration,
        work: F,
        make: impl FnOnce(Ticket<F, X>) -> Box<dyn Job>,
    ) -> Result<X, RepoError> {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (reply, mut answer) = oneshot::channel();
        let ticket = Ticket {
            state: Arc::clone(&state),
            work,
            reply,
        };
        if self.jobs.send(make(ticket)).is_err() {
            return Err(RepoError::unexpected("the database threads have stopped"));
        }
        let stopped = |_| RepoError::unexpected("a database thread stopped");
        match tokio::time::timeout(acquire_timeout, &mut answer).await {
            Ok(answered) => answered.map_err(stopped),
            Err(elapsed) => {
                let cancelled = state
                    .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if cancelled {
                    Err(RepoError::unavailable(Unavailable::Timeout, elapsed))
                } else {
                    // A connection took it just in time: it runs to the end.
                    answer.await.map_err(stopped)
                }
            }
        }
    }
}

/// A connection thread: runs jobs until every handle is gone, batching
/// consecutive writes.
fn serve(
    mut conn: DbConn,
    queue: &Receiver<Box<dyn Job>>,
    url: &DatabaseUrl,
    options: &ConnectionOptions,
    idle_checkpoint: Option<Duration>,
) {
    // SQLite has one writer: the writes waiting in its queue share a
    // transaction. On PostgreSQL each write is a transaction of its own
    // (they still run one at a time across every process, behind the
    // advisory lock `write_transaction` takes, but a batch would make one
    // process's writes wait for each other's commit too).
    let max_batch = match conn {
        DbConn::Sqlite(_) => MAX_BATCH,
        DbConn::Postgres(_) => 1,
    };
    let mut waiting: VecDeque<Box<dyn Job>> = VecDeque::new();
    // Whether a job ran since the last idle checkpoint.
    let mut dirty = false;
    loop {
        let next = match waiting.pop_front() {
            Some(job) => Ok(job),
            None => match idle_checkpoint.filter(|_| dirty) {
                Some(idle) => queue.recv_timeout(idle),
                None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
            },
        };
        let job = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                checkpoint(&mut conn, options);
                dirty = false;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        dirty = true;
        let replace = if job.batched() {
            let mut batch = vec![job];
            while batch.len() < max_batch {
                match waiting.pop_front().or_else(|| queue.try_recv().ok()) {
                    Some(next) if next.batched() => batch.push(next),
                    Some(other) => {
                        waiting.push_front(other);
                        break;
                    }
                    None => break,
                }
            }
            // A panic leaves the batch's transaction in an unknown state.
            run_batch(&mut conn, batch, &mut waiting)
        } else {
            // A panic may have left it inside a transaction, or with its
            // transaction state in error.
            matches!(job.run(&mut conn), Outcome::Panicked) && conn.is_broken()
        };
        if replace {
            // Closing it rolls back whatever it held; go on with a fresh one.
            match promptyard_db_models::open_url(url, options) {
                Ok(fresh) => conn = fresh,
                Err(err) => {
                    tracing::error!(%err, "cannot replace a database connection after a panic");
                }
            }
        }
    }
}

/// Moves the WAL into the database file and truncates it to zero bytes
/// (`PRAGMA wal_checkpoint(TRUNCATE)`), waiting at most 100 ms for readers
/// of older snapshots; if they hold on, the next idle moment tries again.
fn checkpoint(conn: &mut DbConn, options: &ConnectionOptions) {
    let DbConn::Sqlite(conn) = conn else {
        return; // PostgreSQL keeps its own write-ahead log.
    };
    let restore = options.busy_timeout.as_millis();
    let done = conn.batch_execute(&format!(
        "PRAGMA busy_timeout = 100; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA busy_timeout = {restore};"
    ));
    if let Err(err) = done {
        tracing::debug!(%err, "idle WAL checkpoint did not complete");
        let _ = conn.batch_execute(&format!("PRAGMA busy_timeout = {restore};"));
    }
}

/// Runs `batch` in one `BEGIN IMMEDIATE` transaction and answers each write
/// once it is committed (or failed). On a panic, the writes that ran before
/// it fail (their batch is rolled back) and those after it go back to the
/// front of `waiting`; returns whether one panicked.
fn run_batch(
    conn: &mut DbConn,
    batch: Vec<Box<dyn Job>>,
    waiting: &mut VecDeque<Box<dyn Job>>,
) -> bool {
    let mut jobs = batch.into_iter();
    let mut ran: Vec<Box<dyn Settle>> = Vec::new();
    let mut panicked = false;
    let committed = write_transaction(conn, |c| {
        for job in jobs.by_ref() {
            match job.run(c) {
                Outcome::Done => {}
                Outcome::Pending(settle) => ran.push(settle),
                Outcome::Panicked => {
                    panicked = true;
                    return Err(diesel::result::Error::RollbackTransaction);
                }
            }
        }
        Ok(())
    });
    if panicked {
        for job in jobs.rev() {
            waiting.push_front(job);
        }
        let lost = RepoError::unexpected("rolled back: another write of its batch panicked");
        for settle in ran {
            settle.settle(Some(&lost));
        }
        return true;
    }
    match committed {
        Ok(()) => {
            for settle in ran {
                settle.settle(None);
            }
        }
        Err(err) => {
            // The commit failed (or the transaction never began, and no
            // write ran): none of them is written.
            let err = RepoError::from(err);
            for settle in ran {
                settle.settle(Some(&err));
            }
            for job in jobs {
                job.refuse(copy_of(&err));
            }
        }
    }
    false
}
