//! Password hashing: Argon2id, m = 19456 KiB, t = 2, p = 1 (OWASP's
//! recommendation), stored as a PHC string that carries its own parameters
//! and salt.
//!
//! # Fixed memory under any load
//!
//! Argon2 works in a 19 MiB block of memory. Allocated afresh for every
//! call, those blocks make glibc raise its mmap threshold and keep them in
//! per-thread arenas: a storm of logins once took the server to gigabytes
//! that it never returned. So [`PasswordHasher`] is a fixed set of hashing
//! **workers** (OS threads named `argon2-N`), each owning one memory block
//! that it takes on its first job and reuses for every hash and
//! verification after: hashing memory is exactly workers × 19 MiB, whatever
//! the load.
//!
//! # Bounded waiting
//!
//! In front of the workers is a bounded queue. A job that finds the queue
//! full, or that has waited in it longer than `max_wait` by the time a
//! worker is free, is refused with [`HashError::Busy`] (HTTP 503 with
//! `Retry-After`) instead of pushing every login back by minutes. A job
//! whose caller has gone (a client that disconnected) is dropped unrun.
//!
//! # Other requests first
//!
//! On Linux the workers run under `SCHED_IDLE`: they get only CPU time
//! that no other thread wants, and any request thread that wakes up takes
//! the CPU from them at once. A storm of logins then costs other requests
//! almost nothing (`/api/v1/auth/me` p99 during a storm: about 1× its idle
//! p99, against 1.5–2.3× at nice 10; `docs/benchmarks.md`). The price is
//! paid by the logins: while the machine is busy with other requests,
//! hashing slows down, and logins that wait longer than `max_wait` get 503
//! with `Retry-After`.
//!
//! A login for an unknown email is verified against a dummy hash with the
//! same parameters, so both failures of a login take the same time.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::Block;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::credentials::Password;

mod argon;

use self::argon::{dummy_hash, hash_in, new_memory, verify_in};
pub use self::argon::{hash_password, verify_password};

/// Argon2id memory cost, KiB (one [`Block`] per KiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Argon2id passes.
pub const ITERATIONS: u32 = 2;
/// Argon2id lanes.
pub const PARALLELISM: u32 = 1;
/// Bytes of salt in a new hash.
const SALT_BYTES: usize = 16;
/// Bytes of hash output.
const OUTPUT_BYTES: usize = 32;
/// The hashing memory one worker owns, in bytes.
pub const MEMORY_PER_WORKER: usize = MEMORY_KIB as usize * Block::SIZE;

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full, or the job waited in it
    /// longer than allowed. Retry after `retry_after`.
    #[error("the password hasher is busy; retry in {} s", .retry_after.as_secs())]
    Busy { retry_after: Duration },
    /// Hashing itself failed (no randomness, a worker that stopped). With
    /// fixed, valid parameters this does not happen in practice.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// How many workers hash, how many jobs may wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherConfig {
    /// Hashing threads, each owning [`MEMORY_PER_WORKER`] bytes (at least 1).
    pub workers: usize,
    /// Jobs that may wait for a worker (at least 1); one more is refused
    /// with [`HashError::Busy`] at once.
    pub queue: usize,
    /// How long a job may wait for a worker before it is refused.
    pub max_wait: Duration,
}

