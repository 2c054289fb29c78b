//! [`CheckConnection`]: what the checks need of a connection, for SQLite
//! and PostgreSQL alike.

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel::{PgConnection, QueryResult, SqliteConnection};
use diesel_migrations::MigrationHarness;

use super::schema_rs::{diesel_type_for, diesel_type_for_postgres};
use super::snapshot::SchemaSnapshot;

/// A connection the migration checks run on: it runs migrations of its
/// backend, reads its schema as a [`SchemaSnapshot`], and knows how
/// `diesel print-schema` maps its column types.
///
/// Implemented for [`SqliteConnection`] and [`PgConnection`]; every check
/// of [`migrations`](super) except
/// [`check_schema_invariants`](super::check_schema_invariants) (PRAGMAs)
/// takes either.
pub trait CheckConnection: MigrationHarness<Self::Db> {
    /// The backend migration sources are written for.
    type Db: Backend;

    /// The backend's name, for messages.
    const NAME: &'static str;

    /// The primary key `diesel print-schema` writes for a table that
    /// declares none (`rowid` on SQLite), if any.
    const IMPLICIT_PRIMARY_KEY: Option<&'static str>;

    /// The schema of the database behind this connection.
    fn capture_schema(&mut self) -> QueryResult<SchemaSnapshot>;

    /// The diesel SQL type `diesel print-schema` writes for a column of
    /// this declared type, or `None` if it refuses the type.
    fn diesel_type(declared: &str) -> Option<&'static str>;
}

impl CheckConnection for SqliteConnection {
    type Db = Sqlite;
    const NAME: &'static str = "SQLite";
    const IMPLICIT_PRIMARY_KEY: Option<&'static str> = Some("rowid");

    fn capture_schema(&mut self) -> QueryResult<SchemaSnapshot> {
        SchemaSnapshot::capture(self)
    }

    fn diesel_type(declared: &str) -> Option<&'static str> {
        diesel_type_for(declared)
    }
}

impl CheckConnection for PgConnection {
    type Db = Pg;
    const NAME: &'static str = "PostgreSQL";
    const IMPLICIT_PRIMARY_KEY: Option<&'static str> = None;

    fn capture_schema(&mut self) -> QueryResult<SchemaSnapshot> {
        SchemaSnapshot::capture_postgres(self)
    }

    fn diesel_type(declared: &str) -> Option<&'static str> {
        diesel_type_for_postgres(declared)
    }
}
