use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use promptyard_db_models::models::NewUser;
use promptyard_test_support::{TestDb, UserFactory, pragma};

use super::*;
use crate::UserRepository;
use crate::error::Unavailable;

fn open(test_db: &TestDb) -> Db {
    db_with(test_db, |config| config)
}

/// A [`Db`] on `test_db`, whatever its backend, configured by `tweak`
/// (`TestDb::db_with`, for this crate's own `Db`: test-support's is
/// another build of this crate).
fn db_with(test_db: &TestDb, tweak: impl FnOnce(DbConfig) -> DbConfig) -> Db {
    let url = DatabaseUrl::parse(test_db.url()).expect("a test database URL");
    Db::open(tweak(DbConfig::for_url(url))).expect("open Db")
}

/// A [`Db`] on `test_db` configured by `tweak`, with ONE writer whatever
/// the backend: on PostgreSQL the writers are as many as the readers, so
/// it gets one reader too. For the tests that hold "the writer".
fn one_writer(test_db: &TestDb, tweak: impl FnOnce(DbConfig) -> DbConfig) -> Db {
    db_with(test_db, |config| {
        let config = tweak(config);
        match config.url.backend() {
            Backend::Sqlite => config,
            Backend::Postgres => config.with_readers(1),
        }
    })
}

fn count_users(conn: &mut DbConn) -> Result<i64, RepoError> {
    UserRepository::count(conn)
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("refused by the application")]
    Refused,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A closure that inserts `new`.
fn insert(new: NewUser) -> impl FnOnce(&mut DbConn) -> Result<(), RepoError> + use<> {
    move |conn| UserRepository::create(conn, &new).map(drop)
}

/// A closure that inserts a user made by [`UserFactory`].
fn a_user() -> impl FnOnce(&mut DbConn) -> Result<(), RepoError> + use<> {
    insert(UserFactory::new().build())
}

fn user_named(email: &str) -> impl FnOnce(&mut DbConn) -> Result<(), RepoError> + use<> {
    insert(UserFactory::new().email(email).build())
}

/// A closure that runs `statements`.
fn sql(statements: &'static str) -> impl FnOnce(&mut DbConn) -> Result<(), RepoError> {
    move |conn| conn.batch_execute(statements).map_err(RepoError::from)
}

fn emails(conn: &mut DbConn) -> Result<Vec<String>, RepoError> {
    use promptyard_db_models::schema::users;
    users::table
        .select(users::email)
        .order(users::email)
        .load(conn)
        .map_err(RepoError::from)
}

/// The message of the error `err` wraps.
fn cause(err: &RepoError) -> String {
    std::error::Error::source(err).expect("cause").to_string()
}

#[track_caller]
fn assert_unavailable(err: &RepoError, reason: Unavailable) {
    assert!(
        matches!(err, RepoError::Unavailable { reason: r, .. } if *r == reason),
        "{err:?}"
    );
}

/// The connections a closure can run on.
#[derive(Debug, Clone, Copy)]
enum Lane {
    Reader,
    Writer,
}

