//! Promptyard's database model: the diesel [`schema`], the row types in
//! [`models`], the embedded [`migrations`], and [`connection`] setup (the one
//! place that decides the PRAGMAs every SQLite connection runs with).
//!
//! This crate knows no query beyond connection setup; the queries live in
//! `promptyard-repositories`.

pub mod connection;
pub mod ids;
pub mod migrations;
pub mod models;
#[rustfmt::skip]
pub mod schema;

pub use connection::{ConnectionOptions, OpenError, configure_connection, open};
pub use migrations::{MIGRATIONS, MIGRATIONS_DIGEST};
