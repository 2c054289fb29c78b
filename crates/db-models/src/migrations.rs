//! The SQL migrations under `migrations/`, embedded in every binary that links
//! this crate, so `promptyard` needs no files beside it to create or upgrade
//! its database.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// Every migration in `migrations/`, in version order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// A digest of the contents of `migrations/` at build time. Test fixtures key
/// their migrated template databases on it, so an edited migration never
/// reuses a stale template.
pub const MIGRATIONS_DIGEST: &str = env!("PROMPTYARD_MIGRATIONS_DIGEST");
