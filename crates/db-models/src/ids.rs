//! Typed ids: one type per kind of row, so a user id cannot be passed where
//! a conversation id is expected, from the repositories up to the HTTP
//! layer. Each is a UUIDv7 (or, for [`SessionId`], a hex SHA-256) stored as
//! TEXT; each maps to and from SQL TEXT on any diesel backend, and to and
//! from a JSON string.
//!
//! ```
//! use promptyard_db_models::ids::{ConversationId, UserId};
//!
//! let user = UserId::new("0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b");
//! assert_eq!(user.as_str(), "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b");
//! assert_eq!(user.to_string(), user.as_str());
//! // A `ConversationId` is another type: this does not compile.
//! // let conversation: ConversationId = user;
//! # let _ = ConversationId::new("c");
//! ```

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident, debug: $debug:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        #[diesel(sql_type = Text)]
        pub struct $name(String);

        impl $name {
            /// The id `id`, as stored.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        text_id!(@debug $name, $debug);

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                String::from_sql(bytes).map(Self)
            }
        }
    };
    (@debug $name:ident, shown) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
    (@debug $name:ident, redacted) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }
    };
}

text_id!(
    /// A user's id.
    UserId,
    debug: shown
);
text_id!(
    /// A session's stored id: the hex SHA-256 of the key its cookie
    /// carries. The lookup key; it never leaves the server, and `Debug`
    /// does not show it.
    SessionId,
    debug: redacted
);
text_id!(
    /// The id a session's owner sees and revokes it by (a UUIDv7, never
    /// derived from its key).
    SessionPublicId,
    debug: shown
);
text_id!(
    /// An API key's id (not its secret, not its public prefix).
    ApiKeyId,
    debug: shown
);
text_id!(
    /// A conversation's id.
    ConversationId,
    debug: shown
);
text_id!(
    /// A message's id.
    MessageId,
    debug: shown
);
text_id!(
    /// A usage record's id.
    UsageRecordId,
    debug: shown
);

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;

    #[test]
    fn ids_round_trip_through_sqlite_text_and_json() {
        let mut conn = SqliteConnection::establish(":memory:").expect("connection");
        conn.batch_execute("CREATE TABLE t (id TEXT NOT NULL)")
            .expect("table");
        diesel::table! { t (id) { id -> Text, } }
        let id = UserId::new("0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b");

        diesel::insert_into(t::table)
            .values(t::id.eq(&id))
            .execute(&mut conn)
            .expect("insert");
        let back: UserId = t::table
            .filter(t::id.eq(&id))
            .select(t::id)
            .get_result(&mut conn)
            .expect("select");

        assert_eq!(back, id);
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b\"");
        assert_eq!(serde_json::from_str::<UserId>(&json).expect("back"), id);
    }

    #[test]
    fn an_id_is_its_text_every_way_it_is_read() {
        let text = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";
        let id = ConversationId::from(text);
        assert_eq!(id, ConversationId::from(text.to_owned()));
        assert!(id == *text, "PartialEq<str>");
        assert_eq!(id.as_ref() as &str, text);
        assert_eq!(id.to_string(), text);
        assert_eq!(id.into_string(), text);
    }

    #[test]
    fn a_session_id_never_shows_itself_in_debug() {
        let id = SessionId::new("f".repeat(64));
        assert_eq!(format!("{id:?}"), "SessionId([redacted])");
        assert_eq!(
            format!("{:?}", ConversationId::new("c1")),
            "ConversationId(\"c1\")"
        );
        assert!(id == "f".repeat(64).as_str());
    }
}
