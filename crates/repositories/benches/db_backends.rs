//! Throughput of `Db` with each pool backend, as a ratio to a baseline
//! measured in the same run: the same statements on one plain connection in
//! a loop on one thread (no pool, no thread hop, no concurrency).
//!
//! Run: `cargo bench -p promptyard-repositories --features deadpool-backend`
//! (`PROMPTYARD_BENCH_SECS` sets the seconds per measurement, default 3).
//!
//! Measured for each backend, on two runtime shapes (a 2-worker
//! multi-thread runtime, and 2 threads each with a current-thread runtime as
//! actix-web runs its workers), with 64 concurrent tasks:
//! - point reads: `UserRepository::get_by_id` of a random one of 1000 users;
//! - writes: one `UserRepository::create` per `Db::write` transaction.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use promptyard_repositories::{Db, DbConfig, PoolBackend, RepoError, UserRepository};
use promptyard_test_support::{TestDb, UserFactory};

const TASKS: usize = 64;
const USERS: usize = 1000;
const READERS: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Shape {
    MultiThread,
    CurrentThreadPerWorker,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Read,
    Write,
}

fn main() {
    let secs: u64 = std::env::var("PROMPTYARD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let window = Duration::from_secs(secs);
    let test_db = TestDb::new();
    let ids: Arc<Vec<String>> = {
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
            [
                PoolBackend::Threads,
                PoolBackend::R2d2,
                PoolBackend::Deadpool,
            ]
        } else {
            [
                PoolBackend::Deadpool,
                PoolBackend::R2d2,
                PoolBackend::Threads,
            ]
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

fn baseline(test_db: &TestDb, ids: &[String], op: Op, window: Duration) -> f64 {
    let mut conn = test_db.conn();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            match op {
                Op::Read => {
                    let id = &ids[(n as usize * 7919) % ids.len()];
                    UserRepository::get_by_id(&mut conn, id).unwrap();
                }
                Op::Write => {
                    let new = UserFactory::new().build();
                    conn.immediate_transaction(|c| UserRepository::create(c, &new))
                        .unwrap();
                }
            }
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn measure(
    test_db: &TestDb,
    ids: &Arc<Vec<String>>,
    backend: PoolBackend,
    shape: Shape,
    op: Op,
    window: Duration,
) -> (f64, u64) {
    let config = DbConfig::new(test_db.url())
        .with_readers(READERS)
        .with_backend(backend);
    let db = {
        // deadpool's wrapper binds to the runtime it is created in; create
        // the pool inside one.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = rt.enter();
        Db::open(config).unwrap()
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
                                db.read(move |c| UserRepository::get_by_id(c, &id).map(drop))
                                    .await
                            }
                            Op::Write => {
                                let new = UserFactory::new().build();
                                db.write(move |c| UserRepository::create(c, &new).map(drop))
                                    .await
                            }
                        };
                        match result {
                            Ok(()) => ops.fetch_add(1, Ordering::Relaxed),
                            Err::<(), RepoError>(_) => errors.fetch_add(1, Ordering::Relaxed),
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
