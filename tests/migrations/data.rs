//! Rows written at an older version survive every later migration
//! (pytest-alembic's `at_revision_data`): stop at a version, write rows with
//! plain SQL, continue to head, look at them. On SQLite, and on PostgreSQL
//! when `PROMPTYARD_TEST_POSTGRES_URL` is set: the rows are SQL both take
//! (TRUE/FALSE, timestamps as text, line breaks inside the literals), read
//! back as typed rows.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use diesel::sqlite::Sqlite;
use promptyard_db_models::DbConn;
use promptyard_test_support::SessionFactory;

use crate::Db;

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The rows of `sql`, on either backend.
fn load<T>(conn: &mut DbConn, sql: &str) -> Vec<T>
where
    T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
{
    match conn {
        DbConn::Sqlite(conn) => diesel::sql_query(sql).load(conn),
        DbConn::Postgres(conn) => diesel::sql_query(sql).load(conn),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    let rows: Vec<Count> = load(conn, sql);
    rows[0].n
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("a timestamp")
}

/// Writes user `u1` (`ada@example.com`), as every version since
/// `create_users` allows.
const USER_U1: &str = "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
     VALUES ('u1', 'ada@example.com', '$argon2id$x', TRUE, '2026-11-25 12:00:00.000', '2026-11-25 12:00:00.000');";

/// Runs `test` on an empty database of each backend, migrated to
/// `version`, where [`USER_U1`] and then `rows(db)` are written, then
/// migrated to head; `test` gets the database and a connection to it.
fn written_at(version: &str, rows: impl Fn(&Db) -> String, test: impl Fn(&Db, &mut DbConn)) {
    for db in Db::empty_on_each_backend(version) {
        eprintln!("on {}", db.name());
        db.migrate_to(version);
        let mut conn = db.conn();
        // PostgreSQL refuses an empty batch.
        for sql in [USER_U1, &rows(&db)]
            .into_iter()
            .filter(|sql| !sql.is_empty())
        {
            conn.batch_execute(sql)
                .unwrap_or_else(|e| panic!("rows at {version} on {}: {e}", db.name()));
        }
        db.migrate_to_head();
        test(&db, &mut conn);
    }
}

/// Asserts that `delete` (of a parent row) takes every row of `child` with
/// it.
fn assert_cascade(conn: &mut DbConn, delete: &str, child: &str) {
    conn.batch_execute(delete).expect(delete);
    assert_eq!(
        count(conn, &format!("SELECT count(*) AS n FROM {child}")),
        0,
        "ON DELETE CASCADE still holds"
    );
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
}

#[test]
fn a_user_written_right_after_create_users_survives_to_head_and_can_log_in_sessions() {
    written_at(
        "2026-11-25-000001_create_users",
        |_| String::new(),
        |_, conn| {
            let users: Vec<UserRow> = load(conn, "SELECT email, created_at FROM users");
            let users: Vec<_> = users.iter().map(|u| (&*u.email, u.created_at)).collect();
            assert_eq!(users, [("ada@example.com", at("2026-11-25 12:00:00"))]);
            let session = SessionFactory::for_user_id(&"u1".into()).insert(conn);
            assert_eq!(
                session.user_id.as_str(),
                "u1",
                "the old user owns a session at head"
            );
        },
    );
}

#[test]
fn sessions_written_before_login_failures_survive_with_their_cascade() {
    written_at(
        "2026-11-25-000002_create_sessions",
        |_| {
            "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at, user_agent) \
             VALUES ('s1', 'u1', '{\"k\":\"v\"}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00', 'curl/8');"
            .to_owned()
        },
        |_, conn| {
            assert_eq!(
                count(
                    conn,
                    "SELECT count(*) AS n FROM sessions WHERE state = '{\"k\":\"v\"}' AND user_agent = 'curl/8'"
                ),
                1
            );
            assert_cascade(conn, "DELETE FROM users WHERE id = 'u1'", "sessions");
        },
    );
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    public_id: String,
    #[diesel(sql_type = BigInt)]
    secret_len: i64,
}

#[test]
fn api_keys_written_before_the_playground_tables_survive_to_head() {
    written_at(
        "2026-11-25-000004_create_api_keys",
        |db| {
            // 32 zero bytes: the one literal the backends spell apart.
            let secret = match db {
                Db::Sqlite(_) => "zeroblob(32)",
                Db::Postgres(_) => "decode(repeat('00', 32), 'hex')",
            };
            format!(
                "INSERT INTO api_keys (id, user_id, name, public_id, secret_hash, created_at) \
                 VALUES ('k1', 'u1', 'ci', 'ABCDEFGHJKMN', {secret}, '2026-11-25 12:00:00');"
            )
        },
        |_, conn| {
            let keys: Vec<KeyRow> = load(
                conn,
                "SELECT public_id, CAST(length(secret_hash) AS BIGINT) AS secret_len FROM api_keys",
            );
            let keys: Vec<_> = keys.iter().map(|k| (&*k.public_id, k.secret_len)).collect();
            assert_eq!(keys, [("ABCDEFGHJKMN", 32)]);
            conn.batch_execute(
                "INSERT INTO usage_records (id, user_id, model, source, prompt_tokens, completion_tokens, created_at) \
                 VALUES ('r1', 'u1', 'echo-1', 'gateway', 1, 1, '2026-11-25 12:00:00')",
            )
            .expect("the old user's key can be used through the gateway at head");
        },
    );
}

#[test]
fn conversations_written_before_usage_records_survive_with_their_messages() {
    written_at(
        "2026-11-25-000006_create_messages",
        |_| {
            "INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
             VALUES ('c1', 'u1', 'echo-1', 'Hi', 'Be brief.', '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
             INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) \
             VALUES ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:00'), \
                    ('m2', 'c1', 'assistant', 'hello', 1, 1, '2026-11-25 12:00:01');"
            .to_owned()
        },
        |_, conn| {
            assert_eq!(
                count(
                    conn,
                    "SELECT count(*) AS n FROM messages WHERE conversation_id = 'c1'"
                ),
                2
            );
            assert_cascade(
                conn,
                "DELETE FROM conversations WHERE id = 'c1'",
                "messages",
            );
        },
    );
}

#[derive(QueryableByName)]
struct TokensRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Integer)]
    tokens: i32,
}