impl Lane {
    /// Runs `f` on this lane: [`Db::read`] or [`Db::write`].
    async fn run<T, E, F>(self, db: &Db, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<RepoError> + Send + 'static,
    {
        match self {
            Self::Reader => db.read(f).await,
            Self::Writer => db.write(f).await,
        }
    }
}

/// A connection held inside a closure of its own until [`Held::release`].
struct Held {
    release: mpsc::Sender<()>,
    holder: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Lets the closure end and waits for it.
    async fn release(self) {
        self.release.send(()).expect("release");
        self.holder.await.expect("join");
    }
}

/// Holds a connection of `lane` (the writer, or one reader) once it has
/// taken the holding closure.
async fn hold(db: &Db, lane: Lane) -> Held {
    let (release, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let db = db.clone();
    let holder = tokio::spawn(async move {
        lane.run(&db, move |_| {
            let _ = held_tx.send(());
            let _ = release_rx.recv();
            Ok::<_, RepoError>(())
        })
        .await
        .expect("the holding closure");
    });
    held_rx.await.expect("the connection is held");
    Held { release, holder }
}

/// Queues `write` (behind a held writer); returns its task.
fn queue_write<T, E>(
    db: &Db,
    write: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
) -> tokio::task::JoinHandle<Result<T, E>>
where
    T: Send + 'static,
    E: From<RepoError> + Send + 'static,
{
    let db = db.clone();
    tokio::spawn(async move { db.write(write).await })
}

/// Waits until `writes` writes are queued; fails after 10 s (a write that
/// is never counted as queued is a bug, not a slow machine).
async fn until_queued(db: &Db, writes: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while db.queued().writes < writes {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{writes} writes never queued: {:?}", db.queued()));
}

/// Queues `write` behind a held writer and waits until it is in the queue,
/// so the writes queued one after another are taken in that order.
async fn queue_in_turn<E>(
    db: &Db,
    write: impl FnOnce(&mut DbConn) -> Result<(), E> + Send + 'static,
) -> tokio::task::JoinHandle<Result<(), E>>
where
    E: From<RepoError> + Send + 'static,
{
    let ahead = db.queued().writes;
    let task = queue_write(db, write);
    until_queued(db, ahead + 1).await;
    task
}

/// Queues behind a held writer a write of ada, a write of grace that ends
/// with `then`, and a write of linus, so that the writer takes the three in
/// one batch; returns their results.
async fn batch_around<E>(
    db: &Db,
    then: impl FnOnce() -> Result<(), E> + Send + 'static,
) -> (Result<(), RepoError>, Result<(), E>, Result<(), RepoError>)
where
    E: From<RepoError> + Send + 'static,
{
    let held = hold(db, Lane::Writer).await;
    let before = queue_in_turn(db, user_named("ada@example.com")).await;
    let grace = user_named("grace@example.com");
    let middle = queue_in_turn(db, move |conn| {
        grace(conn)?;
        then()
    })
    .await;
    let after = queue_in_turn(db, user_named("linus@example.com")).await;
    held.release().await;
    (
        before.await.expect("join"),
        middle.await.expect("join"),
        after.await.expect("join"),
    )
}

/// Holds the connection(s) of `lane`, checks that `queued` waits for one
/// longer than the acquire timeout and fails with [`Unavailable::Timeout`],
/// then lets the connection go.
async fn times_out<T: fmt::Debug + Send + 'static>(
    db: &Db,
    lane: Lane,
    queued: impl FnOnce(&mut DbConn) -> Result<T, RepoError> + Send + 'static,
) {
    let held = hold(db, lane).await;
    let err = lane.run(db, queued).await.expect_err("no connection free");
    assert_unavailable(&err, Unavailable::Timeout);
    held.release().await;
}

#[tokio::test]
async fn a_committed_write_is_visible_to_the_next_read() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let new = UserFactory::new().build();
    let id = new.id.clone();

    db.write(insert(new)).await.expect("write");
    let found = db
        .read(move |conn| UserRepository::get_by_id(conn, &id))
        .await;

    assert!(found.is_ok(), "{found:?}");
}

#[tokio::test]
async fn a_failed_write_is_rolled_back_and_the_callers_error_comes_back() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let result: Result<(), AppError> = db
        .write(|conn| {
            a_user()(conn)?;
            Err(AppError::Refused)
        })
        .await;

    assert!(matches!(result, Err(AppError::Refused)), "{result:?}");
    assert_eq!(db.read(count_users).await.expect("count"), 0);
}

#[tokio::test]
async fn a_repository_error_inside_a_write_rolls_back_what_came_before() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let first = UserFactory::new().email("ada@example.com").build();
    let clash = UserFactory::new().email("ADA@example.com").build();

    let result = db
        .write(move |conn| {
            UserRepository::create(conn, &first)?;
            UserRepository::create(conn, &clash)
        })
        .await;

    assert!(
        matches!(result, Err(RepoError::UniqueViolation { .. })),
        "{result:?}"
    );
    assert_eq!(db.read(count_users).await.expect("count"), 0);
}

