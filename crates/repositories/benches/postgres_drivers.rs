//! PostgreSQL drivers: sync diesel's `PgConnection` (libpq) run by `Db` on
//! connection threads, against diesel-async's `AsyncPgConnection` (pure
//! Rust, tokio-postgres) in a deadpool, as ratios to a baseline measured in
//! the same round: the same statements on one sync `PgConnection` in a loop
//! on one thread (no pool, no thread hop, no concurrency).
//!
//! Run (the URL names a server and a database to administer from; its user
//! must be allowed to create databases):
//! `PROMPTYARD_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench -p promptyard-repositories --bench postgres_drivers`
//! (`PROMPTYARD_BENCH_SECS` sets the seconds per measurement, default 3).
//! Without the variable it says so and exits with success. It creates a
//! database of its own (`promptyard_bench_<pid>_<nanos>`), migrates it,
//! inserts 1000 users, and drops it at the end.
//!
//! Measured, on a 2-worker multi-thread tokio runtime with 64 concurrent
//! tasks, in two rounds that alternate the order:
//! - `Db`: `DbConfig::for_url` defaults, 4 reader and 4 writer connections;
//!   `db.read(|c| UserRepository::get_by_id(c, &id))` (inside the read-only,
//!   repeatable-read transaction `Db::read` opens) and
//!   `db.write(|c| UserRepository::create(c, &new))` (one transaction a
//!   write, holding the advisory lock `WRITE_LOCK`);
//! - a deadpool of 8 `AsyncPgConnection`s (Db's 4 + 4), the same statements
//!   with diesel-async's `RunQueryDsl`: the read in a
//!   `BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ` transaction as
//!   `Db`'s (same round trips), and the write as an insert returning the row
//!   inside `conn.transaction(..)` that first takes
//!   `pg_advisory_xact_lock(WRITE_LOCK)`, so writes run one at a time as
//!   `Db`'s do;
//! - `Db` with 8 readers (reads only), to tell the driver from the number
//!   of connections the reads may use;
//! - the same pool with the bare read (`first`, no transaction: one round
//!   trip instead of three), what a diesel-async caller would write.
//!
//! The pool recycles connections with `RecyclingMethod::Fast` (`Db` pings
//! nothing either); deadpool's default, `Verified`, adds a `SELECT 1` to
//! every checkout. Every connection sets `lock_timeout` and the UTC time
//! zone, as `open_postgres` does.
//!
//! Baselines, per round: reads are the bare `get_by_id` (one round trip),
//! writes `write_transaction` around `UserRepository::create`; a second
//! baseline row runs the read in a transaction, as `Db` does.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;
use common::Op;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::{QueryDsl, SelectableHelper};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use promptyard_db_models::DbConn;
use promptyard_db_models::connection::{ConnectionOptions, DEFAULT_BUSY_TIMEOUT};
use promptyard_db_models::ids::UserId;
use promptyard_db_models::models::User;
use promptyard_db_models::schema::users;
use promptyard_repositories::{DatabaseUrl, Db, DbConfig, RepoError, UserRepository, WRITE_LOCK};
use promptyard_test_support::UserFactory;
use promptyard_test_support::postgres::PgTestDatabase;

const URL_VAR: &str = "PROMPTYARD_BENCH_POSTGRES_URL";
const TASKS: usize = 64;
const USERS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `Db` on PostgreSQL: sync diesel (libpq) on connection threads.
    Db,
    /// `Db` with 8 readers, as many connections as the pool may read on
    /// (reads only: writes run one at a time either way).
    Db8Readers,
    /// A deadpool of `AsyncPgConnection`s, reads in a transaction.
    Async,
    /// The same pool, bare reads (writes are `Async`'s: not measured).
    AsyncBareRead,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Db => "`Db` (sync diesel, libpq), 4 readers + 4 writers",
            Self::Db8Readers => "`Db` (sync diesel, libpq), 8 readers",
            Self::Async => "deadpool of 8 `AsyncPgConnection`, read in a transaction",
            Self::AsyncBareRead => "deadpool of 8 `AsyncPgConnection`, bare read",
        }
    }
}

