//! The jobs the connection threads run: a closure with its caller's
//! reply, the state that decides whether it still runs, and (for a write
//! in a batch) the answer that waits for the commit.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use promptyard_db_models::DbConn;
use tokio::sync::oneshot;

use super::super::{panic_message, transaction};
use crate::error::RepoError;

/// A job that no connection has taken yet.
pub(super) const QUEUED: u8 = 0;
/// A job a connection has taken: it runs to completion.
pub(super) const STARTED: u8 = 1;
/// A job its caller stopped waiting for: it never runs.
pub(super) const CANCELLED: u8 = 2;

/// What every job carries: its closure, the reply its caller waits on, and
/// the state that decides whether it still runs.
pub(super) struct Ticket<F, X> {
    pub(super) state: Arc<AtomicU8>,
    pub(super) work: F,
    pub(super) reply: oneshot::Sender<X>,
}

impl<F, X> Ticket<F, X> {
    /// Takes the job for a connection: its closure and reply, or `None` if
    /// its caller cancelled it or left.
    fn take(self) -> Option<(F, oneshot::Sender<X>)> {
        let started = !self.reply.is_closed()
            && self
                .state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        started.then_some((self.work, self.reply))
    }

    /// Answers the caller without running the closure.
    fn refuse(self, answer: X) {
        let _ = self.reply.send(answer);
    }
}

/// What running a job came to.
pub(super) enum Outcome {
    /// It did not run (cancelled, caller gone), or it ran and was answered.
    Done,
    /// It panicked; its caller was told.
    Panicked,
    /// A write in a batch: its answer waits for the commit.
    Pending(Box<dyn Settle>),
}

/// A closure for a connection, whatever it returns.
pub(super) trait Job: Send {
    /// Whether it is a write that may share the writer's transaction.
    fn batched(&self) -> bool;
    /// Runs it on `conn` (a batched write: inside the batch's transaction,
    /// in a savepoint), unless it was cancelled or its caller left.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Outcome;
    /// Answers its caller with `err` without running it.
    fn refuse(self: Box<Self>, err: RepoError);
}

/// A write that ran in a batch, waiting for the commit.
pub(super) trait Settle: Send {
    /// Answers the caller: its own result if the batch committed (`None`),
    /// else the batch's error.
    fn settle(self: Box<Self>, failed: Option<&RepoError>);
}

/// A closure that runs as it is (a read in its snapshot transaction, a
/// migration, a checkpoint).
pub(super) struct Alone<R, F>(pub(super) Ticket<F, Result<R, RepoError>>);

impl<R, F> Job for Alone<R, F>
where
    R: Send + 'static,
    F: FnOnce(&mut DbConn) -> R + Send + 'static,
{
    fn batched(&self) -> bool {
        false
    }

    fn run(self: Box<Self>, conn: &mut DbConn) -> Outcome {
        let Some((work, reply)) = self.0.take() else {
            return Outcome::Done;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))) {
            Ok(out) => {
                let _ = reply.send(Ok(out));
                Outcome::Done
            }
            Err(payload) => {
                let _ = reply.send(Err(panicked(payload)));
                Outcome::Panicked
            }
        }
    }

    fn refuse(self: Box<Self>, err: RepoError) {
        self.0.refuse(Err(err));
    }
}

/// A write: runs in a savepoint of the writer's batch transaction.
pub(super) struct Write<T, E, F>(pub(super) Ticket<F, Result<T, E>>);

impl<T, E, F> Job for Write<T, E, F>
where
    T: Send + 'static,
    E: From<RepoError> + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    fn batched(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, conn: &mut DbConn) -> Outcome {
        let Some((work, reply)) = self.0.take() else {
            return Outcome::Done;
        };
        // Nested in the batch's transaction: a savepoint, rolled back alone
        // when `work` fails.
        match std::panic::catch_unwind(AssertUnwindSafe(|| transaction(conn, work))) {
            Ok(result) => Outcome::Pending(Box::new(Settled { result, reply })),
            Err(payload) => {
                let _ = reply.send(Err(E::from(panicked(payload))));
                Outcome::Panicked
            }
        }
    }

    fn refuse(self: Box<Self>, err: RepoError) {
        self.0.refuse(Err(E::from(err)));
    }
}

pub(super) struct Settled<T, E> {
    pub(super) result: Result<T, E>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E> Settle for Settled<T, E>
where
    T: Send + 'static,
    E: From<RepoError> + Send + 'static,
{
    fn settle(self: Box<Self>, failed: Option<&RepoError>) {
        let out = match (self.result, failed) {
            (Ok(_), Some(err)) => Err(E::from(copy_of(err))),
            (result, _) => result,
        };
        let _ = self.reply.send(out);
    }
}

pub(super) fn panicked(payload: Box<dyn std::any::Any + Send>) -> RepoError {
    let message = panic_message(payload);
    tracing::error!(panic = %message, "a database closure panicked");
    RepoError::unexpected(format!("database closure panicked: {message}"))
}

/// The same error again, for each write of a batch that failed as one.
pub(super) fn copy_of(err: &RepoError) -> RepoError {
    match err {
        RepoError::NotFound => RepoError::NotFound,
        RepoError::UniqueViolation { constraint } => RepoError::UniqueViolation {
            constraint: constraint.clone(),
        },
        RepoError::ForeignKeyViolation => RepoError::ForeignKeyViolation,
        RepoError::Unavailable { reason, source } => RepoError::Unavailable {
            reason: *reason,
            source: source.as_ref().map(|s| s.to_string().into()),
        },
        RepoError::Unexpected(source) => RepoError::unexpected(source.to_string()),
    }
}