#[tokio::test]
async fn readers_refuse_to_write() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let err = db.read(a_user()).await.expect_err("readers are query_only");

    assert_unavailable(&err, Unavailable::ReadOnly);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sees_one_snapshot_while_a_write_commits() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (counted_tx, counted_rx) = mpsc::channel::<()>();
    let (written_tx, written_rx) = mpsc::channel::<()>();

    let reader = tokio::spawn({
        let db = db.clone();
        async move {
            db.read(move |conn| {
                let before = count_users(conn)?;
                counted_tx.send(()).expect("signal");
                written_rx.recv().expect("wait for the write");
                let after = count_users(conn)?;
                Ok::<_, RepoError>((before, after))
            })
            .await
        }
    });
    tokio::task::spawn_blocking(move || counted_rx.recv())
        .await
        .expect("join")
        .expect("reader counted");
    db.write(a_user()).await.expect("write");
    written_tx.send(()).expect("signal");

    let (before, after) = reader.await.expect("join").expect("read");
    assert_eq!((before, after), (0, 0), "the read kept its snapshot");
    assert_eq!(db.read(count_users).await.expect("count"), 1);
}

#[tokio::test]
async fn a_panicking_closure_is_an_unexpected_error_that_leaves_the_pool_usable() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let err = db
        .write(|conn| -> Result<(), RepoError> {
            a_user()(conn)?;
            panic!("bug in a closure");
        })
        .await
        .expect_err("panic");

    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
    assert!(cause(&err).contains("bug in a closure"), "{err:?}");
    assert_eq!(db.read(count_users).await.expect("count"), 0, "rolled back");
    db.write(a_user()).await.expect("the writer still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_longer_than_the_acquire_timeout_is_unavailable() {
    let test_db = TestDb::new();
    let db = db_with(&test_db, |config| {
        config
            .with_readers(1)
            .with_acquire_timeout(Duration::from_millis(50))
    });

    times_out(&db, Lane::Reader, count_users).await;

    assert_eq!(db.read(count_users).await.expect("free again"), 0);
}

