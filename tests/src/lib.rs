//! Shared helpers for the cross-crate suites in this package (`integration`,
//! `migrations`, `concurrency`, `sqlite_config`).
//!
//! [`TestApp`] is the whole Promptyard HTTP app, in process, on its own
//! migrated test database.

use promptyard_http::AppState;
use promptyard_services::Db;
use promptyard_test_support::TestDb;

/// The app's state and its database; build the actix app from it with
/// `App::new().configure(promptyard_http::configure(app.state()))`. The
/// database is the last field, so it is removed only after everything that
/// uses it is dropped.
#[derive(Debug)]
pub struct TestApp {
    pub db: Db,
    pub test_db: TestDb,
}

impl TestApp {
    /// A fresh app on a fresh migrated database.
    pub fn new() -> Self {
        let test_db = TestDb::new();
        Self {
            db: test_db.db(),
            test_db,
        }
    }

    /// The app's state, as the server builds it.
    pub fn state(&self) -> AppState {
        AppState::new(self.db.clone())
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}
