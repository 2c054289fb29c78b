//! Fixtures the services' tests share: a test database opened the way the
//! services open theirs, a stopped clock, users, and `assert_matches!`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use promptyard_repositories::{Db, Session, UserId, UserRepository};
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};

use crate::clock::{Clock, ManualClock};

/// Asserts that a value matches a pattern (with an optional guard), showing
/// the value, and the note (format arguments) if given, when it does not.
macro_rules! assert_matches {
    ($value:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        $crate::test_helpers::assert_matches!($value, $pattern $(if $guard)?, "")
    };
    ($value:expr, $pattern:pat $(if $guard:expr)?, $($note:tt)+) => {
        match $value {
            $pattern $(if $guard)? => {}
            other => panic!(
                "{} {other:?} does not match {}",
                format_args!($($note)+),
                stringify!($pattern $(if $guard)?)
            ),
        }
    };
}
pub(crate) use assert_matches;

/// The instant every test clock starts at.
pub(crate) fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

/// A migrated test database, the services' handle on it, and a clock
/// stopped at [`start`]: what every service is built over.
pub(crate) struct TestEnv {
    pub(crate) test_db: TestDb,
    pub(crate) db: Db,
    pub(crate) clock: ManualClock,
}

impl TestEnv {
    /// A fresh database and a clock at [`start`].
    pub(crate) fn new() -> Self {
        let test_db = TestDb::new();
        let db = test_db.db();
        Self {
            test_db,
            db,
            clock: ManualClock::new(start()),
        }
    }

    /// The clock, as the services take it.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clock.clone())
    }

    /// A new user's new API key with `limits`, made through the
    /// [`ApiKeyService`](crate::ApiKeyService) (echo's models known); its
    /// grant, as authentication hands it to the LLM services.
    pub(crate) async fn key_with(
        &self,
        limits: crate::limits::KeyLimits,
    ) -> crate::limits::KeyGrant {
        use crate::api_keys::{ApiKeyService, KeyName, NewKey};

        let keys = ApiKeyService::new(
            self.db.clone(),
            self.clock(),
            Arc::new(crate::ids::UuidV7Ids),
            Arc::new(crate::providers::ProviderRegistry::with_echo()),
        );
        let new = NewKey {
            name: KeyName::parse("script").expect("name"),
            expires_in_days: None,
            limits: limits.clone(),
        };
        let key_id = keys.create(&self.user(), new).await.expect("key").info.id;
        crate::limits::KeyGrant {
            key_id,
            limits: Arc::new(limits),
        }
    }

    /// Inserts a user straight into the database; returns its id.
    pub(crate) fn user(&self) -> UserId {
        UserFactory::new().insert(&mut self.test_db.conn()).id
    }

    /// Inserts a session of `user` straight into the database, created at
    /// `created_at` (now, by the factory's clock, if `None`).
    pub(crate) fn session(&self, user: &UserId, created_at: Option<DateTime<Utc>>) -> Session {
        let factory = SessionFactory::for_user_id(user);
        let factory = match created_at {
            Some(at) => factory.created_at(at.naive_utc()),
            None => factory,
        };
        factory.insert(&mut self.test_db.conn())
    }

    /// Disables `user` through the repository, as an admin would.
    pub(crate) async fn disable(&self, user: &UserId) {
        let id = user.clone();
        self.db
            .write(move |conn| UserRepository::set_active(conn, &id, false, start().naive_utc()))
            .await
            .expect("disable");
    }
}

/// A service under test, built over a fresh [`TestEnv`] that holds two
/// users, ada and grace.
pub(crate) struct Fixture<S> {
    pub(crate) service: S,
    pub(crate) ada: UserId,
    pub(crate) grace: UserId,
    pub(crate) env: TestEnv,
}

impl<S> Fixture<S> {
    /// The service `build` makes over a fresh environment.
    pub(crate) fn new(build: impl FnOnce(&TestEnv) -> S) -> Self {
        let env = TestEnv::new();
        Self {
            service: build(&env),
            ada: env.user(),
            grace: env.user(),
            env,
        }
    }
}

#[test]
fn assert_matches_passes_a_match_and_fails_anything_else() {
    assert_matches!(Some(2), Some(n) if n == 2);
    let other = std::panic::catch_unwind(|| assert_matches!(Some(1), None));
    let guarded =
        std::panic::catch_unwind(|| assert_matches!(Some(1), Some(n) if n == 2, "{}", "why"));
    assert!(other.is_err() && guarded.is_err());
}
