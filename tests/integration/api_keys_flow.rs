//! Personal API keys over a real socket: shown once, never listed with
//! their secret, accepted as `Authorization: Bearer` on **auth** endpoints,
//! refused on key management, stopped at once by revocation or expiry, and
//! invisible to other users.

use chrono::TimeDelta;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use promptyard_tests::{TestApp, TestServer, sign_up};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

struct Api {
    client: Client,
    server: TestServer,
}

impl Api {
    fn start() -> Self {
        Self {
            client: Client::new(),
            server: TestServer::serve(TestApp::new()),
        }
    }

    /// Registers and logs in; returns the session cookie header value.
    async fn user(&self, email: &str) -> String {
        sign_up(&self.client, &self.server, email).await
    }

    fn with_cookie(&self, request: RequestBuilder, cookie: &str) -> RequestBuilder {
        request.header("cookie", cookie)
    }

    async fn create_key(&self, cookie: &str, body: Value) -> Response {
        self.with_cookie(
            self.client.post(self.server.url("/api/v1/api-keys")),
            cookie,
        )
        .json(&body)
        .send()
        .await
        .expect("create")
    }

    async fn list_keys(&self, cookie: &str) -> Value {
        let response = self
            .with_cookie(self.client.get(self.server.url("/api/v1/api-keys")), cookie)
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    async fn me_with_key(&self, key: &str) -> Response {
        self.client
            .get(self.server.url("/api/v1/auth/me"))
            .bearer_auth(key)
            .send()
            .await
            .expect("me")
    }

    async fn revoke(&self, cookie: &str, id: &str) -> StatusCode {
        self.with_cookie(
            self.client
                .delete(self.server.url(&format!("/api/v1/api-keys/{id}"))),
            cookie,
        )
        .send()
        .await
        .expect("revoke")
        .status()
    }
}

#[tokio::test]
async fn create_see_it_once_use_it_revoke_it() {
    let api = Api::start();
    let cookie = api.user("ada@example.com").await;

    // Create: the whole key, this once.
    let created = api.create_key(&cookie, json!({"name": "laptop"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("pyk_"));

    // The list shows it, without the secret.
    let listed = api.list_keys(&cookie).await;
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["prefix"], created["prefix"]);
    assert!(listed[0].get("key").is_none());
    assert!(!listed.to_string().contains(&key[17..]));

    // The key authenticates the auth endpoints.
    let me = api.me_with_key(&key).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["email"], "ada@example.com");

    // Revoked: refused at once.
    assert_eq!(api.revoke(&cookie, &id).await, StatusCode::NO_CONTENT);
    let after = api.me_with_key(&key).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = after.json().await.expect("json");
    assert_eq!(problem["code"], "unauthenticated");
    assert_eq!(api.list_keys(&cookie).await, json!([]));
}

#[tokio::test]
async fn another_user_can_neither_list_nor_revoke_it() {
    let api = Api::start();
    let ada = api.user("ada@example.com").await;
    let grace = api.user("grace@example.com").await;
    let created: Value = api
        .create_key(&ada, json!({"name": "ci"}))
        .await
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");

    assert_eq!(api.list_keys(&grace).await, json!([]));
    assert_eq!(api.revoke(&grace, id).await, StatusCode::NOT_FOUND);
    let key = created["key"].as_str().expect("key");
    assert_eq!(
        api.me_with_key(key).await.status(),
        StatusCode::OK,
        "still works"
    );
}

#[tokio::test]
async fn a_key_cannot_create_keys() {
    let api = Api::start();
    let cookie = api.user("ada@example.com").await;
    let created: Value = api
        .create_key(&cookie, json!({"name": "ci"}))
        .await
        .json()
        .await
        .expect("json");
    let key = created["key"].as_str().expect("key");

    let minted = api
        .client
        .post(api.server.url("/api/v1/api-keys"))
        .bearer_auth(key)
        .json(&json!({"name": "escalation"}))
        .send()
        .await
        .expect("send");

    assert_eq!(minted.status(), StatusCode::FORBIDDEN);
    let problem: Value = minted.json().await.expect("json");
    assert_eq!(problem["code"], "session_required");
    assert_eq!(
        api.list_keys(&cookie)
            .await
            .as_array()
            .expect("array")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let api = Api::start();
    let cookie = api.user("ada@example.com").await;
    let created: Value = api
        .create_key(&cookie, json!({"name": "day", "expires_in_days": 1}))
        .await
        .json()
        .await
        .expect("json");
    let key = created["key"].as_str().expect("key");
    assert_eq!(api.me_with_key(key).await.status(), StatusCode::OK);

    api.server.app.clock.advance(TimeDelta::days(1));

    assert_eq!(
        api.me_with_key(key).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.list_keys(&cookie).await, json!([]));
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

fn data_version(conn: &mut SqliteConnection) -> i64 {
    diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(conn)
        .expect("data_version")
        .data_version
}

#[tokio::test]
async fn key_and_cookie_authenticated_reads_write_nothing_in_the_steady_state() {
    let api = Api::start();
    let cookie = api.user("ada@example.com").await;
    let created: Value = api
        .create_key(&cookie, json!({"name": "ci"}))
        .await
        .json()
        .await
        .expect("json");
    let key = created["key"].as_str().expect("key");
    // The first use records last_used_at: one write.
    assert_eq!(api.me_with_key(key).await.status(), StatusCode::OK);
    // PRAGMA data_version changes when another connection commits.
    let mut watcher = api.server.app.test_db.conn();
    let before = data_version(&mut watcher);

    for _ in 0..50 {
        assert_eq!(api.me_with_key(key).await.status(), StatusCode::OK);
        let me = api
            .client
            .get(api.server.url("/api/v1/auth/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), StatusCode::OK);
    }

    assert_eq!(
        data_version(&mut watcher),
        before,
        "100 authenticated reads committed nothing"
    );
    api.server.app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(api.me_with_key(key).await.status(), StatusCode::OK);
    assert_ne!(
        data_version(&mut watcher),
        before,
        "a minute on, the use is recorded"
    );
}