/// The bench's database: an empty one of test-support's, dropped
/// (connections and all) with it.
struct BenchDatabase(PgTestDatabase);

impl BenchDatabase {
    fn create(admin: &str) -> Self {
        Self(PgTestDatabase::empty(admin))
    }

    /// A new read-write connection, configured as production's.
    fn conn(&self) -> DbConn {
        promptyard_db_models::open_url(&self.database_url(), &ConnectionOptions::read_write())
            .unwrap()
    }

    fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(self.0.url()).unwrap()
    }
}

/// One of the two ways to run the statements, opened for one measurement.
#[derive(Clone)]
enum Backend {
    Db(Db),
    Async(Pool<AsyncPgConnection>),
}

impl Backend {
    /// Opened inside the runtime that will use it: tokio-postgres drives
    /// each connection with a task spawned on the current runtime.
    async fn open(kind: Kind, database: &BenchDatabase) -> Self {
        match kind {
            Kind::Db => Self::Db(Db::open(DbConfig::for_url(database.database_url())).unwrap()),
            Kind::Db8Readers => Self::Db(
                Db::open(DbConfig::for_url(database.database_url()).with_readers(8)).unwrap(),
            ),
            Kind::Async | Kind::AsyncBareRead => {
                let size = 2 * DbConfig::for_url(database.database_url()).readers;
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| {
                    let url = url.to_owned();
                    Box::pin(async move {
                        let mut conn = AsyncPgConnection::establish(&url).await?;
                        conn.batch_execute(&format!(
                            "SET lock_timeout = {}; SET TIME ZONE 'UTC';",
                            DEFAULT_BUSY_TIMEOUT.as_millis()
                        ))
                        .await
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                        Ok(conn)
                    })
                });
                let manager = AsyncDieselConnectionManager::new_with_config(
                    database.0.url().to_owned(),
                    config,
                );
                let pool = Pool::builder(manager).max_size(size).build().unwrap();
                // Open every connection before the clock starts, as `Db` does.
                let held: Vec<_> = futures_join_all(size, &pool).await;
                drop(held);
                Self::Async(pool)
            }
        }
    }

    async fn read(&self, kind: Kind, id: UserId) -> Result<(), RepoError> {
        // In scope here only: it is implemented for every type, atomics too.
        use diesel_async::RunQueryDsl;
        match self {
            Self::Db(db) => {
                db.read(move |c| UserRepository::get_by_id(c, &id).map(drop))
                    .await
            }
            Self::Async(pool) => {
                let mut conn = pool.get().await.unwrap();
                let conn: &mut AsyncPgConnection = &mut conn;
                if kind == Kind::AsyncBareRead {
                    let user: User = users::table
                        .find(&id)
                        .select(User::as_select())
                        .first(conn)
                        .await?;
                    drop(user);
                    return Ok(());
                }
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |c| {
                        users::table
                            .find(&id)
                            .select(User::as_select())
                            .first::<User>(c)
                            .await
                            .map(drop)
                    })
                    .await
                    .map_err(RepoError::from)
            }
        }
    }

    async fn write(&self) -> Result<(), RepoError> {
        use diesel_async::RunQueryDsl;
        let new = UserFactory::new().build();
        match self {
            Self::Db(db) => {
                db.write(move |c| UserRepository::create(c, &new).map(drop))
                    .await
            }
            Self::Async(pool) => {
                let mut conn = pool.get().await.unwrap();
                conn.transaction(async |c| {
                    c.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
                        .await?;
                    diesel::insert_into(users::table)
                        .values(&new)
                        .returning(User::as_returning())
                        .get_result::<User>(c)
                        .await
                        .map(drop)
                })
                .await
                .map_err(RepoError::from)
            }
        }
    }
}

