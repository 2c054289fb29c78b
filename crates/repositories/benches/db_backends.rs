//! Throughput of `Db` (each connection on a thread of its own, with group
//! commit on the writer) against the two pools it replaced, as a ratio to
//! a baseline measured in the same run: the same statements on one plain
//! connection in a loop on one thread (no pool, no thread hop, no
//! concurrency).
//!
//! Run: `cargo bench -p promptyard-repositories --bench db_backends`
//! (`PROMPTYARD_BENCH_SECS` sets the seconds per measurement, default 3).
//!
//! The other lives here only, as it was in `Db`: r2d2 pools entered
//! through a fair async semaphore and used inside `spawn_blocking`.
//! diesel-async's deadpool of `SyncConnectionWrapper`s was measured here
//! too until the repositories took `DbConn` (SQLite or PostgreSQL):
//! diesel-async cannot wrap a `MultiConnection`, so its figures in
//! `docs/benchmarks.md` are the last it has. (Why deadpool never was the
//! default: when a caller stops waiting, its wrapper blocks the dropping
//! thread with `block_in_place`, which panics on the current-thread
//! runtimes actix-web runs its workers on.)
//!
//! Measured for each, on two runtime shapes (a 2-worker multi-thread
//! runtime, and 2 threads each with a current-thread runtime as actix-web
//! runs its workers), with 64 concurrent tasks:
//! - point reads: `UserRepository::get_by_id` of a random one of 1000 users;
//! - writes: one `UserRepository::create` per write transaction.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;
use common::Op;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use promptyard_db_models::DbConn;
use promptyard_db_models::connection::ConnectionOptions;
use promptyard_db_models::ids::UserId;
use promptyard_repositories::write_transaction;
use promptyard_repositories::{Db, DbConfig, RepoError, UserRepository};
use promptyard_test_support::{TestDb, UserFactory};
use tokio::sync::Semaphore;

const TASKS: usize = 64;
const USERS: usize = 1000;
const READERS: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Shape {
    MultiThread,
    CurrentThreadPerWorker,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Threads,
    R2d2,
}

/// One way to run the same closures on a writer and readers.
#[derive(Clone)]
enum Backend {
    Threads(Db),
    R2d2 {
        writer: (r2d2::Pool<ConnectionManager<DbConn>>, Arc<Semaphore>),
        readers: (r2d2::Pool<ConnectionManager<DbConn>>, Arc<Semaphore>),
    },
}

/// Production's PRAGMAs on every connection r2d2 opens.
#[derive(Debug, Clone, Copy)]
struct Configure(ConnectionOptions);

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for Configure {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        let DbConn::Sqlite(conn) = conn else {
            unreachable!("the benchmark opens SQLite files only")
        };
        promptyard_db_models::configure_connection(conn, &self.0).map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                e.to_string(),
            ))
        })
    }
}

fn r2d2_pool(
    path: &str,
    size: u32,
    options: ConnectionOptions,
) -> (r2d2::Pool<ConnectionManager<DbConn>>, Arc<Semaphore>) {
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(size))
        .test_on_check_out(false)
        .connection_customizer(Box::new(Configure(options)))
        .build(ConnectionManager::new(path))
        .unwrap();
    (pool, Arc::new(Semaphore::new(size as usize)))
}

/// `f` in a deferred (read) or immediate (write) transaction.
fn transact(
    op: Op,
    c: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<(), RepoError>,
) -> Result<(), RepoError> {
    match op {
        Op::Read => c.transaction(f),
        Op::Write => write_transaction(c, f),
    }
}

impl Backend {
    fn open(kind: Kind, path: &str) -> Self {
        let (write, read) = (
            ConnectionOptions::read_write(),
            ConnectionOptions::read_only(),
        );
        match kind {
            Kind::Threads => {
                Self::Threads(Db::open(DbConfig::new(path).with_readers(READERS)).unwrap())
            }
            Kind::R2d2 => Self::R2d2 {
                writer: r2d2_pool(path, 1, write),
                readers: r2d2_pool(path, READERS as u32, read),
            },
        }
    }

