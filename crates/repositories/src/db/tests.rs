use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use promptyard_test_support::{TestDb, UserFactory, pragma};

use super::*;
use crate::UserRepository;
use crate::error::Unavailable;

fn open(test_db: &TestDb) -> Db {
    Db::open(DbConfig::new(test_db.url())).expect("open Db")
}

fn count_users(conn: &mut SqliteConnection) -> Result<i64, RepoError> {
    UserRepository::count(conn)
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("refused by the application")]
    Refused,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[tokio::test]
async fn a_committed_write_is_visible_to_the_next_read() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let new = UserFactory::new().build();
    let id = new.id.clone();

    db.write(move |conn| UserRepository::create(conn, &new))
        .await
        .expect("write");
    let found = db
        .read(move |conn| UserRepository::get_by_id(conn, &id))
        .await;

    assert!(found.is_ok(), "{found:?}");
}

#[tokio::test]
async fn a_failed_write_is_rolled_back_and_the_callers_error_comes_back() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let new = UserFactory::new().build();

    let result: Result<(), AppError> = db
        .write(move |conn| {
            UserRepository::create(conn, &new)?;
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
    let new = UserFactory::new().build();

    let err = db
        .read(move |conn| UserRepository::create(conn, &new))
        .await
        .expect_err("readers are query_only");

    assert!(
        matches!(
            err,
            RepoError::Unavailable {
                reason: Unavailable::ReadOnly,
                ..
            }
        ),
        "{err:?}"
    );
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
    let new = UserFactory::new().build();
    db.write(move |conn| UserRepository::create(conn, &new))
        .await
        .expect("write");
    written_tx.send(()).expect("signal");

    let (before, after) = reader.await.expect("join").expect("read");
    assert_eq!((before, after), (0, 0), "the read kept its snapshot");
    assert_eq!(db.read(count_users).await.expect("count"), 1);
}

#[tokio::test]
async fn a_panicking_closure_is_an_unexpected_error_that_leaves_the_pool_usable() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let new = UserFactory::new().build();

    let err = db
        .write(move |conn| -> Result<(), RepoError> {
            UserRepository::create(conn, &new)?;
            panic!("bug in a closure");
        })
        .await
        .expect_err("panic");

    assert!(matches!(err, RepoError::Unexpected(_)), "{err:?}");
    assert!(
        std::error::Error::source(&err)
            .expect("cause")
            .to_string()
            .contains("bug in a closure")
    );
    assert_eq!(db.read(count_users).await.expect("count"), 0, "rolled back");
    let new = UserFactory::new().build();
    db.write(move |conn| UserRepository::create(conn, &new))
        .await
        .expect("the writer still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_longer_than_the_acquire_timeout_is_unavailable() {
    let test_db = TestDb::new();
    let db = Db::open(
        DbConfig::new(test_db.url())
            .with_readers(1)
            .with_acquire_timeout(Duration::from_millis(50)),
    )
    .expect("open");
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let holder = tokio::spawn({
        let db = db.clone();
        async move {
            db.read(move |_| {
                held_tx.send(()).expect("signal");
                release_rx.recv().expect("wait");
                Ok::<_, RepoError>(())
            })
            .await
        }
    });
    tokio::task::spawn_blocking(move || held_rx.recv())
        .await
        .expect("join")
        .expect("held");

    let err = db.read(count_users).await.expect_err("no reader free");

    assert!(
        matches!(
            err,
            RepoError::Unavailable {
                reason: Unavailable::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    release_tx.send(()).expect("release");
    holder.await.expect("join").expect("holder");
    assert_eq!(db.read(count_users).await.expect("free again"), 0);
}

#[tokio::test]
async fn writes_are_served_in_the_order_they_arrive() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let order = Arc::new(Mutex::new(Vec::new()));

    let blocker = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(move |_| {
                release_rx.recv().expect("wait");
                Ok::<_, RepoError>(())
            })
            .await
        }
    });
    tokio::task::yield_now().await;
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
    release_tx.send(()).expect("release");

    blocker.await.expect("join").expect("blocker");
    for task in queued {
        task.await.expect("join").expect("write");
    }
    assert_eq!(*order.lock().expect("lock"), (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_gave_up_still_commits_and_frees_the_writer() {
    let test_db = TestDb::new();
    let db = open(&test_db);
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

    let next = UserFactory::new().build();
    db.write(move |conn| UserRepository::create(conn, &next))
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
    let db = Db::open(DbConfig::new(test_db.url()).with_busy_timeout(Duration::from_millis(50)))
        .expect("open");
    // Another process (here: another connection) holds the write lock.
    let mut other = test_db.conn();
    other.batch_execute("BEGIN IMMEDIATE").expect("lock");
    let new = UserFactory::new().build();

    let err = db
        .write(move |conn| UserRepository::create(conn, &new))
        .await
        .expect_err("locked out");

    assert!(
        matches!(
            err,
            RepoError::Unavailable {
                reason: Unavailable::Busy,
                ..
            }
        ),
        "{err:?}"
    );
    other.batch_execute("ROLLBACK").expect("unlock");
    let new = UserFactory::new().build();
    db.write(move |conn| UserRepository::create(conn, &new))
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

    assert!(
        std::error::Error::source(&err)
            .expect("cause")
            .to_string()
            .contains("non-string panic payload"),
        "{err:?}"
    );
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
    let new = UserFactory::new().build();
    db.write(move |conn| UserRepository::create(conn, &new))
        .await
        .expect("write");

    db.ping().await.expect("ping");
    db.checkpoint().await.expect("checkpoint");

    let wal = std::fs::metadata(format!("{}-wal", test_db.url())).expect("wal file");
    assert_eq!(wal.len(), 0, "TRUNCATE empties the WAL");
}

#[tokio::test]
async fn every_connection_gets_the_production_pragmas() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let pragmas = |conn: &mut SqliteConnection| {
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
    let err = Db::open(DbConfig::new(test_db.url()).with_readers(0)).expect_err("no readers");
    assert!(matches!(err, OpenDbError::NoReaders), "{err:?}");
}

#[test]
fn open_names_a_path_it_cannot_create() {
    let test_db = TestDb::new();
    let path = test_db.dir().join("missing/dir/x.db");
    let path = path.to_str().expect("utf-8");

    let err = Db::open(DbConfig::new(path)).expect_err("cannot create");

    assert!(matches!(err, OpenDbError::Open(_)), "{err:?}");
    assert!(err.to_string().contains(path), "{err}");
}

#[test]
fn debug_shows_the_configuration() {
    let test_db = TestDb::new();
    let db = Db::open(DbConfig::new(test_db.url()).with_readers(2)).expect("open");
    let shown = format!("{db:?}");
    assert!(
        shown.contains("readers: 2") && shown.contains(test_db.url()),
        "{shown}"
    );
}

/// Holds the writer inside a write of its own until the returned sender
/// sends (or is dropped).
async fn hold_the_writer(db: &Db) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(move |_| {
                let _ = held_tx.send(());
                let _ = release_rx.recv();
                Ok::<_, RepoError>(())
            })
            .await
            .expect("the holding write");
        }
    });
    held_rx.await.expect("the writer is held");
    (release_tx, holder)
}