#[test]
fn messages_written_before_their_token_counts_get_them_filled_in() {
    // The tab, CR and LF are inside the SQL literals (char() is SQLite's,
    // chr() PostgreSQL's).
    written_at(
        "2026-11-25-000007_create_usage_records",
        |_| {
            "INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
             VALUES ('c1', 'u1', 'echo-1', NULL, NULL, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
             INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) VALUES \
               ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:01'), \
               ('m2', 'c1', 'assistant', 'hello', 1, 7, '2026-11-25 12:00:02'), \
               ('m3', 'c1', 'user', ' one two three\n', 0, 0, '2026-11-25 12:00:03'), \
               ('m4', 'c1', 'user', 'tab\tand\r\nlines', 0, 0, '2026-11-25 12:00:04'), \
               ('m5', 'c1', 'user', '   ', 0, 0, '2026-11-25 12:00:05'), \
               ('m6', 'c1', 'user', 'two  spaces', 0, 0, '2026-11-25 12:00:06');"
            .to_owned()
        },
        |db, conn| {
            let expected = [
                ("m1", 1), // one word
                ("m2", 7), // an answer: the provider's completion_tokens
                ("m3", 3), // leading and trailing whitespace trimmed
                ("m4", 4), // tab, CR and LF separate too (CR LF counts twice: errs high)
                ("m5", 0), // only whitespace
                ("m6", 3), // a doubled separator errs high, never low
            ];
            let rows: Vec<TokensRow> = load(conn, "SELECT id, tokens FROM messages ORDER BY id");
            let rows: Vec<_> = rows.iter().map(|r| (&*r.id, r.tokens)).collect();
            assert_eq!(rows, expected, "on {}", db.name());
            let refused = conn.batch_execute("UPDATE messages SET tokens = -1 WHERE id = 'm1'");
            assert!(refused.is_err(), "tokens >= 0 is checked");
        },
    );
}