    async fn run(
        &self,
        op: Op,
        f: impl FnOnce(&mut DbConn) -> Result<(), RepoError> + Send + 'static,
    ) -> Result<(), RepoError> {
        match self {
            Self::Threads(db) => match op {
                Op::Read => db.read(f).await,
                Op::Write => db.write(f).await,
            },
            Self::R2d2 { writer, readers } => {
                let (pool, permits) = match op {
                    Op::Read => readers,
                    Op::Write => writer,
                };
                let permit = Arc::clone(permits).acquire_owned().await.unwrap();
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || {
                    let out = transact(op, &mut pool.get().unwrap(), f);
                    drop(permit);
                    out
                })
                .await
                .unwrap()
            }
        }
    }
}

fn main() {
    let secs: u64 = std::env::var("PROMPTYARD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let window = Duration::from_secs(secs);
    let test_db = TestDb::sqlite();
    let ids: Arc<Vec<UserId>> = {
        let mut conn = test_db.conn();
        Arc::new(
            (0..USERS)
                .map(|_| UserFactory::new().insert(&mut conn).id)
                .collect(),
        )
    };

    let base_reads = baseline(&test_db, &ids, Op::Read, window);
    let base_writes = baseline(&test_db, &ids, Op::Write, window);
    println!(
        "baseline, one connection, one thread: {base_reads:.0} reads/s, {base_writes:.0} writes/s"
    );
    println!();
    println!("| backend | runtime | reads/s | × baseline | writes/s | × baseline | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for round in 0..2 {
        let backends = if round == 0 {
            [Kind::Threads, Kind::R2d2]
        } else {
            [Kind::R2d2, Kind::Threads]
        };
        for backend in backends {
            for shape in [Shape::MultiThread, Shape::CurrentThreadPerWorker] {
                let (reads, read_errors) =
                    measure(&test_db, &ids, backend, shape, Op::Read, window);
                let (writes, write_errors) =
                    measure(&test_db, &ids, backend, shape, Op::Write, window);
                println!(
                    "| {backend:?} | {shape:?} | {reads:.0} | {:.2} | {writes:.0} | {:.2} | {} |",
                    reads / base_reads,
                    writes / base_writes,
                    read_errors + write_errors
                );
            }
        }
    }
}

fn baseline(test_db: &TestDb, ids: &[UserId], op: Op, window: Duration) -> f64 {
    common::one_connection_rate(&mut test_db.conn(), ids, op, false, window)
}

fn measure(
    test_db: &TestDb,
    ids: &Arc<Vec<UserId>>,
    backend: Kind,
    shape: Shape,
    op: Op,
    window: Duration,
) -> (f64, u64) {
    let db = {
        // Opened inside a runtime, as the server opens it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = rt.enter();
        Backend::open(backend, test_db.url())
    };
    let ops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let run = |tasks: usize| {
        let (db, ids, ops, errors, stop) = (
            db.clone(),
            Arc::clone(ids),
            Arc::clone(&ops),
            Arc::clone(&errors),
            Arc::clone(&stop),
        );
        async move {
            let mut handles = Vec::new();
            for t in 0..tasks {
                let (db, ids, ops, errors, stop) = (
                    db.clone(),
                    Arc::clone(&ids),
                    Arc::clone(&ops),
                    Arc::clone(&errors),
                    Arc::clone(&stop),
                );
                handles.push(tokio::spawn(async move {
                    let mut i = t * 7919;
                    while !stop.load(Ordering::Relaxed) {
                        let result = match op {
                            Op::Read => {
                                let id = ids[i % ids.len()].clone();
                                db.run(op, move |c| UserRepository::get_by_id(c, &id).map(drop))
                                    .await
                            }
                            Op::Write => {
                                let new = UserFactory::new().build();
                                db.run(op, move |c| UserRepository::create(c, &new).map(drop))
                                    .await
                            }
                        };
                        match result {
                            Ok(()) => ops.fetch_add(1, Ordering::Relaxed),
                            Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                        };
                        i += 1;
                    }
                }));
            }
            for handle in handles {
                handle.await.unwrap();
            }
        }
    };
    let start = Instant::now();
    let timer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(window);
            stop.store(true, Ordering::Relaxed);
        })
    };
    match shape {
        Shape::MultiThread => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run(TASKS));
        }
        Shape::CurrentThreadPerWorker => {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let fut = run(TASKS / 2);
                    std::thread::spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap()
                            .block_on(fut);
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
        }
    }
    timer.join().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    (
        ops.load(Ordering::Relaxed) as f64 / elapsed,
        errors.load(Ordering::Relaxed),
    )
}
