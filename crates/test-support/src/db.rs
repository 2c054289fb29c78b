//! [`TestDb`]: one isolated database per test, on SQLite, or on PostgreSQL
//! when `PROMPTYARD_TEST_POSTGRES_URL` is set (see [`postgres`](crate::postgres)).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use promptyard_db_models::connection::ConnectionOptions;
use promptyard_db_models::{Backend, DatabaseUrl, DbConn, MIGRATIONS, MIGRATIONS_DIGEST};
use promptyard_repositories::{Db, DbConfig};
use tempfile::TempDir;

/// A SQLite database on a temp file, in WAL mode, configured with the
/// production PRAGMAs, migrated to head (or empty, see [`TestDb::empty`]).
///
/// The temp directory holding the file and its `-wal`/`-shm` files is removed
/// when the `TestDb` is dropped. Drop anything that uses the database (a
/// [`Db`], an app) before it: keep the `TestDb` as the last field of a test
/// struct.
///
/// Migrating is done once per version of `migrations/`: the first test to
/// need it migrates a template database in the system temp directory, named
/// after the digest of the migrations, and every test copies that file. The
/// template is written under a temporary name and renamed into place, so
/// tests running in parallel processes (nextest) never see a half-built
/// one; each copy still applies any pending migration, so a stale template
/// cannot go unnoticed. This works the same under `cargo test` and
/// `cargo nextest`.
///
/// With `PROMPTYARD_TEST_POSTGRES_URL` set, [`TestDb::new`] is a PostgreSQL
/// database instead, copied from a migrated template database and dropped
/// with the `TestDb`: the suite's real-database tests run on either
/// backend. [`TestDb::sqlite`] and [`TestDb::empty`] are always SQLite, for
/// what only SQLite has (PRAGMAs, WAL, files).
#[derive(Debug)]
pub struct TestDb {
    path: PathBuf,
    url: String,
    // Dropped before `dir`: the database goes, then the directory.
    postgres: Option<crate::postgres::PgTestDatabase>,
    dir: TempDir,
}

impl TestDb {
    /// A database migrated to the latest migration: PostgreSQL when
    /// `PROMPTYARD_TEST_POSTGRES_URL` is set, else SQLite.
    pub fn new() -> Self {
        match crate::postgres::PgTestDatabase::from_env() {
            Some(database) => {
                let mut test_db = Self::blank();
                test_db.url = database.url().to_owned();
                test_db.postgres = Some(database);
                test_db
            }
            None => Self::sqlite(),
        }
    }

    /// A SQLite database migrated to the latest migration, whatever the
    /// environment says.
    pub fn sqlite() -> Self {
        let test_db = Self::blank();
        std::fs::copy(template(), &test_db.path).expect("copy the template database");
        test_db
            .conn()
            .run_pending_migrations(MIGRATIONS)
            .expect("migrate the copied template");
        test_db
    }

    /// A database migrated from scratch, without the template (the baseline
    /// the template is measured against).
    pub fn migrated_from_scratch() -> Self {
        let test_db = Self::empty();
        test_db
            .conn()
            .run_pending_migrations(MIGRATIONS)
            .expect("migrate");
        test_db
    }

    /// An empty database in WAL mode, with no migration applied.
    pub fn empty() -> Self {
        let test_db = Self::blank();
        drop(test_db.conn());
        test_db
    }

