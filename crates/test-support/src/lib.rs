//! Fixtures shared by every Promptyard test (a dev-dependency only).
//!
//! - [`TestDb`]: an isolated, migrated SQLite database in WAL mode on a temp
//!   file, removed with its `-wal`/`-shm` files when dropped. Never
//!   `:memory:`: an in-memory database cannot use WAL.
//! - [`TestDb::db`]: the same [`Db`](promptyard_repositories::Db) (writer +
//!   reader pool) the server uses, on that file.
//! - [`factories`]: users and sessions with fake data, built as insert rows
//!   or inserted directly.
//! - [`migrations`]: checks for diesel migrations (one head, up/down
//!   consistency, schema.rs against the DDL, invariants, data that
//!   survives), usable by any diesel project on SQLite or PostgreSQL.
//! - [`fake_openai`]: a real local OpenAI-compatible server with scripted
//!   answers, streams, errors and hangs.
//! - [`process`]: run the `promptyard` binary as a real process and talk
//!   HTTP/1.1 to it.
//! - [`api`]: one way for every suite to call the API: transports, actors
//!   (anonymous, session, key), the shared password, start time and SSE
//!   parser.
//! - [`pragma`]: read a PRAGMA's value, for the SQLite configuration tests.
//! - [`json_rows`]: read any query's rows without declaring a row type.

pub mod api;
mod db;
pub mod factories;
pub mod fake_openai;
pub mod migrations;
pub mod postgres;
pub mod process;

pub use db::TestDb;
pub use factories::{SessionFactory, UserFactory};

use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct PragmaValue {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    value: Option<String>,
}

/// A connection that is, or holds, a SQLite one: for the checks only
/// SQLite has (PRAGMAs, `json_array`).
pub trait AsSqlite {
    /// The SQLite connection.
    ///
    /// # Panics
    /// If this is a PostgreSQL connection.
    fn as_sqlite(&mut self) -> &mut SqliteConnection;
}

impl AsSqlite for SqliteConnection {
    fn as_sqlite(&mut self) -> &mut SqliteConnection {
        self
    }
}

impl AsSqlite for promptyard_db_models::DbConn {
    fn as_sqlite(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Sqlite(conn) => conn,
            Self::Postgres(_) => panic!("a SQLite check was given a PostgreSQL connection"),
        }
    }
}

/// The value of `PRAGMA <name>` on this connection, as text (`"wal"`, `"1"`,
/// `"5000"`, ...).
///
/// # Panics
/// If the PRAGMA does not exist or returns no row.
pub fn pragma(conn: &mut impl AsSqlite, name: &str) -> String {
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "not a PRAGMA name: {name:?}"
    );
    diesel::sql_query(format!(
        "SELECT CAST((SELECT * FROM pragma_{name}) AS TEXT) AS value"
    ))
    .get_result::<PragmaValue>(conn.as_sqlite())
    .unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"))
    .value
    .unwrap_or_else(|| panic!("PRAGMA {name} returned NULL"))
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The rows of `SELECT <columns> <rest>` (`rest` being `FROM ...` and what
/// follows), each as a JSON array of its values: text, numbers and NULL
/// stay apart, so a test compares them with `json!` without declaring a
/// row type.
///
/// # Panics
/// If the query fails (or selects a blob, which JSON cannot hold).
pub fn json_rows(conn: &mut impl AsSqlite, columns: &str, rest: &str) -> Vec<serde_json::Value> {
    let sql = format!("SELECT json_array({columns}) AS value {rest}");
    diesel::sql_query(&sql)
        .load::<JsonRow>(conn.as_sqlite())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|row| serde_json::from_str(&row.value).expect("json_array gives JSON"))
        .collect()
}