/// Checks out `n` connections of `pool` at once (so it opens them all).
async fn futures_join_all(
    n: usize,
    pool: &Pool<AsyncPgConnection>,
) -> Vec<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>> {
    let mut handles = Vec::new();
    for _ in 0..n {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move { pool.get().await.unwrap() }));
    }
    let mut held = Vec::new();
    for handle in handles {
        held.push(handle.await.unwrap());
    }
    held
}

fn main() {
    let Some(admin) = std::env::var(URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
    else {
        println!(
            "{URL_VAR} is not set: nothing to measure. Set it to a PostgreSQL URL whose user \
             may create databases, e.g. {URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres"
        );
        return;
    };
    let secs: u64 = std::env::var("PROMPTYARD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let window = Duration::from_secs(secs);

    let database = BenchDatabase::create(&admin);
    println!(
        "database {} ({secs} s a measurement)",
        database.database_url()
    );
    let ids: Arc<Vec<UserId>> = {
        let mut conn = database.conn();
        let applied = promptyard_repositories::migrations::apply_pending(&mut conn).unwrap();
        println!("applied {} migrations", applied.len());
        Arc::new(
            (0..USERS)
                .map(|_| UserFactory::new().insert(&mut conn).id)
                .collect(),
        )
    };

    println!();
    println!("| round | what | reads/s | × baseline | writes/s | × baseline | errors |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for round in 1..=2 {
        let base_reads = baseline(&database, &ids, Op::Read, false, window);
        let base_writes = baseline(&database, &ids, Op::Write, false, window);
        let tx_reads = baseline(&database, &ids, Op::Read, true, window);
        println!(
            "| {round} | baseline: one `PgConnection`, one thread, bare read | {base_reads:.0} | 1.00 | {base_writes:.0} | 1.00 | 0 |"
        );
        println!(
            "| {round} | baseline, read in a transaction | {tx_reads:.0} | {:.2} | | | 0 |",
            tx_reads / base_reads
        );
        let mut kinds = [Kind::Db, Kind::Db8Readers, Kind::Async, Kind::AsyncBareRead];
        if round == 2 {
            kinds.reverse();
        }
        for kind in kinds {
            let (reads, read_errors) = measure(&database, &ids, kind, Op::Read, window);
            let (writes, write_errors) = if matches!(kind, Kind::AsyncBareRead | Kind::Db8Readers) {
                (None, 0)
            } else {
                let (writes, errors) = measure(&database, &ids, kind, Op::Write, window);
                (Some(writes), errors)
            };
            let writes = writes.map_or_else(
                || "| |".to_owned(),
                |w| format!("{w:.0} | {:.2} |", w / base_writes),
            );
            println!(
                "| {round} | {} | {reads:.0} | {:.2} | {writes} {} |",
                kind.label(),
                reads / base_reads,
                read_errors + write_errors
            );
        }
    }
    drop(database);
}

fn baseline(
    database: &BenchDatabase,
    ids: &[UserId],
    op: Op,
    read_in_transaction: bool,
    window: Duration,
) -> f64 {
    common::one_connection_rate(&mut database.conn(), ids, op, read_in_transaction, window)
}

fn measure(
    database: &BenchDatabase,
    ids: &Arc<Vec<UserId>>,
    kind: Kind,
    op: Op,
    window: Duration,
) -> (f64, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = rt.block_on(Backend::open(kind, database));
    let ops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let timer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(window);
            stop.store(true, Ordering::Relaxed);
        })
    };
    rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let (backend, ids, ops, errors, stop) = (
                backend.clone(),
                Arc::clone(ids),
                Arc::clone(&ops),
                Arc::clone(&errors),
                Arc::clone(&stop),
            );
            handles.push(tokio::spawn(async move {
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let result = match op {
                        Op::Read => backend.read(kind, ids[i % ids.len()].clone()).await,
                        Op::Write => backend.write().await,
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
    });
    timer.join().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    // Close the connections before the next measurement opens its own.
    drop(backend);
    drop(rt);
    (
        ops.load(Ordering::Relaxed) as f64 / elapsed,
        errors.load(Ordering::Relaxed),
    )
}