    fn blank() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("promptyard-test-")
            .tempdir()
            .expect("create a temp dir");
        let path = dir.path().join("promptyard.db");
        let url = path
            .to_str()
            .expect("temp paths are UTF-8 on the platforms we test on")
            .to_owned();
        Self {
            path,
            url,
            postgres: None,
            dir,
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        if self.postgres.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The database file (SQLite; on PostgreSQL, a path in [`dir`](Self::dir)
    /// where no file is).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database as `PROMPTYARD_DATABASE_URL` takes it: the SQLite
    /// file's path, or the PostgreSQL database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory holding the database file (and nothing else but its
    /// `-wal`/`-shm` files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new read-write connection, configured like every production one,
    /// as the repositories take it.
    pub fn conn(&self) -> DbConn {
        match &self.postgres {
            Some(database) => DbConn::Postgres(database.conn()),
            None => DbConn::Sqlite(self.sqlite_conn()),
        }
    }

    /// The same connection as SQLite's own, for what only SQLite has
    /// (PRAGMAs, `sqlite_schema`, the migration checks).
    ///
    /// # Panics
    /// On a PostgreSQL `TestDb`: such a test should use [`TestDb::sqlite`].
    pub fn sqlite_conn(&self) -> SqliteConnection {
        assert!(
            self.postgres.is_none(),
            "a SQLite-only check on a PostgreSQL TestDb: use TestDb::sqlite()"
        );
        promptyard_db_models::open(&self.url, &ConnectionOptions::read_write())
            .expect("open the test database")
    }

    /// The server's [`Db`] (writer + 4 readers) on this database.
    pub fn db(&self) -> Db {
        self.db_with(|config| config)
    }

    /// A [`Db`] on this database with a tweaked configuration.
    pub fn db_with(&self, tweak: impl FnOnce(DbConfig) -> DbConfig) -> Db {
        let url = DatabaseUrl::parse(&self.url).expect("a test database URL");
        Db::open(tweak(DbConfig::for_url(url))).expect("open Db on the test database")
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

/// The migrated template for this build's migrations, built on first use.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = std::env::temp_dir().join("promptyard-test-templates");
        std::fs::create_dir_all(&dir).expect("create the template directory");
        let path = dir.join(format!("{MIGRATIONS_DIGEST}.db"));
        if !path.exists() {
            build_template(&dir, &path);
        }
        path
    })
}

fn build_template(dir: &Path, path: &Path) {
    let building = tempfile::Builder::new()
        .prefix(".building-")
        .suffix(".db")
        .tempfile_in(dir)
        .expect("create the template file");
    let url = building
        .path()
        .to_str()
        .expect("UTF-8 temp path")
        .to_owned();
    {
        let mut conn = promptyard_db_models::open(&url, &ConnectionOptions::read_write())
            .expect("open the template");
        conn.run_pending_migrations(MIGRATIONS)
            .expect("migrate the template");
        // Everything into the main file, so the file alone is the database.
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint the template");
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{url}{suffix}"));
    }
    building
        .persist(path)
        .expect("move the template into place");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pragma;

    // These check the SQLite files (WAL, sqlite_schema) and run on SQLite
    // whatever the environment; postgres.rs checks PostgreSQL's databases.

    #[test]
    fn a_test_db_is_a_migrated_wal_file() {
        let test_db = TestDb::sqlite();
        let mut conn = test_db.conn();

        assert_eq!(pragma(&mut conn, "journal_mode"), "wal");
        assert!(!conn.has_pending_migration(MIGRATIONS).expect("check"));
        assert!(test_db.path().is_file());
    }

    #[test]
    fn dropping_a_test_db_removes_its_file_and_wal_files() {
        let test_db = TestDb::sqlite();
        let conn = test_db.conn();
        let dir = test_db.dir().to_owned();
        let wal = PathBuf::from(format!("{}-wal", test_db.url()));
        assert!(wal.exists(), "an open WAL connection has a -wal file");

        drop(conn);
        drop(test_db);

        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn each_test_db_is_isolated() {
        let a = TestDb::sqlite();
        let b = TestDb::sqlite();
        a.conn()
            .batch_execute("CREATE TABLE only_in_a (x INTEGER)")
            .expect("create");

        let tables_in_b: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM sqlite_schema WHERE name = 'only_in_a')",
        ))
        .get_result(&mut b.conn())
        .expect("count");
        assert_eq!(tables_in_b, 0);
        assert_ne!(a.path(), b.path());
    }

    #[test]
    fn an_empty_test_db_is_wal_without_migrations() {
        let test_db = TestDb::empty();
        let mut conn = test_db.conn();
        assert_eq!(pragma(&mut conn, "journal_mode"), "wal");
        let applied = conn.applied_migrations().expect("applied");
        assert!(applied.is_empty());
    }

    #[test]
    fn migrating_from_scratch_gives_the_same_schema_as_the_template() {
        let schema = |test_db: &TestDb| -> Vec<String> {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "(SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name))",
            ))
            .get_results(&mut test_db.conn())
            .expect("schema")
        };
        assert_eq!(
            schema(&TestDb::sqlite()),
            schema(&TestDb::migrated_from_scratch())
        );
    }
}
