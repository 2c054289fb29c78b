//! Promptyard's business rules, with no HTTP types: another Rust crate can
//! use them without a server.
//!
//! - [`AuthService`]: registration, login (with the brute-force limit),
//!   password changes, session lists, account status.
//! - [`SessionService`]: server-side sessions by key, for the HTTP layer's
//!   session store.
//! - [`ApiKeyService`]: personal API keys (create, list, revoke,
//!   authenticate).
//! - [`PlaygroundService`] and [`providers`]: conversations with LLMs and
//!   the OpenAI-compatible gateway's calls.
//! - Collaborators every service takes, so tests control them: a [`Clock`]
//!   and an [`IdGenerator`]; and the [`PasswordHasher`], which runs Argon2
//!   on a fixed set of workers with fixed memory, behind a bounded queue.
//! - Parse-don't-validate newtypes: [`Email`], [`Password`], and the
//!   playground's values ([`playground::values`]); typed ids from the data
//!   layer ([`UserId`], [`ConversationId`], ...).
//!
//! Every service is built from a [`Db`] and its collaborators, and used
//! without any HTTP:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use promptyard_services::{
//!     AuthConfig, AuthError, AuthService, Credentials, Db, DbConfig, PasswordHasher,
//!     SystemClock, UuidV7Ids,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(DbConfig::new(dir.path().join("promptyard.db").to_str().unwrap()))?;
//! db.migrate().await?;
//! let auth = AuthService::new(
//!     db,
//!     PasswordHasher::new()?,
//!     Arc::new(SystemClock),
//!     Arc::new(UuidV7Ids),
//!     AuthConfig::default(),
//! );
//!
//! let ada = Credentials { email: " Ada@Example.com", password: "correct horse battery" };
//! let user = auth.register(ada).await?;
//! assert_eq!(user.email, "ada@example.com", "trimmed, compared case-insensitively");
//! assert_eq!(auth.login(ada).await?.id, user.id);
//! let wrong = Credentials { password: "not the password", ..ada };
//! assert!(matches!(auth.login(wrong).await, Err(AuthError::InvalidCredentials)));
//! # Ok(()) }
//! ```
//!
//! `examples/first_conversation.rs` goes on to a conversation with the
//! built-in `echo-1` model.

/// `impl From<$row> for $view`: a stored row as the API shows it, the
/// `same` fields moved over as they are and the `utc` ones (stored as naive
/// UTC) made [`chrono::DateTime<Utc>`].
macro_rules! view_from_row {
    ($row:ty => $view:ty { same: [$($same:ident),* $(,)?], utc: [$($utc:ident),* $(,)?] $(,)? }) => {
        impl From<$row> for $view {
            fn from(row: $row) -> Self {
                Self {
                    $($same: row.$same,)*
                    $($utc: row.$utc.and_utc(),)*
                }
            }
        }
    };
}

/// `impl From<RepoError> for $error`, a service error with `NotFound`,
/// `Unavailable(RepoError)` and `Unexpected(BoxError)` variants: the row
/// the caller named is not there (or not theirs), the database cannot serve
/// the request now, or anything else.
macro_rules! from_repo_error {
    ($error:ty) => {
        impl From<promptyard_repositories::RepoError> for $error {
            fn from(err: promptyard_repositories::RepoError) -> Self {
                use promptyard_repositories::RepoError;
                match err {
                    RepoError::NotFound => Self::NotFound,
                    RepoError::Unavailable { .. } => Self::Unavailable(err),
                    other => Self::Unexpected(Box::new(other)),
                }
            }
        }
    };
}

pub mod api_keys;
pub mod auth;
pub mod clock;
pub mod credentials;
pub mod ids;
pub mod limits;
pub mod password;
pub mod playground;
pub mod providers;
pub mod rfc3339;
pub mod sessions;
#[cfg(test)]
mod test_helpers;
pub mod validation;

pub use api_keys::{ApiKeyInfo, ApiKeyService, CreatedApiKey, KeyCaller, NewKey};
pub use auth::{
    AuthConfig, AuthError, AuthService, AuthUser, Credentials, PasswordChange, SessionInfo,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{Email, Password};
pub use ids::{IdGenerator, SequentialIds, UuidV7Ids};
pub use limits::{BudgetPeriod, KeyGrant, KeyLimits, LlmCaller, Refusal, RefusalKind};
pub use password::{HashError, HasherConfig, PasswordHasher};
pub use playground::{
    ConversationInfo, ConversationWithMessages, Exchange, ExchangeEvent, ExchangeStream,
    MessageInfo, NewConversation, NewMessage, Page, PageRequest, PlaygroundError,
    PlaygroundService, Sampling, Tokens, UsageSummary,
};
pub use providers::{ProviderRegistry, load_providers_file};
pub use sessions::{LoadedSession, SessionKey, SessionService, session_id};
pub use validation::FieldError;
// The data layer, re-exported so the layers above reach it through services.
pub use promptyard_repositories::migrations;
/// Database locations, shown with their passwords redacted.
pub mod db_url {
    pub use promptyard_repositories::{Backend, DatabaseUrl, UrlError, redact};
}
pub use promptyard_repositories::{
    ApiKeyId, BoxError, ConversationId, Db, DbConfig, DbConn, MessageId, OpenDbError, Queued,
    RepoError, SessionId, SessionPublicId, Unavailable, UserId,
};