#[tokio::test]
async fn writes_are_served_in_the_order_they_arrive() {
    let test_db = TestDb::new();
    let db = one_writer(&test_db, |config| config);
    let order = Arc::new(Mutex::new(Vec::new()));

    let held = hold(&db, Lane::Writer).await;
    let queued: Vec<_> = (0..20)
        .map(|i| {
            let db = db.clone();
            let order = Arc::clone(&order);
            tokio::spawn(async move {
                db.write(move |_| {
                    order.lock().expect("lock").push(i);
                    Ok::<_, RepoError>(())
                })
                .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    held.release().await;

    for task in queued {
        task.await.expect("join").expect("write");
    }
    assert_eq!(*order.lock().expect("lock"), (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_gave_up_still_commits_and_frees_the_writer() {
    let test_db = TestDb::new();
    let db = one_writer(&test_db, |config| config);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let new = UserFactory::new().build();
    let id = new.id.clone();

    let gave_up = tokio::time::timeout(
        Duration::from_millis(20),
        db.write(move |conn| {
            release_rx.recv().expect("wait");
            UserRepository::create(conn, &new)
        }),
    )
    .await;
    assert!(gave_up.is_err(), "the caller stopped waiting");
    release_tx.send(()).expect("release");

    db.write(a_user())
        .await
        .expect("the writer is free and not inside a transaction");
    let found = db
        .read(move |conn| UserRepository::get_by_id(conn, &id))
        .await;
    assert!(found.is_ok(), "the abandoned write committed: {found:?}");
    assert_eq!(db.read(count_users).await.expect("count"), 2);
}

#[tokio::test]
async fn a_write_blocked_by_another_process_beyond_the_busy_timeout_is_busy() {
    let test_db = TestDb::new();
    let db = db_with(&test_db, |config| {
        config.with_busy_timeout(Duration::from_millis(50))
    });
    // Another process (here: another connection) holds the write lock:
    // SQLite's one for the whole file; on PostgreSQL (whose busy timeout
    // is its lock_timeout), a lock on the table the write inserts into.
    let mut other = test_db.conn();
    let lock = match test_db.backend() {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN; LOCK TABLE users IN EXCLUSIVE MODE",
    };
    other.batch_execute(lock).expect("lock");

    let err = db.write(a_user()).await.expect_err("locked out");

    assert_unavailable(&err, Unavailable::Busy);
    other.batch_execute("ROLLBACK").expect("unlock");
    db.write(a_user())
        .await
        .expect("writes again once the lock is gone");
}

#[tokio::test]
async fn a_migration_that_fails_is_reported_and_applies_nothing() {
    let test_db = TestDb::empty();
    test_db
        .conn()
        .batch_execute("CREATE TABLE users (id TEXT)")
        .expect("a clashing table");
    let db = open(&test_db);

    let err = db.migrate().await.expect_err("users already exists");

    assert!(
        matches!(err, MigrateError::Repo(RepoError::Unexpected(_))),
        "{err:?}"
    );
    let applied = test_db.conn().applied_migrations().expect("applied");
    assert!(applied.is_empty(), "{applied:?}");
}

#[tokio::test]
async fn a_panic_with_any_payload_is_reported() {
    let test_db = TestDb::new();
    let db = open(&test_db);

    let err = db
        .read(|_| -> Result<(), RepoError> { std::panic::panic_any(42_u8) })
        .await
        .expect_err("panic");

    assert!(cause(&err).contains("non-string panic payload"), "{err:?}");
}

#[tokio::test]
async fn migrate_applies_pending_migrations_once() {
    let test_db = TestDb::empty();
    let db = open(&test_db);

    let applied = db.migrate().await.expect("migrate");
    let again = db.migrate().await.expect("migrate again");

    assert_eq!(
        applied.len(),
        diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(
            &promptyard_db_models::MIGRATIONS
        )
        .expect("embedded")
        .len()
    );
    assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(db.read(count_users).await.expect("tables exist"), 0);
}

#[tokio::test]
async fn ping_and_checkpoint_work_on_a_healthy_database() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    db.write(a_user()).await.expect("write");

    db.ping().await.expect("ping");
    db.checkpoint().await.expect("checkpoint");

    assert_eq!(db.read(count_users).await.expect("count"), 1);
}

#[tokio::test]
async fn ping_fails_when_the_file_is_no_longer_a_database() {
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    db.ping().await.expect("healthy first");

    // Another program overwrites the file (and its WAL) under the server.
    let garbage = vec![0xA5_u8; 64 * 1024];
    std::fs::write(test_db.path(), &garbage).expect("overwrite the database");
    let wal = format!("{}-wal", test_db.url());
    if std::path::Path::new(&wal).exists() {
        std::fs::write(&wal, &garbage).expect("overwrite the WAL");
    }

    let err = db.ping().await.expect_err("a file that is not a database");
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn a_checkpoint_truncates_the_wal() {
    // SQLite's WAL file.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    db.write(a_user()).await.expect("write");

    db.checkpoint().await.expect("checkpoint");

    let wal = std::fs::metadata(format!("{}-wal", test_db.url())).expect("wal file");
    assert_eq!(wal.len(), 0, "TRUNCATE empties the WAL");
}

#[tokio::test]
async fn every_connection_gets_the_production_pragmas() {
    // SQLite's PRAGMAs.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    let pragmas = |conn: &mut DbConn| {
        Ok::<_, RepoError>(
            ["journal_mode", "foreign_keys", "synchronous", "query_only"]
                .map(|name| pragma(conn, name)),
        )
    };

    let writer = db.write(pragmas).await.expect("writer");
    let reader = db.read(pragmas).await.expect("reader");

    assert_eq!(writer, ["wal", "1", "1", "0"]);
    assert_eq!(reader, ["wal", "1", "1", "1"]);
}

#[test]
fn open_refuses_an_empty_reader_pool() {
    let test_db = TestDb::new();
    let url = DatabaseUrl::parse(test_db.url()).expect("url");
    let err = Db::open(DbConfig::for_url(url).with_readers(0)).expect_err("no readers");
    assert!(matches!(err, OpenDbError::NoReaders), "{err:?}");
}

#[test]
fn open_names_a_path_it_cannot_create() {
    // A SQLite file's path.
    let test_db = TestDb::sqlite();
    let path = test_db.dir().join("missing/dir/x.db");
    let path = path.to_str().expect("utf-8");

    let err = Db::open(DbConfig::new(path)).expect_err("cannot create");

    assert!(matches!(err, OpenDbError::Open(_)), "{err:?}");
    assert!(err.to_string().contains(path), "{err}");
}

#[test]
fn debug_shows_the_configuration() {
    let test_db = TestDb::new();
    let db = db_with(&test_db, |config| config.with_readers(2));
    let shown = format!("{db:?}");
    assert!(
        shown.contains("readers: 2") && shown.contains(test_db.url()),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_commit_as_one_transaction() {
    // SQLite's group commit (PostgreSQL runs each write in a transaction of
    // its own, on several writers).
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    let held = hold(&db, Lane::Writer).await;
    // The first write breaks a foreign key that is only checked at COMMIT
    // (PRAGMA defer_foreign_keys lasts until the transaction ends): if the
    // two shared one transaction, its COMMIT fails for both.
    let orphan = queue_in_turn(
        &db,
        sql("PRAGMA defer_foreign_keys = ON; \
             INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) \
             VALUES ('s1', 'no such user', '{}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00')"),
    )
    .await;
    let innocent = queue_in_turn(&db, user_named("ada@example.com")).await;
    held.release().await;

    let orphan = orphan.await.expect("join");
    let innocent = innocent.await.expect("join");
    assert!(
        matches!(orphan, Err(RepoError::ForeignKeyViolation)),
        "{orphan:?}"
    );
    assert!(
        matches!(innocent, Err(RepoError::ForeignKeyViolation)),
        "it shared the failed commit: {innocent:?}"
    );
    assert_eq!(
        db.read(count_users).await.expect("count"),
        0,
        "nothing written"
    );
    db.write(a_user()).await.expect("the writer goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_in_a_batch_rolls_back_alone() {
    // SQLite's group commit.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);

    let (before, failing, after) = batch_around(&db, || Err(AppError::Refused)).await;

    before.expect("before");
    assert!(matches!(failing, Err(AppError::Refused)), "{failing:?}");
    after.expect("after");
    assert_eq!(
        db.read(emails).await.expect("emails"),
        ["ada@example.com", "linus@example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_batch_fails_the_writes_before_it_and_runs_those_after() {
    // SQLite's group commit.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);

    let (before, panicking, after) = batch_around(&db, || -> Result<(), RepoError> {
        panic!("bug in a write")
    })
    .await;

    assert!(
        matches!(&before, Err(RepoError::Unexpected(e)) if e.to_string().contains("another write of its batch panicked")),
        "{before:?}"
    );
    assert!(
        matches!(&panicking, Err(RepoError::Unexpected(e)) if e.to_string().contains("bug in a write")),
        "{panicking:?}"
    );
    after.expect("after");
    assert_eq!(
        db.read(emails).await.expect("emails"),
        ["linus@example.com"]
    );
    db.write(a_user())
        .await
        .expect("the fresh connection writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_writes_than_a_batch_holds_all_commit() {
    // SQLite's group commit.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    let held = hold(&db, Lane::Writer).await;
    let count = lanes::MAX_BATCH * 2 + 3;
    let writes: Vec<_> = (0..count)
        .map(|n| queue_write(&db, user_named(&format!("user{n}@example.com"))))
        .collect();
    until_queued(&db, count).await;

    held.release().await;

    for write in writes {
        write.await.expect("join").expect("write");
    }
    assert_eq!(
        db.read(count_users).await.expect("count"),
        i64::try_from(count).expect("small")
    );
    assert_eq!(db.queued(), Queued::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_at_most_max_batch_writes() {
    // SQLite's group commit.
    let test_db = TestDb::sqlite();
    let db = open(&test_db);
    let path = test_db.url().to_owned();
    let held = hold(&db, Lane::Writer).await;
    let count = lanes::MAX_BATCH * 2 + 3;
    // Each write counts the users another connection sees committed: the
    // same number for every write of one batch, the batches before it.
    let writes: Vec<_> = (0..count)
        .map(|n| {
            let (user, path) = (user_named(&format!("user{n}@example.com")), path.clone());
            queue_write(&db, move |conn| {
                user(conn)?;
                let mut outside = DbConn::Sqlite(
                    diesel::SqliteConnection::establish(&path).expect("another connection"),
                );
                count_users(&mut outside)
            })
        })
        .collect();
    until_queued(&db, count).await;

    held.release().await;

    let mut seen = Vec::new();
    for write in writes {
        seen.push(write.await.expect("join").expect("write"));
    }
    seen.sort_unstable();
    let batches: Vec<i64> = (0..count)
        .map(|n| i64::try_from(n / lanes::MAX_BATCH * lanes::MAX_BATCH).expect("small"))
        .collect();
    assert_eq!(seen, batches, "batches of {}", lanes::MAX_BATCH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_queued_behind_writes_runs_alone_after_their_commit() {
    // SQLite's WAL; no idle checkpoint, so only ours empties it.
    let test_db = TestDb::sqlite();
    let db = db_with(&test_db, |config| config.with_idle_checkpoint(None));
    let held = hold(&db, Lane::Writer).await;
    let write = queue_in_turn(&db, a_user()).await;
    let checkpoint = {
        let db = db.clone();
        tokio::spawn(async move { db.checkpoint().await })
    };
    until_queued(&db, 2).await;

    held.release().await;

    write.await.expect("join").expect("write");
    checkpoint
        .await
        .expect("join")
        .expect("a checkpoint outside any transaction");
    let wal = std::fs::metadata(format!("{}-wal", test_db.url())).expect("wal file");
    assert_eq!(wal.len(), 0, "it ran after the write's commit");
    assert_eq!(db.read(count_users).await.expect("count"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_waited_longer_than_the_acquire_timeout_never_runs() {
    let test_db = TestDb::new();
    let db = one_writer(&test_db, |config| {
        config.with_acquire_timeout(Duration::from_millis(50))
    });

    times_out(&db, Lane::Writer, user_named("ada@example.com")).await;

    db.write(user_named("grace@example.com"))
        .await
        .expect("the writer is free");
    assert_eq!(
        db.read(emails).await.expect("emails"),
        ["grace@example.com"],
        "the timed-out write never ran"
    );
}

#[tokio::test]
async fn nothing_is_queued_on_an_idle_database() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    assert_eq!(db.queued(), Queued::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_a_burst_of_writes_grew_shrinks_once_the_writer_is_idle() {
    // SQLite's WAL file.
    for idle in [Some(Duration::from_millis(50)), None] {
        let test_db = TestDb::sqlite();
        let db = db_with(&test_db, |config| config.with_idle_checkpoint(idle));
        let wal = std::path::PathBuf::from(format!("{}-wal", test_db.url()));
        let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        db.write(sql("CREATE TABLE scratch (b BLOB)"))
            .await
            .expect("table");

        let burst: Vec<_> = (0..200)
            .map(|_| queue_write(&db, sql("INSERT INTO scratch VALUES (randomblob(16384))")))
            .collect();
        for write in burst {
            write.await.expect("join").expect("write");
        }
        let grown = wal_size();
        assert!(
            grown > 1_000_000,
            "{idle:?}: the burst grew the WAL to {grown}"
        );

        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while wal_size() > 0 && std::time::Instant::now() < deadline && idle.is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if idle.is_some() {
            assert_eq!(wal_size(), 0, "truncated after 50 ms of idleness");
            assert_eq!(
                db.read(|conn| {
                    #[derive(QueryableByName)]
                    struct N {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        n: i64,
                    }
                    diesel::sql_query("SELECT count(*) AS n FROM scratch")
                        .get_result::<N>(conn)
                        .map(|r| r.n)
                        .map_err(RepoError::from)
                })
                .await
                .expect("count"),
                200,
                "nothing lost"
            );
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(wal_size(), grown, "without it the file keeps its size");
        }
    }
}
