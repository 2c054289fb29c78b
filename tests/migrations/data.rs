//! Rows written at an older version survive every later migration
//! (pytest-alembic's `at_revision_data`): stop at a version, write rows with
//! plain SQL, continue to head, look at them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use promptyard_db_models::MIGRATIONS;
use promptyard_test_support::TestDb;
use promptyard_test_support::migrations::{migrate_to, migrate_to_head};

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

#[test]
fn a_user_written_right_after_create_users_survives_to_head_and_can_log_in_sessions() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(&mut conn, &MIGRATIONS, "2026-11-25-000001_create_users")
        .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00.000', '2026-11-25 12:00:00.000')",
    )
    .expect("a user at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    #[derive(QueryableByName, Debug, PartialEq)]
    struct User {
        #[diesel(sql_type = Text)]
        email: String,
        #[diesel(sql_type = Text)]
        created_at: String,
    }
    let users = diesel::sql_query("SELECT email, created_at FROM users")
        .load::<User>(&mut conn)
        .expect("users");
    assert_eq!(
        users,
        [User {
            email: "ada@example.com".into(),
            created_at: "2026-11-25 12:00:00.000".into()
        }]
    );
    conn.batch_execute(
        "INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) \
         VALUES ('s1', 'u1', '{}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00')",
    )
    .expect("the old user can own a session at head");
}

#[test]
fn sessions_written_before_login_failures_survive_with_their_cascade() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(&mut conn, &MIGRATIONS, "2026-11-25-000002_create_sessions")
        .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at, user_agent) \
         VALUES ('s1', 'u1', '{\"k\":\"v\"}', '2026-11-25 12:00:00', '2026-11-25 12:00:00', '2026-12-02 12:00:00', 'curl/8');",
    )
    .expect("rows at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM sessions WHERE state = '{\"k\":\"v\"}' AND user_agent = 'curl/8'"
        ),
        1
    );
    conn.batch_execute("DELETE FROM users WHERE id = 'u1'")
        .expect("delete the user");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM sessions"),
        0,
        "ON DELETE CASCADE still holds"
    );
}

#[test]
fn api_keys_written_before_the_playground_tables_survive_to_head() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(&mut conn, &MIGRATIONS, "2026-11-25-000004_create_api_keys")
        .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO api_keys (id, user_id, name, public_id, secret_hash, created_at) \
         VALUES ('k1', 'u1', 'ci', 'ABCDEFGHJKMN', zeroblob(32), '2026-11-25 12:00:00');",
    )
    .expect("rows at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM api_keys WHERE public_id = 'ABCDEFGHJKMN' AND length(secret_hash) = 32"
        ),
        1
    );
    conn.batch_execute(
        "INSERT INTO usage_records (id, user_id, model, source, prompt_tokens, completion_tokens, created_at) \
         VALUES ('r1', 'u1', 'echo-1', 'gateway', 1, 1, '2026-11-25 12:00:00')",
    )
    .expect("the old user's key can be used through the gateway at head");
}

#[test]
fn conversations_written_before_usage_records_survive_with_their_messages() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(&mut conn, &MIGRATIONS, "2026-11-25-000006_create_messages")
        .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
         VALUES ('c1', 'u1', 'echo-1', 'Hi', 'Be brief.', '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) \
         VALUES ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:00'), \
                ('m2', 'c1', 'assistant', 'hello', 1, 1, '2026-11-25 12:00:01');",
    )
    .expect("rows at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages WHERE conversation_id = 'c1'"
        ),
        2
    );
    conn.batch_execute("DELETE FROM conversations WHERE id = 'c1'")
        .expect("delete");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        0,
        "ON DELETE CASCADE still holds"
    );
}

