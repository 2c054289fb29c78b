//! Promptyard's data access layer.
//!
//! - [`Db`]: one SQLite writer connection plus a reader pool, each call one
//!   blocking hop ([`Db::read`], [`Db::write`]).
//! - One repository per table family ([`UserRepository`],
//!   [`SessionRepository`], [`LoginFailureRepository`], [`ApiKeyRepository`]). Their functions take `&mut DbConn` (SQLite or PostgreSQL), so
//!   a service can compose several of them inside one `Db::write`
//!   transaction.
//! - [`RepoError`]: every database failure, classified in one place.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chrono::Utc;
//! use promptyard_db_models::models::NewUser;
//! use promptyard_repositories::{Db, DbConfig, RepoError, UserId, UserRepository};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(DbConfig::new(dir.path().join("promptyard.db").to_str().unwrap()))?;
//! db.migrate().await?;
//!
//! let now = Utc::now().naive_utc();
//! let ada = NewUser {
//!     id: UserId::from("u-1"),
//!     email: "ada@example.com".to_owned(),
//!     password_hash: "(an Argon2 PHC string)".to_owned(),
//!     is_active: true,
//!     created_at: now,
//!     updated_at: now,
//! };
//! db.write(move |conn| UserRepository::create(conn, &ada)).await?;
//!
//! let found = db
//!     .read(|conn| UserRepository::get_by_email(conn, "ada@example.com"))
//!     .await?;
//! assert_eq!(found.id, UserId::from("u-1"));
//! let missing = db
//!     .read(|conn| UserRepository::get_by_email(conn, "grace@example.com"))
//!     .await;
//! assert!(matches!(missing, Err(RepoError::NotFound)));
//! # Ok(()) }
//! ```

pub mod api_keys;
mod backend;
pub mod conversations;
mod db;
mod error;
pub mod login_failures;
pub mod migrations;
pub mod sessions;
pub mod users;

#[cfg(test)]
mod test_helpers;

pub use api_keys::{ApiKeyRepository, MeterHold, MeterWindow};
pub use backend::{WRITE_LOCK, write_transaction};
pub use conversations::{ConversationRepository, TokenTotals, UsageRepository};
pub use db::{Db, DbConfig, OpenDbError, Queued};
pub use error::{BoxError, OptionalExt, RepoError, Unavailable};
pub use login_failures::LoginFailureRepository;
pub use sessions::{SessionRepository, SessionUpdate};
pub use users::UserRepository;

/// The connection [`Db::read`] and [`Db::write`] closures are given.
pub use promptyard_db_models::DbConn;

pub use promptyard_db_models::ids::{
    self, ApiKeyId, ConversationId, MessageId, SessionId, SessionPublicId, UsageRecordId, UserId,
};
pub use promptyard_db_models::models::{
    ApiKey, Conversation, KeyLimitColumns, KeyMeter, LoginFailure, Message, NewApiKey, NewSession,
    NewUser, Session, Timestamp, UsageRecord, User,
};
pub use promptyard_db_models::url::{Backend, DatabaseUrl, UrlError, redact};
