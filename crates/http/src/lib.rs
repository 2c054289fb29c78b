//! Promptyard's HTTP API on actix-web.
//!
//! Handlers are thin: extract, call one service, map the result. Errors are
//! RFC 9457 problem details ([`problem`]) with the contract's `code`s.
//!
//! [`configure`] registers every route on an actix `App`; the server binary
//! and the router tests build the app the same way:
//!
//! ```no_run
//! # async fn demo(db: promptyard_services::Db) -> std::io::Result<()> {
//! use actix_web::{App, HttpServer};
//! use promptyard_http::{AppState, configure};
//!
//! let state = AppState::new(db);
//! HttpServer::new(move || App::new().configure(configure(state.clone())))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! # }
//! ```

pub mod health;
pub mod problem;

use std::time::Duration;

use actix_web::web;
use promptyard_services::Db;

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// How long `/readyz` waits for the database before answering 503.
    pub readiness_timeout: Duration,
}

impl AppState {
    /// The state for `db`, with a 2 s readiness timeout.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            readiness_timeout: Duration::from_secs(2),
        }
    }
}

/// Registers every route, and problem+json answers for unknown routes (404)
/// and wrong methods (405), on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .configure(health::routes)
            .default_service(web::to(problem::not_found));
    }
}

/// A resource whose unsupported methods get 405 problem+json.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(problem::method_not_allowed))
}
