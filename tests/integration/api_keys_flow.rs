//! Personal API keys over a real socket: shown once, never listed with
//! their secret, accepted as `Authorization: Bearer` on **auth** endpoints,
//! refused on key management, stopped at once by revocation or expiry, and
//! invisible to other users.

use chrono::TimeDelta;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use promptyard_repositories::DbConn;
use promptyard_tests::{Actor, Credential, TestServer};
use serde_json::{Value, json};

type User<'s> = Actor<'s, TestServer>;

/// `user`'s keys, as listed (asserting a 200).
async fn list_keys(user: &User<'_>) -> Value {
    let (status, keys) = user.get("/api/v1/api-keys").await.parts();
    assert_eq!(status, 200);
    keys
}

/// The status `user` gets revoking the key `id`.
async fn revoke(user: &User<'_>, id: &str) -> u16 {
    user.delete(&format!("/api/v1/api-keys/{id}")).await.status
}

/// The status `GET /api/v1/auth/me` answers `user`.
async fn me(user: &User<'_>) -> u16 {
    user.get("/api/v1/auth/me").await.status
}

#[tokio::test]
async fn create_see_it_once_use_it_revoke_it() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;

    // Create: the whole key, this once.
    let (ada_key, created) = ada.mint_key("laptop").await;
    let key = ada_key.key();
    let id = created["id"].as_str().expect("id");
    assert!(key.starts_with("pyk_"));

    // The list shows it, without the secret.
    let listed = list_keys(&ada).await;
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["prefix"], created["prefix"]);
    assert!(listed[0].get("key").is_none());
    assert!(!listed.to_string().contains(&key[17..]));

    // The key authenticates the auth endpoints.
    let (status, me) = ada_key.get("/api/v1/auth/me").await.parts();
    assert_eq!(status, 200);
    assert_eq!(me["email"], "ada@example.com");

    // Revoked: refused at once.
    assert_eq!(revoke(&ada, id).await, 204);
    ada_key
        .get("/api/v1/auth/me")
        .await
        .problem(401, "unauthenticated");
    assert_eq!(list_keys(&ada).await, json!([]));
}

#[tokio::test]
async fn another_user_can_neither_list_nor_revoke_it() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let grace = server.anonymous().sign_up("grace@example.com").await;
    let (ada_key, created) = ada.mint_key("ci").await;
    let id = created["id"].as_str().expect("id");

    assert_eq!(list_keys(&grace).await, json!([]));
    assert_eq!(revoke(&grace, id).await, 404);
    assert_eq!(me(&ada_key).await, 200, "still works");
}

#[tokio::test]
async fn a_key_cannot_create_keys() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let (ada_key, _) = ada.mint_key("ci").await;

    let escalation = ada_key
        .post("/api/v1/api-keys", &json!({"name": "escalation"}))
        .await;

    escalation.problem(403, "session_required");
    assert_eq!(list_keys(&ada).await.as_array().expect("array").len(), 1);
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let (status, created) = ada
        .post(
            "/api/v1/api-keys",
            &json!({"name": "day", "expires_in_days": 1}),
        )
        .await
        .parts();
    assert_eq!(status, 201, "{created}");
    let ada_key = ada.as_(Credential::Key(
        created["key"].as_str().expect("key").to_owned(),
    ));
    assert_eq!(me(&ada_key).await, 200);

    server.app.clock.advance(TimeDelta::days(1));

    assert_eq!(me(&ada_key).await, 401);
    assert_eq!(list_keys(&ada).await, json!([]));
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

#[derive(QueryableByName)]
struct RowVersion {
    #[diesel(sql_type = Text)]
    row: String,
}

/// What changes whenever another connection commits a write: SQLite's
/// `PRAGMA data_version`; on PostgreSQL, every row of every table with
/// its `xmin` (the transaction that wrote that version of it), so an
/// insert, a delete or an update (even to the same values) shows.
fn data_version(conn: &mut DbConn) -> String {
    match conn {
        DbConn::Sqlite(conn) => diesel::sql_query("PRAGMA data_version")
            .get_result::<DataVersion>(conn)
            .expect("data_version")
            .data_version
            .to_string(),
        DbConn::Postgres(conn) => {
            let sql = [
                ("users", "id"),
                ("sessions", "id"),
                ("login_failures", "email"),
                ("api_keys", "id"),
                ("conversations", "id"),
                ("messages", "id"),
                ("usage_records", "id"),
            ]
            .map(|(table, key)| {
                format!("SELECT '{table} ' || {key} || ' ' || xmin::text AS row FROM {table}")
            })
            .join(" UNION ALL ");
            diesel::sql_query(format!("SELECT row FROM ({sql}) AS rows ORDER BY row"))
                .load::<RowVersion>(conn)
                .expect("row versions")
                .into_iter()
                .map(|r| r.row)
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

#[tokio::test]
async fn key_and_cookie_authenticated_reads_write_nothing_in_the_steady_state() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let (ada_key, _) = ada.mint_key("ci").await;
    // The first use records last_used_at: one write.
    assert_eq!(me(&ada_key).await, 200);
    // Changes when another connection commits a write.
    let mut watcher = server.app.test_db.conn();
    let before = data_version(&mut watcher);

    for _ in 0..50 {
        assert_eq!(me(&ada_key).await, 200);
        assert_eq!(me(&ada).await, 200);
    }

    assert_eq!(
        data_version(&mut watcher),
        before,
        "100 authenticated reads committed nothing"
    );
    server.app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(me(&ada_key).await, 200);
    assert_ne!(
        data_version(&mut watcher),
        before,
        "a minute on, the use is recorded"
    );
}
