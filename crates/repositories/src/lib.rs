//! Promptyard's data access layer.
//!
//! - [`Db`]: one SQLite writer connection plus a reader pool, each call one
//!   blocking hop ([`Db::read`], [`Db::write`]).
//! - One repository per table family ([`UserRepository`],
//!   [`SessionRepository`], [`LoginFailureRepository`], [`ApiKeyRepository`]). Their functions take `&mut SqliteConnection`, so
//!   a service can compose several of them inside one `Db::write`
//!   transaction.
//! - [`RepoError`]: every database failure, classified in one place.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use promptyard_repositories::{Db, DbConfig, RepoError, UserRepository};
//!
//! let db = Db::open(DbConfig::new("promptyard.db"))?;
//! db.migrate().await?;
//! let user = db
//!     .read(|conn| UserRepository::get_by_email(conn, "ada@example.com"))
//!     .await;
//! match user {
//!     Ok(user) => println!("found {}", user.id),
//!     Err(RepoError::NotFound) => println!("no such user"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```

pub mod api_keys;
pub mod conversations;
mod db;
mod error;
pub mod login_failures;
pub mod migrations;
pub mod sessions;
pub mod users;

pub use api_keys::ApiKeyRepository;
pub use conversations::{ConversationRepository, TokenTotals, UsageRepository};
pub use db::{Db, DbConfig, OpenDbError, Queued};
pub use error::{BoxError, OptionalExt, RepoError, Unavailable};
pub use login_failures::LoginFailureRepository;
pub use sessions::{SessionRepository, SessionUpdate};
pub use users::UserRepository;

/// The connection [`Db::read`] and [`Db::write`] closures are given.
pub use diesel::SqliteConnection;

pub use promptyard_db_models::ids::{
    self, ApiKeyId, ConversationId, MessageId, SessionId, SessionPublicId, UsageRecordId, UserId,
};
pub use promptyard_db_models::models::{
    ApiKey, Conversation, LoginFailure, Message, NewApiKey, NewSession, NewUser, Session,
    Timestamp, UsageRecord, User,
};
