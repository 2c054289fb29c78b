//! Builders for rows with fake but valid data: each test states only the
//! fields it cares about.
//!
//! ```
//! use promptyard_test_support::{SessionFactory, TestDb, UserFactory};
//!
//! let test_db = TestDb::new();
//! let mut conn = test_db.conn();
//! let ada = UserFactory::new().email("ada@example.com").insert(&mut conn);
//! let session = SessionFactory::for_user(&ada).insert(&mut conn);
//! assert_eq!(session.user_id, ada.id);
//! ```

use promptyard_db_models::DbConn;
use promptyard_db_models::ids::UserId;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Duration, SubsecRound, Utc};
use diesel::prelude::*;
use fake::Fake;
use fake::faker::internet::en::{SafeEmail, UserAgent};
use promptyard_db_models::models::{NewSession, NewUser, Session, Timestamp, User};
use promptyard_db_models::schema::{sessions, users};

/// A syntactically valid Argon2id PHC string that no password verifies
/// against. Factories that need a real password hash take one from the
/// password hasher instead.
pub const FAKE_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZmFrZS1zYWx0LWZha2U$ZmFrZS1oYXNoLWZvci10ZXN0cy1vbmx5LW5vdC1yZWFs";

/// Now, in UTC, at the millisecond precision Promptyard stores.
pub fn now() -> Timestamp {
    Utc::now().naive_utc().trunc_subsecs(3)
}

/// A fresh UUIDv7 string, as Promptyard uses for ids.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn unique_email() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let email: String = SafeEmail().fake();
    format!("{n}.{}", email.to_lowercase())
}

/// Builder methods, each setting one field to `value` (built from its
/// argument) and returning the builder.
macro_rules! setters {
    ($($(#[doc = $doc:literal])* $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;)*) => {
        $(
            $(#[doc = $doc])*
            #[must_use]
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$field = $value;
                self
            }
        )*
    };
}

/// Inserts `row` into `table` with plain diesel and returns the stored row
/// as a `Row`; panics with `what` if the insert fails.
macro_rules! insert_row {
    ($conn:expr, $table:expr, $row:expr, $Row:ty, $what:literal) => {
        diesel::insert_into($table)
            .values($row)
            // The columns: a `SelectBy` over `MultiBackend` is no SQL for
            // the backends inside it.
            .returning(
                <$Row as Selectable<promptyard_db_models::MultiBackend>>::construct_selection(),
            )
            .get_result($conn)
            .expect($what)
    };
}

/// Builds users: a unique fake email, [`FAKE_PASSWORD_HASH`], active, created
/// now.
#[derive(Debug, Clone)]
pub struct UserFactory {
    email: Option<String>,
    password_hash: String,
    is_active: bool,
    created_at: Option<Timestamp>,
}

impl Default for UserFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl UserFactory {
    /// A factory with the defaults.
    pub fn new() -> Self {
        Self {
            email: None,
            password_hash: FAKE_PASSWORD_HASH.to_owned(),
            is_active: true,
            created_at: None,
        }
    }

    setters! {
        /// Use this email.
        email(email: impl Into<String>) => email = Some(email.into());
        /// Use this password hash.
        password_hash(hash: impl Into<String>) => password_hash = hash.into();
        /// Created (and last updated) at this time.
        created_at(at: Timestamp) => created_at = Some(at);
    }

    /// Make the user disabled.
    #[must_use]
    pub fn inactive(mut self) -> Self {
        self.is_active = false;
        self
    }

    /// The row to insert.
    pub fn build(self) -> NewUser {
        let at = self.created_at.unwrap_or_else(now);
        NewUser {
            id: new_id().into(),
            email: self.email.unwrap_or_else(unique_email),
            password_hash: self.password_hash,
            is_active: self.is_active,
            created_at: at,
            updated_at: at,
        }
    }

    /// Inserts the user with plain diesel (not through the repository under
    /// test) and returns the stored row.
    ///
    /// # Panics
    /// If the insert fails (a duplicate email, say).
    pub fn insert(self, conn: &mut DbConn) -> User {
        insert_row!(conn, users::table, self.build(), User, "insert a user")
    }
}

/// Builds sessions for a user: a random id (64 hex characters, the shape of
/// a SHA-256), an empty state, created now, valid for 7 days, a fake user
/// agent.
#[derive(Debug, Clone)]
pub struct SessionFactory {
    user_id: UserId,
    state: String,
    created_at: Option<Timestamp>,
    ttl: Duration,
    expires_at: Option<Timestamp>,
    user_agent: Option<String>,
}

impl SessionFactory {
    /// A session of `user`.
    pub fn for_user(user: &User) -> Self {
        Self::for_user_id(&user.id)
    }

    /// A session of the user with this id (which need not exist, to test the
    /// foreign key).
    pub fn for_user_id(user_id: &UserId) -> Self {
        Self {
            user_id: user_id.clone(),
            state: "{}".to_owned(),
            created_at: None,
            ttl: Duration::days(7),
            expires_at: None,
            user_agent: Some(UserAgent().fake()),
        }
    }

    setters! {
        /// Created (and last seen) at this time.
        created_at(at: Timestamp) => created_at = Some(at);
        /// Expires this long after its creation.
        ttl(ttl: Duration) => ttl = ttl;
        /// Expires at this time.
        expires_at(at: Timestamp) => expires_at = Some(at);
        /// With this state (a JSON object).
        state(state: impl Into<String>) => state = state.into();
        /// With this user agent, or none.
        user_agent(user_agent: Option<&str>) => user_agent = user_agent.map(str::to_owned);
    }

    /// The row to insert.
    pub fn build(self) -> NewSession {
        let created_at = self.created_at.unwrap_or_else(now);
        NewSession {
            id: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
            .into(),
            user_id: self.user_id,
            state: self.state,
            created_at,
            last_seen_at: created_at,
            expires_at: self.expires_at.unwrap_or(created_at + self.ttl),
            user_agent: self.user_agent,
            public_id: new_id().into(),
        }
    }

    /// Inserts the session with plain diesel and returns the stored row.
    ///
    /// # Panics
    /// If the insert fails (an unknown user, say).
    pub fn insert(self, conn: &mut DbConn) -> Session {
        insert_row!(
            conn,
            sessions::table,
            self.build(),
            Session,
            "insert a session"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_users_get_distinct_lower_case_emails_and_ids() {
        let a = UserFactory::new().build();
        let b = UserFactory::new().build();
        assert_ne!(a.email, b.email);
        assert_ne!(a.id, b.id);
        assert_eq!(a.email, a.email.to_lowercase());
        assert!(a.email.contains('@'));
    }

    #[test]
    fn sessions_expire_ttl_after_creation_unless_told_otherwise() {
        let user = UserFactory::new().build();
        let at = now();
        let user_row = User {
            id: user.id,
            email: user.email,
            password_hash: user.password_hash,
            is_active: true,
            created_at: at,
            updated_at: at,
        };
        let session = SessionFactory::for_user(&user_row)
            .created_at(at)
            .ttl(Duration::minutes(5))
            .build();
        assert_eq!(session.expires_at, at + Duration::minutes(5));
        assert_eq!(session.id.as_str().len(), 64);

        let fixed = at + Duration::seconds(1);
        let session = SessionFactory::for_user(&user_row)
            .expires_at(fixed)
            .build();
        assert_eq!(session.expires_at, fixed);
    }
}