#[derive(QueryableByName)]
struct PublicIdRow {
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    public_id: String,
}

#[test]
fn sessions_written_before_public_ids_get_a_uuidv7_of_their_creation_time() {
    written_at(
        "2026-12-02-000008_add_message_tokens",
        |_| {
            "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) VALUES \
               ('hash-1', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
               ('hash-2', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
               ('hash-3', 'u1', '{}', '2026-11-26 08:30:00', '2026-11-26 08:30:00', '2026-12-03 08:30:00');"
            .to_owned()
        },
        |_, conn| {
            let rows: Vec<PublicIdRow> = load(
                conn,
                "SELECT created_at, public_id FROM sessions ORDER BY id",
            );
            let mut seen = std::collections::HashSet::new();
            for row in &rows {
                let public_id = row.public_id.as_str();
                let uuid =
                    uuid::Uuid::parse_str(public_id).unwrap_or_else(|e| panic!("{public_id}: {e}"));
                assert_eq!(uuid.get_version_num(), 7, "{public_id}");
                assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{public_id}");
                assert_eq!(
                    public_id,
                    uuid.hyphenated().to_string(),
                    "lower-case, canonical"
                );
                let (secs, nanos) = uuid.get_timestamp().expect("a v7 timestamp").to_unix();
                assert_eq!(
                    i64::try_from(secs).expect("secs") * 1000 + i64::from(nanos / 1_000_000),
                    row.created_at.and_utc().timestamp_millis(),
                    "its time is the session's creation"
                );
                assert!(seen.insert(public_id.to_owned()), "unique");
            }
            assert_eq!(seen.len(), 3);
        },
    );
}

#[derive(QueryableByName, Debug, PartialEq)]
struct KeyLimitsRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    requests_per_minute: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    budget_period: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    allowed_models: Option<String>,
    #[diesel(sql_type = BigInt)]
    minute_requests: i64,
    #[diesel(sql_type = BigInt)]
    period_used: i64,
}

/// An API key of user `u1`, as every version since `create_api_keys`
/// allows (the hash is 32 bytes on either backend).
const KEY_K1: &str = "INSERT INTO api_keys (id, user_id, name, public_id, secret_hash, created_at) \
     VALUES ('k1', 'u1', 'ci', 'PUB1', $HASH, '2026-11-25 12:00:00');";

#[test]
fn keys_written_before_limits_have_none_and_empty_meters_and_take_limits_at_head() {
    written_at(
        "2026-12-02-000009_add_session_public_ids",
        |db| {
            let hash = if db.name() == "PostgreSQL" {
                "decode(repeat('ab', 32), 'hex')"
            } else {
                "randomblob(32)"
            };
            KEY_K1.replace("$HASH", hash)
        },
        |_, conn| {
            let select = "SELECT requests_per_minute, budget_period, allowed_models, \
                          minute_requests, period_used FROM api_keys";
            let rows: Vec<KeyLimitsRow> = load(conn, select);
            assert_eq!(
                rows,
                [KeyLimitsRow {
                    requests_per_minute: None,
                    budget_period: None,
                    allowed_models: None,
                    minute_requests: 0,
                    period_used: 0,
                }]
            );
            conn.batch_execute(
                "UPDATE api_keys SET requests_per_minute = 5, token_budget = 100, \
                 budget_period = 'day', allowed_models = '[\"echo-1\"]' WHERE id = 'k1'",
            )
            .expect("limits at head");
            let refused =
                conn.batch_execute("UPDATE api_keys SET budget_period = NULL WHERE id = 'k1'");
            assert!(refused.is_err(), "a budget needs its period");
            let rows: Vec<KeyLimitsRow> = load(conn, select);
            assert_eq!(rows[0].requests_per_minute, Some(5));
            assert_eq!(rows[0].budget_period.as_deref(), Some("day"));
        },
    );
}
