//! Promptyard's migrations held to the checks of
//! `promptyard_test_support::migrations`: one head, up and down from empty
//! to head and back, every down undoing its up exactly, `schema.rs` equal to
//! the live schema, schema invariants, and data that survives upgrades.
//!
//! Nothing here names a migration except the data tests: a new migration is
//! held to every other check as soon as its folder exists.
//!
//! Every check but the invariants (PRAGMAs) runs on SQLite, then on
//! PostgreSQL when `PROMPTYARD_TEST_POSTGRES_URL` is set: each test loops
//! over [`Db::empty_on_each_backend`] (a line on stderr says when
//! PostgreSQL was skipped) and runs its body with [`with_conn!`], on that
//! backend's connection and migrations.

// Before the modules, so they may use it.
/// Runs `$body` with `$conn` a `&mut` connection of `$db`'s own type
/// (`SqliteConnection` or `PgConnection`) and `$migrations` that backend's
/// embedded migrations: a body written once, type-checked for each.
macro_rules! with_conn {
    ($db:expr, |$conn:ident, $migrations:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite(test_db) => {
                let $conn = &mut test_db.sqlite_conn();
                let $migrations = promptyard_db_models::MIGRATIONS;
                $body
            }
            $crate::Db::Postgres(database) => {
                let $conn = &mut database.conn();
                let $migrations = promptyard_db_models::POSTGRES_MIGRATIONS;
                $body
            }
        }
    };
}

mod data;
mod migrations;
mod schema_consistency;

use std::path::{Path, PathBuf};

use promptyard_db_models::DbConn;
use promptyard_test_support::TestDb;
use promptyard_test_support::migrations::{Findings, migrate_to, migrate_to_head};
use promptyard_test_support::postgres::{POSTGRES_URL_VAR, PgTestDatabase, admin_url};

/// An empty database (no migration applied) on one backend.
#[derive(Debug)]
pub(crate) enum Db {
    Sqlite(TestDb),
    Postgres(PgTestDatabase),
}

impl Db {
    /// An empty SQLite database, and an empty PostgreSQL one when
    /// `PROMPTYARD_TEST_POSTGRES_URL` is set (else `test` says on stderr
    /// that PostgreSQL was skipped).
    pub(crate) fn empty_on_each_backend(test: &str) -> Vec<Self> {
        let mut databases = vec![Self::Sqlite(TestDb::empty())];
        match admin_url() {
            Some(admin) => databases.push(Self::Postgres(PgTestDatabase::empty(&admin))),
            None => eprintln!("{test}: {POSTGRES_URL_VAR} is not set: PostgreSQL skipped"),
        }
        databases
    }

    /// `"SQLite"` or `"PostgreSQL"`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// A connection as the repositories take it.
    pub(crate) fn conn(&self) -> DbConn {
        match self {
            Self::Sqlite(test_db) => test_db.conn(),
            Self::Postgres(database) => DbConn::Postgres(database.conn()),
        }
    }

    /// Applies this backend's migrations up to `version` included.
    pub(crate) fn migrate_to(&self, version: &str) {
        with_conn!(self, |conn, migrations| migrate_to(
            conn,
            &migrations,
            version
        ))
        .unwrap_or_else(|f| self.fail(&f));
    }

    /// Applies every pending migration of this backend.
    pub(crate) fn migrate_to_head(&self) {
        with_conn!(self, |conn, migrations| migrate_to_head(conn, migrations))
            .unwrap_or_else(|f| self.fail(&f));
    }

    /// Panics with `findings`, naming the backend.
    pub(crate) fn fail(&self, findings: &Findings) -> ! {
        panic!("on {}:\n{findings}", self.name())
    }
}

/// The repository's SQLite migrations, `migrations/sqlite/`.
pub(crate) fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite")
}

/// The repository's PostgreSQL migrations, `migrations/postgres/`.
pub(crate) fn postgres_migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres")
}

/// Migrations that may have no working `down.sql`. Empty: every Promptyard
/// migration is reversible.
pub(crate) const IRREVERSIBLE: &[&str] = &[];
