//! Promptyard's business rules, with no HTTP types: another Rust crate can
//! use them without a server.
//!
//! This crate so far holds the collaborators every service takes — a
//! [`Clock`] and an [`IdGenerator`], so tests control time and ids — and
//! [`password`] hashing. The services themselves (`AuthService`,
//! `ApiKeyService`, `PlaygroundService`) build on them.

pub mod clock;
pub mod ids;
pub mod password;

pub use clock::{Clock, ManualClock, SystemClock};
// The data layer, re-exported so the layers above reach it through services.
pub use ids::{IdGenerator, UuidV7Ids};
pub use promptyard_repositories::{Db, DbConfig, OpenDbError, RepoError, Unavailable};
