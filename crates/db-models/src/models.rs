//! Row types: one read struct per table (`User`, `Session`) and one insert
//! struct (`NewUser`, `NewSession`), so a row can never be inserted with a
//! field the database is meant to own, and a read always has every column.
//!
//! Ids are typed ([`crate::ids`]): UUIDv7 strings. Timestamps are [`Timestamp`]s: diesel's SQLite
//! `Timestamp` (TEXT, `YYYY-MM-DD HH:MM:SS.sss`), always in UTC, so they sort
//! and compare as time in SQL. `Debug` never prints a password hash, a session
//! key hash or session state.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use crate::ids::{
    ApiKeyId, ConversationId, MessageId, SessionId, SessionPublicId, UsageRecordId, UserId,
};
use crate::schema::{
    api_keys, conversations, login_failures, messages, sessions, usage_records, users,
};

/// A UTC instant as stored in the database. Convert with
/// [`NaiveDateTime::and_utc`] and [`chrono::DateTime::naive_utc`].
pub type Timestamp = NaiveDateTime;

/// Declares a table's row type and its insert type. The insert type has
/// the fields the caller sets; the row type has those, then the ones the
/// database sets (`set_by_the_database`). `Debug` of both prints
/// `[redacted]` for the `redacted` fields.
macro_rules! row_types {
    (
        $(#[$row_attr:meta])*
        pub struct $Row:ident;
        $(#[$new_attr:meta])*
        pub struct $New:ident;
        fields {
            $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
        }
        set_by_the_database {
            $($(#[$owned_attr:meta])* pub $owned:ident: $owned_ty:ty,)*
        }
        debug { shown: [$($shown:ident),*], redacted: [$($secret:ident),*] }
    ) => {
        $(#[$row_attr])*
        pub struct $Row {
            $($(#[$field_attr])* pub $field: $ty,)*
            $($(#[$owned_attr])* pub $owned: $owned_ty,)*
        }

        $(#[$new_attr])*
        pub struct $New {
            $($(#[$field_attr])* pub $field: $ty,)*
        }

        debug_redacting!($Row {
            shown: [$($shown,)* $($owned),*],
            redacted: [$($secret),*]
        });
        debug_redacting!($New {
            shown: [$($shown),*],
            redacted: [$($secret),*]
        });
    };
}

/// `Debug` for a row type that prints `[redacted]` instead of the named
/// secret fields.
macro_rules! debug_redacting {
    ($type:ident { shown: [$($shown:ident),* $(,)?], redacted: [$($secret:ident),*] }) => {
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct(stringify!($type));
                $(out.field(stringify!($shown), &self.$shown);)*
                $(out.field(stringify!($secret), &format_args!("[redacted]"));)*
                out.finish()
            }
        }
    };
}

row_types! {
    /// A row of `users`.
    #[derive(Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
    #[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
    pub struct User;
    /// A row to insert into `users`.
    #[derive(Clone, PartialEq, Eq, Insertable)]
    #[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite))]
    pub struct NewUser;
    fields {
        pub id: UserId,
        /// Lower-cased; unique case-insensitively.
        pub email: String,
        /// An Argon2id PHC string. Never logged, never serialised.
        pub password_hash: String,
        pub is_active: bool,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
    }
    set_by_the_database {}
    debug { shown: [id, email, is_active, created_at, updated_at], redacted: [password_hash] }
}

row_types! {
    /// A row of `sessions`.
    #[derive(Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
    #[diesel(table_name = sessions, belongs_to(User), check_for_backend(diesel::sqlite::Sqlite))]
    pub struct Session;
    /// A row to insert into `sessions`.
    #[derive(Clone, PartialEq, Eq, Insertable)]
    #[diesel(table_name = sessions, check_for_backend(diesel::sqlite::Sqlite))]
    pub struct NewSession;
    fields {
        /// SHA-256 (hex) of the session key the cookie carries.
        pub id: SessionId,
        pub user_id: UserId,
        /// The actix-session state, a JSON object.
        pub state: String,
        pub created_at: Timestamp,
        pub last_seen_at: Timestamp,
        pub expires_at: Timestamp,
        pub user_agent: Option<String>,
        /// The UUIDv7 its owner sees and revokes it by; never derived from the
        /// key.
        pub public_id: SessionPublicId,
    }
    set_by_the_database {}
    debug {
        shown: [public_id, user_id, created_at, last_seen_at, expires_at, user_agent],
        redacted: [id, state]
    }
}

row_types! {
    /// A row of `api_keys`.
    #[derive(Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations)]
    #[diesel(table_name = api_keys, belongs_to(User), check_for_backend(diesel::sqlite::Sqlite))]
    pub struct ApiKey;
    /// A row to insert into `api_keys`.
    #[derive(Clone, PartialEq, Eq, Insertable)]
    #[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite))]
    pub struct NewApiKey;
    fields {
        pub id: ApiKeyId,
        pub user_id: UserId,
        pub name: String,
        /// The non-secret part of the key, after `pyk_`.
        pub public_id: String,
        /// SHA-256 of the key's secret part.
        pub secret_hash: Vec<u8>,
        pub created_at: Timestamp,
        pub expires_at: Option<Timestamp>,
        #[diesel(embed)]
        pub limits: KeyLimitColumns,
    }
    set_by_the_database {
        pub last_used_at: Option<Timestamp>,
        pub revoked_at: Option<Timestamp>,
        #[diesel(embed)]
        pub meter: KeyMeter,
    }
    debug {
        shown: [id, user_id, name, public_id, created_at, expires_at, limits],
        redacted: [secret_hash]
    }
}

/// An API key's limits, as stored on its row (`None`: no limit). Written
/// whole: setting limits replaces all five.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct KeyLimitColumns {
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub token_budget: Option<i64>,
    /// `"day"` or `"month"`; set exactly when `token_budget` is.
    pub budget_period: Option<String>,
    /// A JSON array of model ids; `None`: every model.
    pub allowed_models: Option<String>,
}

/// What an API key has spent, as admission counts it (see the
/// `add_api_key_limits` migration). A meter whose start is not the current
/// minute or period counts as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite))]
pub struct KeyMeter {
    pub minute_started_at: Option<Timestamp>,
    pub minute_requests: i64,
    pub minute_tokens: i64,
    pub period_started_at: Option<Timestamp>,
    /// Tokens settled in the period.
    pub period_used: i64,
    /// Tokens reserved by requests still running.
    pub period_reserved: i64,
}

/// A row of `conversations`.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations, Insertable,
)]
#[diesel(table_name = conversations, belongs_to(User), check_for_backend(diesel::sqlite::Sqlite))]
pub struct Conversation {
    pub id: ConversationId,
    pub user_id: UserId,
    pub model: String,
    pub title: Option<String>,
    pub system_prompt: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A row of `messages` (also the insert type: every column is the
/// caller's).
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Associations, Insertable,
)]
#[diesel(table_name = messages, belongs_to(Conversation), check_for_backend(diesel::sqlite::Sqlite))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// `user` or `assistant` (`system` is allowed by the table).
    pub role: String,
    pub content: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub created_at: Timestamp,
    /// The message's own token count: the provider's `completion_tokens`
    /// for an answer, Promptyard's estimate for a user message. Counted
    /// once, when the message is stored.
    pub tokens: i32,
}

/// A row of `usage_records`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = usage_records, check_for_backend(diesel::sqlite::Sqlite))]
pub struct UsageRecord {
    pub id: UsageRecordId,
    pub user_id: UserId,
    pub model: String,
    /// `playground` or `gateway`.
    pub source: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub created_at: Timestamp,
}

/// A row of `login_failures`: the failed logins for one email in the
/// current window.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_failures, check_for_backend(diesel::sqlite::Sqlite))]
pub struct LoginFailure {
    /// Lower-cased; not necessarily the email of an account.
    pub email: String,
    pub failures: i32,
    pub window_started_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "0193a1b2-0000-7000-8000-000000000001".into(),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            is_active: true,
            created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            updated_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
        }
    }

    #[test]
    fn debug_of_a_user_hides_the_password_hash() {
        let user = user();
        let shown = format!("{user:?}");
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(shown.contains("ada@example.com"), "{shown}");
        let new_user = NewUser {
            id: user.id.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            is_active: true,
            created_at: user.created_at,
            updated_at: user.updated_at,
        };
        assert!(!format!("{new_user:?}").contains("argon2"));
    }

    #[test]
    fn debug_of_an_api_key_hides_its_hash() {
        let key = ApiKey {
            id: "k1".into(),
            user_id: "u1".into(),
            name: "ci".into(),
            public_id: "ABCDEF123456".into(),
            secret_hash: vec![0xab; 32],
            created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            limits: KeyLimitColumns::default(),
            meter: KeyMeter::default(),
        };
        let shown = format!("{key:?}");
        assert!(
            shown.contains("ABCDEF123456") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(
            !shown.contains("171") && !shown.contains("ab, ab"),
            "{shown}"
        );
    }

    #[test]
    fn debug_of_a_session_hides_its_key_hash_and_state() {
        let session = Session {
            id: "f".repeat(64).into(),
            user_id: "u1".into(),
            state: r#"{"user_id":"u1","csrf":"secret-token"}"#.into(),
            created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            last_seen_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            expires_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            user_agent: Some("curl/8".into()),
            public_id: "0193a1b2-0000-7000-8000-00000000000a".into(),
        };
        let shown = format!("{session:?}");
        assert!(
            shown.contains("0193a1b2-0000-7000-8000-00000000000a"),
            "{shown}"
        );
        assert!(!shown.contains("ffff"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        let new_session = NewSession {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            state: session.state.clone(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            user_agent: None,
            public_id: session.public_id.clone(),
        };
        let shown = format!("{new_session:?}");
        assert!(
            !shown.contains("ffff") && !shown.contains("secret-token"),
            "{shown}"
        );
    }
}
