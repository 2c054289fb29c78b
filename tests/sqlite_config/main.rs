//! SQLite configuration: the production PRAGMAs hold on every connection of
//! both pools and of the test fixtures, on temp-file databases, and foreign
//! keys are really enforced.
//!
//! These tests fail if any PRAGMA is dropped from
//! `promptyard_db_models::configure_connection`, the one function that sets
//! them.
//!
//! They are about SQLite itself, so they run on SQLite databases
//! (`TestDb::sqlite`) even when `PROMPTYARD_TEST_POSTGRES_URL` sends the
//! rest of the suite to PostgreSQL.

use std::sync::{Arc, Barrier};

use diesel::SqliteConnection;
use diesel::prelude::*;
use promptyard_repositories::{Db, RepoError, SessionRepository};
use promptyard_test_support::factories::new_id;
use promptyard_test_support::{AsSqlite, SessionFactory, TestDb, pragma};

const READERS: usize = 4;

#[derive(Debug, PartialEq, Eq)]
struct Pragmas {
    foreign_keys: String,
    journal_mode: String,
    synchronous: String,
    busy_timeout: i64,
    query_only: String,
    journal_size_limit: String,
}

fn pragmas(conn: &mut impl AsSqlite) -> Pragmas {
    Pragmas {
        foreign_keys: pragma(conn, "foreign_keys"),
        journal_mode: pragma(conn, "journal_mode"),
        synchronous: pragma(conn, "synchronous"),
        busy_timeout: pragma(conn, "busy_timeout").parse().expect("a number"),
        query_only: pragma(conn, "query_only"),
        journal_size_limit: pragma(conn, "journal_size_limit"),
    }
}

fn assert_production(p: &Pragmas, role: &str) {
    assert_eq!(p.foreign_keys, "1", "{role}: foreign_keys");
    assert_eq!(p.journal_mode, "wal", "{role}: journal_mode");
    assert_eq!(p.synchronous, "1", "{role}: synchronous must be NORMAL (1)");
    assert!(
        p.busy_timeout > 0,
        "{role}: busy_timeout {}",
        p.busy_timeout
    );
    assert_eq!(
        p.journal_size_limit,
        promptyard_db_models::connection::JOURNAL_SIZE_LIMIT.to_string(),
        "{role}: journal_size_limit"
    );
}

/// Runs a read on every reader at once: each closure waits at a barrier
/// sized to the pool, so all of them hold distinct connections together.
async fn on_every_reader(db: &Db) -> Vec<Pragmas> {
    let barrier = Arc::new(Barrier::new(READERS));
    let tasks: Vec<_> = (0..READERS)
        .map(|_| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                db.read(move |conn| {
                    barrier.wait();
                    Ok::<_, RepoError>(pragmas(conn))
                })
                .await
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.expect("join").expect("read"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_connection_has_the_production_pragmas_and_refuses_writes() {
    let test_db = TestDb::sqlite();
    let db = test_db.db_with(|config| config.with_readers(READERS));

    let readers = on_every_reader(&db).await;

    assert_eq!(readers.len(), READERS);
    for (i, p) in readers.iter().enumerate() {
        assert_production(p, &format!("reader {i}"));
        assert_eq!(p.query_only, "1", "reader {i}: query_only");
    }
}

#[tokio::test]
async fn the_writer_connection_has_the_production_pragmas() {
    let test_db = TestDb::sqlite();
    let db = test_db.db();

    let writer = db
        .write(|conn| Ok::<_, RepoError>(pragmas(conn)))
        .await
        .expect("write");

    assert_production(&writer, "writer");
    assert_eq!(writer.query_only, "0", "the writer writes");
}

#[test]
fn test_fixture_connections_have_the_production_pragmas() {
    let test_db = TestDb::sqlite();
    let p = pragmas(&mut test_db.conn());
    assert_production(&p, "fixture");
}

#[test]
fn wal_mode_is_recorded_in_the_file_itself() {
    let test_db = TestDb::sqlite();
    // A bare connection that sets no PRAGMA still finds the file in WAL mode.
    let mut bare = SqliteConnection::establish(test_db.url()).expect("open");
    assert_eq!(pragma(&mut bare, "journal_mode"), "wal");
}

#[test]
fn configuring_a_bare_connection_sets_every_pragma() {
    // The other PRAGMAs are per connection, so every connection must get them
    // from `configure_connection`. Start from a bare connection on a fresh
    // file with each of them off (bundled SQLite turns foreign keys on by
    // default, so turn them off first): each assertion below fails if its
    // PRAGMA is dropped from the function.
    let test_db = TestDb::empty();
    let fresh = test_db.dir().join("fresh.db");
    let mut conn = SqliteConnection::establish(fresh.to_str().expect("utf-8")).expect("open");
    diesel::sql_query("PRAGMA foreign_keys = OFF")
        .execute(&mut conn)
        .expect("off");
    let before = pragmas(&mut conn);
    assert_eq!(
        (
            before.foreign_keys.as_str(),
            before.journal_mode.as_str(),
            before.synchronous.as_str(),
            before.busy_timeout
        ),
        ("0", "delete", "2", 0),
        "SQLite's own defaults"
    );

    promptyard_db_models::configure_connection(
        &mut conn,
        &promptyard_db_models::ConnectionOptions::read_write(),
    )
    .expect("configure");

    let after = pragmas(&mut conn);
    assert_production(&after, "configured");
    assert_eq!(after.query_only, "0");
}

#[tokio::test]
async fn a_session_for_a_missing_user_is_refused_by_the_foreign_key() {
    let test_db = TestDb::sqlite();
    let db = test_db.db();
    let orphan = SessionFactory::for_user_id(&new_id().into()).build();

    let err = db
        .write(move |conn| SessionRepository::create(conn, &orphan))
        .await
        .expect_err("no such user");

    assert!(matches!(err, RepoError::ForeignKeyViolation), "{err:?}");
    let mut conn = test_db.conn();
    let check: Vec<(String,)> = diesel::sql_query("PRAGMA foreign_key_check")
        .load::<FkRow>(&mut conn)
        .expect("check")
        .into_iter()
        .map(|r| (r.table,))
        .collect();
    assert!(check.is_empty(), "{check:?}");
}

#[derive(QueryableByName)]
struct FkRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
}