/// Queues `write` behind a held writer; returns its task.
fn queue_write<T, E>(
    db: &Db,
    write: impl FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
) -> tokio::task::JoinHandle<Result<T, E>>
where
    T: Send + 'static,
    E: From<RepoError> + Send + 'static,
{
    let db = db.clone();
    tokio::spawn(async move { db.write(write).await })
}

async fn until_queued(db: &Db, writes: usize) {
    while db.queued().writes < writes {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn user_named(email: &str) -> impl FnOnce(&mut SqliteConnection) -> Result<(), RepoError> + use<> {
    let new = UserFactory::new().email(email).build();
    move |conn| UserRepository::create(conn, &new).map(|_| ())
}

fn emails(conn: &mut SqliteConnection) -> Result<Vec<String>, RepoError> {
    use promptyard_db_models::schema::users;
    users::table
        .select(users::email)
        .order(users::email)
        .load(conn)
        .map_err(RepoError::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_commit_as_one_transaction() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (release, holder) = hold_the_writer(&db).await;
    // The first write breaks a foreign key that is only checked at COMMIT
    // (PRAGMA defer_foreign_keys lasts until the transaction ends): if the
    // two shared one transaction, its COMMIT fails for both.
    let orphan = queue_write(&db, |conn| {
        conn.batch_execute(
            "PRAGMA defer_foreign_keys = ON; \
             INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) \
             VALUES ('s1', 'no such user', '{}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00')",
        )
        .map_err(RepoError::from)
    });
    until_queued(&db, 1).await;
    let innocent = queue_write(&db, user_named("ada@example.com"));
    until_queued(&db, 2).await;

    release.send(()).expect("release");
    holder.await.expect("join");

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
    db.write(user_named("grace@example.com"))
        .await
        .expect("the writer goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_in_a_batch_rolls_back_alone() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (release, holder) = hold_the_writer(&db).await;
    let before = queue_write(&db, user_named("ada@example.com"));
    until_queued(&db, 1).await;
    let failing = queue_write(&db, |conn| -> Result<(), AppError> {
        user_named("grace@example.com")(conn)?;
        Err(AppError::Refused)
    });
    until_queued(&db, 2).await;
    let after = queue_write(&db, user_named("linus@example.com"));
    until_queued(&db, 3).await;

    release.send(()).expect("release");
    holder.await.expect("join");

    before.await.expect("join").expect("before");
    let failing = failing.await.expect("join");
    assert!(matches!(failing, Err(AppError::Refused)), "{failing:?}");
    after.await.expect("join").expect("after");
    assert_eq!(
        db.read(emails).await.expect("emails"),
        ["ada@example.com", "linus@example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_batch_fails_the_writes_before_it_and_runs_those_after() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (release, holder) = hold_the_writer(&db).await;
    let before = queue_write(&db, user_named("ada@example.com"));
    until_queued(&db, 1).await;
    let panicking = queue_write(&db, |conn| -> Result<(), RepoError> {
        user_named("grace@example.com")(conn)?;
        panic!("bug in a write");
    });
    until_queued(&db, 2).await;
    let after = queue_write(&db, user_named("linus@example.com"));
    until_queued(&db, 3).await;

    release.send(()).expect("release");
    holder.await.expect("join");

    let before = before.await.expect("join");
    assert!(
        matches!(&before, Err(RepoError::Unexpected(e)) if e.to_string().contains("another write of its batch panicked")),
        "{before:?}"
    );
    let panicking = panicking.await.expect("join");
    assert!(
        matches!(&panicking, Err(RepoError::Unexpected(e)) if e.to_string().contains("bug in a write")),
        "{panicking:?}"
    );
    after.await.expect("join").expect("after");
    assert_eq!(
        db.read(emails).await.expect("emails"),
        ["linus@example.com"]
    );
    db.write(user_named("ken@example.com"))
        .await
        .expect("the fresh connection writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_writes_than_a_batch_holds_all_commit() {
    let test_db = TestDb::new();
    let db = open(&test_db);
    let (release, holder) = hold_the_writer(&db).await;
    let count = lanes::MAX_BATCH * 2 + 3;
    let writes: Vec<_> = (0..count)
        .map(|n| queue_write(&db, user_named(&format!("user{n}@example.com"))))
        .collect();
    until_queued(&db, count).await;

    release.send(()).expect("release");
    holder.await.expect("join");

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
async fn a_write_that_waited_longer_than_the_acquire_timeout_never_runs() {
    let test_db = TestDb::new();
    let db = Db::open(DbConfig::new(test_db.url()).with_acquire_timeout(Duration::from_millis(50)))
        .expect("open");
    let (release, holder) = hold_the_writer(&db).await;

    let err = db
        .write(user_named("ada@example.com"))
        .await
        .expect_err("the writer is held");

    assert!(
        matches!(
            err,
            RepoError::Unavailable {
                reason: Unavailable::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    release.send(()).expect("release");
    holder.await.expect("join");
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
    for idle in [Some(Duration::from_millis(50)), None] {
        let test_db = TestDb::new();
        let db = Db::open(DbConfig::new(test_db.url()).with_idle_checkpoint(idle)).expect("open");
        let wal = std::path::PathBuf::from(format!("{}-wal", test_db.url()));
        let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        db.write(|conn| {
            conn.batch_execute("CREATE TABLE scratch (b BLOB)")
                .map_err(RepoError::from)
        })
        .await
        .expect("table");

        let burst: Vec<_> = (0..200)
            .map(|_| {
                queue_write(&db, |conn| {
                    conn.batch_execute("INSERT INTO scratch VALUES (randomblob(16384))")
                        .map_err(RepoError::from)
                })
            })
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
