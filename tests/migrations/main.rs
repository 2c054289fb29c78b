//! Promptyard's migrations held to the checks of
//! `promptyard_test_support::migrations`: one head, up and down from empty
//! to head and back, every down undoing its up exactly, `schema.rs` equal to
//! the live schema, schema invariants, and data that survives upgrades.
//!
//! Nothing here names a migration except the data tests: a new migration is
//! held to every other check as soon as its folder exists.

mod data;
mod migrations;
mod schema_consistency;

use std::path::{Path, PathBuf};

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
