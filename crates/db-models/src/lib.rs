//! Promptyard's database model: the diesel [`schema`], the row types in
//! [`models`], the embedded [`migrations`], and [`connection`] setup (the one
//! place that decides the PRAGMAs every SQLite connection runs with).
//!
//! This crate knows no query beyond connection setup; the queries live in
//! `promptyard-repositories`. Ids are typed ([`ids`]): a function that
//! takes a [`UserId`](ids::UserId) cannot be handed a session's id.
//!
//! Open a database file with the production PRAGMAs and migrate it:
//!
//! ```
//! use diesel::RunQueryDsl;
//! use diesel_migrations::MigrationHarness;
//! use promptyard_db_models::{ConnectionOptions, MIGRATIONS, open};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("promptyard.db");
//! let mut conn = open(path.to_str().unwrap(), &ConnectionOptions::default())?;
//! conn.run_pending_migrations(MIGRATIONS)?;
//!
//! #[derive(diesel::QueryableByName)]
//! struct Mode {
//!     #[diesel(sql_type = diesel::sql_types::Text)]
//!     journal_mode: String,
//! }
//! let mode: Mode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
//! assert_eq!(mode.journal_mode, "wal");
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

pub mod backend;
pub mod connection;
pub mod ids;
pub mod migrations;
pub mod models;
#[rustfmt::skip]
pub mod schema;
pub mod url;

pub use backend::{DbConn, MultiBackend};
pub use connection::{
    ConnectionOptions, OpenError, configure_connection, open, open_postgres, open_url,
};
pub use migrations::{MIGRATIONS, MIGRATIONS_DIGEST, POSTGRES_MIGRATIONS};
pub use url::{Backend, DatabaseUrl, UrlError};
