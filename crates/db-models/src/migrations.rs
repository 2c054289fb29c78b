//! The SQL migrations, one directory per backend with the same version
//! names (`migrations/sqlite/`, `migrations/postgres/`), embedded in every
//! binary that links this crate, so `promptyard` needs no files beside it
//! to create or upgrade its database.

use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// Every SQLite migration (`migrations/sqlite/`), in version order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Every PostgreSQL migration (`migrations/postgres/`), in version order:
/// the same versions as [`MIGRATIONS`], in PostgreSQL's SQL.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A digest of the contents of `migrations/` at build time. Test fixtures key
/// their migrated template databases on it, so an edited migration never
/// reuses a stale template.
pub const MIGRATIONS_DIGEST: &str = env!("PROMPTYARD_MIGRATIONS_DIGEST");

/// A connection type and the migrations written for its backend.
pub trait Migrations {
    /// This backend's migrations.
    const MIGRATIONS: EmbeddedMigrations;
}

impl Migrations for SqliteConnection {
    const MIGRATIONS: EmbeddedMigrations = MIGRATIONS;
}

impl Migrations for PgConnection {
    const MIGRATIONS: EmbeddedMigrations = POSTGRES_MIGRATIONS;
}

/// The migrations of `conn`'s backend.
pub fn migrations_for<C: Migrations>(_conn: &C) -> EmbeddedMigrations {
    C::MIGRATIONS
}
