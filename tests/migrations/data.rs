//! Rows written at an older version survive every later migration
//! (pytest-alembic's `at_revision_data`): stop at a version, write rows with
//! plain SQL, continue to head, look at them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use promptyard_db_models::MIGRATIONS;
use promptyard_test_support::migrations::{migrate_to, migrate_to_head};
use promptyard_test_support::{SessionFactory, TestDb, json_rows};
use serde_json::json;

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect(sql)
        .n
}

/// Writes user `u1` (`ada@example.com`), as every version since
/// `create_users` allows.
const USER_U1: &str = "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
     VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00.000', '2026-11-25 12:00:00.000');";

/// An empty database migrated to `version`, where [`USER_U1`] and then
/// `rows` are written, then migrated to head: the database and a
/// connection to it.
fn written_at(version: &str, rows: &str) -> (TestDb, SqliteConnection) {
    let test_db = TestDb::empty();
    let mut conn = test_db.sqlite_conn();
    migrate_to(&mut conn, &MIGRATIONS, version).unwrap_or_else(|f| panic!("\n{f}"));
    for sql in [USER_U1, rows] {
        conn.batch_execute(sql)
            .unwrap_or_else(|e| panic!("rows at {version}: {e}"));
    }
    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));
    (test_db, conn)
}

/// Asserts that `delete` (of a parent row) takes every row of `child` with
/// it.
fn assert_cascade(conn: &mut SqliteConnection, delete: &str, child: &str) {
    conn.batch_execute(delete).expect(delete);
    assert_eq!(
        count(conn, &format!("SELECT count(*) AS n FROM {child}")),
        0,
        "ON DELETE CASCADE still holds"
    );
}

#[test]
fn a_user_written_right_after_create_users_survives_to_head_and_can_log_in_sessions() {
    let (_db, mut conn) = written_at("2026-11-25-000001_create_users", "");

    assert_eq!(
        json_rows(&mut conn, "email, created_at", "FROM users"),
        [json!(["ada@example.com", "2026-11-25 12:00:00.000"])]
    );
    let session = SessionFactory::for_user_id(&"u1".into()).insert(&mut _db.conn());
    assert_eq!(
        session.user_id.as_str(),
        "u1",
        "the old user owns a session at head"
    );
}

#[test]
fn sessions_written_before_login_failures_survive_with_their_cascade() {
    let (_db, mut conn) = written_at(
        "2026-11-25-000002_create_sessions",
        "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at, user_agent) \
         VALUES ('s1', 'u1', '{\"k\":\"v\"}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00', 'curl/8');",
    );

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM sessions WHERE state = '{\"k\":\"v\"}' AND user_agent = 'curl/8'"
        ),
        1
    );
    assert_cascade(&mut conn, "DELETE FROM users WHERE id = 'u1'", "sessions");
}

#[test]
fn api_keys_written_before_the_playground_tables_survive_to_head() {
    let (_db, mut conn) = written_at(
        "2026-11-25-000004_create_api_keys",
        "INSERT INTO api_keys (id, user_id, name, public_id, secret_hash, created_at) \
         VALUES ('k1', 'u1', 'ci', 'ABCDEFGHJKMN', zeroblob(32), '2026-11-25 12:00:00');",
    );

    assert_eq!(
        json_rows(&mut conn, "public_id, length(secret_hash)", "FROM api_keys"),
        [json!(["ABCDEFGHJKMN", 32])]
    );
    conn.batch_execute(
        "INSERT INTO usage_records (id, user_id, model, source, prompt_tokens, completion_tokens, created_at) \
         VALUES ('r1', 'u1', 'echo-1', 'gateway', 1, 1, '2026-11-25 12:00:00')",
    )
    .expect("the old user's key can be used through the gateway at head");
}

#[test]
fn conversations_written_before_usage_records_survive_with_their_messages() {
    let (_db, mut conn) = written_at(
        "2026-11-25-000006_create_messages",
        "INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
         VALUES ('c1', 'u1', 'echo-1', 'Hi', 'Be brief.', '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) \
         VALUES ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:00'), \
                ('m2', 'c1', 'assistant', 'hello', 1, 1, '2026-11-25 12:00:01');",
    );

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE conversation_id = 'c1'"
        ),
        2
    );
    assert_cascade(
        &mut conn,
        "DELETE FROM conversations WHERE id = 'c1'",
        "messages",
    );
}

#[test]
fn messages_written_before_their_token_counts_get_them_filled_in() {
    let (_db, mut conn) = written_at(
        "2026-11-25-000007_create_usage_records",
        "INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
         VALUES ('c1', 'u1', 'echo-1', NULL, NULL, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) VALUES \
           ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:01'), \
           ('m2', 'c1', 'assistant', 'hello', 1, 7, '2026-11-25 12:00:02'), \
           ('m3', 'c1', 'user', ' one two three' || char(10), 0, 0, '2026-11-25 12:00:03'), \
           ('m4', 'c1', 'user', 'tab' || char(9) || 'and' || char(13) || char(10) || 'lines', 0, 0, '2026-11-25 12:00:04'), \
           ('m5', 'c1', 'user', '   ', 0, 0, '2026-11-25 12:00:05'), \
           ('m6', 'c1', 'user', 'two  spaces', 0, 0, '2026-11-25 12:00:06');",
    );

    let expected = [
        ("m1", 1), // one word
        ("m2", 7), // an answer: the provider's completion_tokens
        ("m3", 3), // leading and trailing whitespace trimmed
        ("m4", 4), // tab, CR and LF separate too (CR LF counts twice: errs high)
        ("m5", 0), // only whitespace
        ("m6", 3), // a doubled separator errs high, never low
    ];
    assert_eq!(
        json_rows(&mut conn, "id, tokens", "FROM messages ORDER BY id"),
        expected.map(|(id, tokens)| json!([id, tokens]))
    );
    let refused = conn.batch_execute("UPDATE messages SET tokens = -1 WHERE id = 'm1'");
    assert!(refused.is_err(), "tokens >= 0 is checked");
}

#[test]
fn sessions_written_before_public_ids_get_a_uuidv7_of_their_creation_time() {
    let (_db, mut conn) = written_at(
        "2026-12-02-000008_add_message_tokens",
        "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) VALUES \
           ('hash-1', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
           ('hash-2', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
           ('hash-3', 'u1', '{}', '2026-11-26 08:30:00', '2026-11-26 08:30:00', '2026-12-03 08:30:00');",
    );

    let rows = json_rows(
        &mut conn,
        "created_at, public_id",
        "FROM sessions ORDER BY id",
    );
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let (created_at, public_id) = (
            row[0].as_str().expect("created_at"),
            row[1].as_str().expect("public_id"),
        );
        let uuid = uuid::Uuid::parse_str(public_id).unwrap_or_else(|e| panic!("{public_id}: {e}"));
        assert_eq!(uuid.get_version_num(), 7, "{public_id}");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{public_id}");
        assert_eq!(
            public_id,
            uuid.hyphenated().to_string(),
            "lower-case, canonical"
        );
        let created = chrono::NaiveDateTime::parse_from_str(created_at, "%Y-%m-%d %H:%M:%S%.f")
            .expect("timestamp")
            .and_utc();
        let (secs, nanos) = uuid.get_timestamp().expect("a v7 timestamp").to_unix();
        assert_eq!(
            i64::try_from(secs).expect("secs") * 1000 + i64::from(nanos / 1_000_000),
            created.timestamp_millis(),
            "its time is the session's creation"
        );
        assert!(seen.insert(public_id.to_owned()), "unique");
    }
    assert_eq!(seen.len(), 3);
}