#[test]
fn messages_written_before_their_token_counts_get_them_filled_in() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(
        &mut conn,
        &MIGRATIONS,
        "2026-11-25-000007_create_usage_records",
    )
    .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO conversations (id, user_id, model, title, system_prompt, created_at, updated_at) \
         VALUES ('c1', 'u1', 'echo-1', NULL, NULL, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO messages (id, conversation_id, role, content, prompt_tokens, completion_tokens, created_at) VALUES \
           ('m1', 'c1', 'user', 'hello', 0, 0, '2026-11-25 12:00:01'), \
           ('m2', 'c1', 'assistant', 'hello', 1, 7, '2026-11-25 12:00:02'), \
           ('m3', 'c1', 'user', ' one two three' || char(10), 0, 0, '2026-11-25 12:00:03'), \
           ('m4', 'c1', 'user', 'tab' || char(9) || 'and' || char(13) || char(10) || 'lines', 0, 0, '2026-11-25 12:00:04'), \
           ('m5', 'c1', 'user', '   ', 0, 0, '2026-11-25 12:00:05'), \
           ('m6', 'c1', 'user', 'two  spaces', 0, 0, '2026-11-25 12:00:06');",
    )
    .expect("rows at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Tokens {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = BigInt)]
        tokens: i64,
    }
    let filled = diesel::sql_query("SELECT id, tokens FROM messages ORDER BY id")
        .load::<Tokens>(&mut conn)
        .expect("tokens");
    let expected = [
        ("m1", 1), // one word
        ("m2", 7), // an answer: the provider's completion_tokens
        ("m3", 3), // leading and trailing whitespace trimmed
        ("m4", 4), // tab, CR and LF separate too (CR LF counts twice: errs high)
        ("m5", 0), // only whitespace
        ("m6", 3), // a doubled separator errs high, never low
    ];
    assert_eq!(
        filled,
        expected
            .iter()
            .map(|&(id, tokens)| Tokens {
                id: id.into(),
                tokens
            })
            .collect::<Vec<_>>()
    );
    let refused = conn.batch_execute("UPDATE messages SET tokens = -1 WHERE id = 'm1'");
    assert!(refused.is_err(), "tokens >= 0 is checked");
}

#[test]
fn sessions_written_before_public_ids_get_a_uuidv7_of_their_creation_time() {
    let test_db = TestDb::empty();
    let mut conn = test_db.conn();
    migrate_to(
        &mut conn,
        &MIGRATIONS,
        "2026-12-02-000008_add_message_tokens",
    )
    .unwrap_or_else(|f| panic!("\n{f}"));
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, is_active, created_at, updated_at) \
         VALUES ('u1', 'ada@example.com', '$argon2id$x', 1, '2026-11-25 12:00:00', '2026-11-25 12:00:00'); \
         INSERT INTO sessions (id, user_id, state, created_at, last_seen_at, expires_at) VALUES \
           ('hash-1', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
           ('hash-2', 'u1', '{}', '2026-11-25 12:00:00.123', '2026-11-25 12:00:00', '2026-12-02 12:00:00'), \
           ('hash-3', 'u1', '{}', '2026-11-26 08:30:00', '2026-11-26 08:30:00', '2026-12-03 08:30:00');",
    )
    .expect("rows at that version");

    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        created_at: String,
        #[diesel(sql_type = Text)]
        public_id: String,
    }
    let rows = diesel::sql_query("SELECT created_at, public_id FROM sessions ORDER BY id")
        .load::<Row>(&mut conn)
        .expect("sessions");
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let uuid = uuid::Uuid::parse_str(&row.public_id)
            .unwrap_or_else(|e| panic!("{}: {e}", row.public_id));
        assert_eq!(uuid.get_version_num(), 7, "{}", row.public_id);
        assert_eq!(
            uuid.get_variant(),
            uuid::Variant::RFC4122,
            "{}",
            row.public_id
        );
        assert_eq!(
            row.public_id,
            uuid.hyphenated().to_string(),
            "lower-case, canonical"
        );
        let created =
            chrono::NaiveDateTime::parse_from_str(&row.created_at, "%Y-%m-%d %H:%M:%S%.f")
                .expect("timestamp")
                .and_utc();
        let (secs, nanos) = uuid.get_timestamp().expect("a v7 timestamp").to_unix();
        assert_eq!(
            i64::try_from(secs).expect("secs") * 1000 + i64::from(nanos / 1_000_000),
            created.timestamp_millis(),
            "its time is the session's creation"
        );
        assert!(seen.insert(row.public_id.clone()), "unique");
    }
    assert_eq!(seen.len(), 3);
}