impl HasherConfig {
    /// The default number of workers: one per two cores, at least one.
    /// Measured on a 2-core machine (`docs/benchmarks.md`, "Password
    /// hashing workers"): during login storms, one worker kept
    /// `/api/v1/auth/me` at 1.08–1.24× its idle p99, two at 1.11–1.52×
    /// for a third more successful logins and 19 MiB more memory.
    pub fn default_workers() -> usize {
        Self::workers_for(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// One worker per two of `cores`, at least one.
    fn workers_for(cores: usize) -> usize {
        (cores / 2).max(1)
    }
}

impl Default for HasherConfig {
    /// [`default_workers`](Self::default_workers), 256 queued jobs, 2 s
    /// of waiting at most.
    fn default() -> Self {
        Self {
            workers: Self::default_workers(),
            queue: 256,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// A job for a worker, whatever it returns.
trait Job: Send {
    /// When it joined the queue.
    fn queued_at(&self) -> Instant;
    /// Whether its caller stopped waiting.
    fn abandoned(&self) -> bool;
    /// Runs it in `memory` and hands the result to the caller.
    fn run(self: Box<Self>, memory: &mut [Block]);
    /// Tells the caller it was refused.
    fn refuse(self: Box<Self>, err: HashError);
}

struct Pending<T, F> {
    queued_at: Instant,
    work: F,
    reply: oneshot::Sender<Result<T, HashError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut [Block]) -> T + Send + 'static,
{
    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run(self: Box<Self>, memory: &mut [Block]) {
        let Self { work, reply, .. } = *self;
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| work(memory)))
            .map_err(|_| HashError::Failed("a hashing job panicked".to_owned()));
        let _ = reply.send(out);
    }

    fn refuse(self: Box<Self>, err: HashError) {
        let _ = self.reply.send(Err(err));
    }
}

/// What the workers and the callers share.
struct Shared {
    config: HasherConfig,
    /// Workers that have taken their memory.
    memories: AtomicUsize,
}

impl Shared {
    fn retry_after(&self) -> Duration {
        // Whole seconds, rounded up, at least one.
        let wait = self.config.max_wait;
        Duration::from_secs((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }
}

/// Hashes and verifies on a fixed set of workers; see the module docs.
/// Cheap to clone; the workers stop when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: Sender<Box<dyn Job>>,
    shared: Arc<Shared>,
    dummy_hash: Arc<str>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("config", &self.shared.config)
            .field("queued", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the [default](HasherConfig::default) configuration.
    pub fn new() -> Result<Self, HashError> {
        Self::with_config(HasherConfig::default())
    }

    /// A hasher with `workers` workers and the default queue.
    pub fn with_workers(workers: usize) -> Result<Self, HashError> {
        Self::with_config(HasherConfig {
            workers,
            ..HasherConfig::default()
        })
    }

    /// A hasher configured by `config`; starts its workers (their memory
    /// is taken on their first job).
    pub fn with_config(config: HasherConfig) -> Result<Self, HashError> {
        let config = HasherConfig {
            workers: config.workers.max(1),
            queue: config.queue.max(1),
            ..config
        };
        // The queue holds waiting jobs only: one per worker may be running.
        let (jobs, receiver) = crossbeam_channel::bounded::<Box<dyn Job>>(config.queue);
        let shared = Arc::new(Shared {
            config,
            memories: AtomicUsize::new(0),
        });
        for n in 0..config.workers {
            let (receiver, shared) = (receiver.clone(), Arc::clone(&shared));
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&receiver, &shared))
                .map_err(|e| HashError::Failed(format!("cannot start a hashing worker: {e}")))?;
        }
        Ok(Self {
            jobs,
            shared,
            dummy_hash: dummy_hash()?.into(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> HasherConfig {
        self.shared.config
    }

    /// Jobs waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Hashing memory taken so far, in bytes: [`MEMORY_PER_WORKER`] for each
    /// worker that has run a job; never more than one block per worker.
    pub fn memory_in_use(&self) -> usize {
        self.shared.memories.load(Ordering::Relaxed) * MEMORY_PER_WORKER
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.run(move |memory| hash_in(memory, password.as_bytes()))
            .await?
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move |memory| verify_in(memory, password.as_bytes(), &hash))
            .await
    }

    /// Spends the time of a verification without an account, so a login
    /// for an unknown email takes as long as a wrong password. `Ok(false)`
    /// unless the hasher is busy.
    pub async fn verify_dummy(&self, password: &str) -> Result<bool, HashError> {
        let (password, hash) = (password.to_owned(), Arc::clone(&self.dummy_hash));
        self.run(move |memory| verify_in(memory, password.as_bytes(), &hash))
            .await
            .map(|_| false)
    }

    /// Queues `work` for a worker and waits for its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, result) = oneshot::channel();
        let job = Box::new(Pending {
            queued_at: Instant::now(),
            work,
            reply,
        });
        match self.jobs.try_send(job) {
            Ok(()) => result
                .await
                .unwrap_or_else(|_| Err(HashError::Failed("a hashing worker stopped".to_owned()))),
            Err(TrySendError::Full(_)) => Err(HashError::Busy {
                retry_after: self.shared.retry_after(),
            }),
            Err(TrySendError::Disconnected(_)) => {
                Err(HashError::Failed("no hashing worker is running".to_owned()))
            }
        }
    }
}

/// A worker: lowers its priority, then runs jobs until every sender is
/// gone, in one block of memory taken on the first job.
fn work(jobs: &Receiver<Box<dyn Job>>, shared: &Shared) {
    lower_priority();
    let mut memory: Option<Vec<Block>> = None;
    while let Ok(job) = jobs.recv() {
        if job.abandoned() {
            continue;
        }
        if job.queued_at().elapsed() > shared.config.max_wait {
            job.refuse(HashError::Busy {
                retry_after: shared.retry_after(),
            });
            continue;
        }
        let memory = memory.get_or_insert_with(|| {
            shared.memories.fetch_add(1, Ordering::Relaxed);
            new_memory()
        });
        job.run(memory);
    }
}

/// Puts the calling thread under `SCHED_IDLE` (Linux; see the module
/// docs). Best effort: hashing still works without it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(err) = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        ) {
            tracing::warn!(?err, "cannot lower the priority of a hashing worker");
        }
    }
}

#[cfg(test)]
mod tests;
