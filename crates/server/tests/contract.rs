//! The contract's Auth section and error conventions, row by row, over real
//! HTTP against the `promptyard` binary started with only
//! `PROMPTYARD_DATABASE_URL` and `PROMPTYARD_BIND` set.
//!
//! On a migrated database of its own: PostgreSQL when
//! `PROMPTYARD_TEST_POSTGRES_URL` is set (with the test cookie key
//! `process` gives every server on PostgreSQL), else SQLite. That `serve`
//! migrates an empty database is `cli.rs`'s to check.
//!
//! By default this runs the debug binary cargo builds for the tests; point
//! it at another build with `PROMPTYARD_BIN`, e.g. the release binary:
//!
//! ```sh
//! cargo build --release
//! PROMPTYARD_BIN=target/release/promptyard cargo test -p promptyard-server --test contract
//! ```

use std::path::PathBuf;

use promptyard_test_support::TestDb;
use promptyard_test_support::api::{
    Actor, Credential, PASSWORD, Request, Response, Wire, credentials, each, error_fields, keys,
};
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_test_support::process::{ServerProcess, binary_under_test, run};
use serde_json::{Value, json};

fn binary() -> PathBuf {
    binary_under_test(env!("CARGO_BIN_EXE_promptyard"))
}

/// The binary on a database of its own (with a fake upstream if wanted),
/// and the wire to it.
struct Server {
    /// Killed when dropped, before its database is removed.
    _process: ServerProcess,
    test_db: TestDb,
    wire: Wire,
    /// The upstream its providers file points at, if any.
    upstream: Option<FakeOpenAi>,
}

impl Server {
    fn start() -> Self {
        Self::launch(TestDb::new(), &[], None)
    }

    /// Started with a providers file pointing at a fake upstream (model
    /// `fake-1`, a 1 s timeout, a key read from `FAKE_KEY`).
    fn with_upstream() -> Self {
        let fake = FakeOpenAi::start();
        let test_db = TestDb::new();
        let providers = fake.providers_file(test_db.dir(), 1, Some("FAKE_KEY"));
        Self::launch(
            test_db,
            &[
                ("PROMPTYARD_PROVIDERS_FILE", &providers),
                ("FAKE_KEY", "sk-upstream-secret"),
            ],
            Some(fake),
        )
    }

    /// The binary on `test_db`, with the bind address, the database URL
    /// and `envs` set.
    fn launch(test_db: TestDb, envs: &[(&str, &str)], upstream: Option<FakeOpenAi>) -> Self {
        let mut all = vec![
            ("PROMPTYARD_BIND", "127.0.0.1:0"),
            ("PROMPTYARD_DATABASE_URL", test_db.url()),
        ];
        all.extend_from_slice(envs);
        let process = ServerProcess::start(&binary(), test_db.dir(), &[], &all);
        let wire = Wire(process.addr());
        Self {
            _process: process,
            test_db,
            wire,
            upstream,
        }
    }

    /// The fake upstream of [`Server::with_upstream`].
    fn fake(&self) -> &FakeOpenAi {
        self.upstream.as_ref().expect("started with an upstream")
    }

    /// Someone calling it without credentials.
    fn anon(&self) -> Actor<'_, Wire> {
        Actor::anonymous(&self.wire)
    }

    /// Registers `email` (201): someone, still without credentials.
    async fn registered(&self, email: &str) -> Actor<'_, Wire> {
        let anon = self.anon();
        assert_eq!(anon.register(email).await.status, 201);
        anon
    }

    /// `ada@example.com`, signed up: her session.
    async fn ada(&self) -> Actor<'_, Wire> {
        self.anon().sign_up("ada@example.com").await
    }

    /// Ada, signed up, with an API key named `name`: her session, the key
    /// and the key object.
    async fn ada_with_key(&self, name: &str) -> (Actor<'_, Wire>, Actor<'_, Wire>, Value) {
        let ada = self.ada().await;
        let (key, created) = ada.mint_key(name).await;
        (ada, key, created)
    }

    /// Ada, signed up, in a [`brief`] conversation: her session and its id.
    async fn ada_in_a_conversation(&self) -> (Actor<'_, Wire>, String) {
        let ada = self.ada().await;
        let id = brief(&ada).await["id"].as_str().expect("id").to_owned();
        (ada, id)
    }

    /// Runs `promptyard user disable email` on its database.
    fn disable_user(&self, email: &str) {
        let output = run(
            &binary(),
            self.test_db.dir(),
            &["user", "disable", email],
            &[("PROMPTYARD_DATABASE_URL", self.test_db.url())],
        );
        assert!(output.status.success());
    }
}

/// Asserts the contract's user object.
fn assert_user(body: &Value, email: &str) {
    assert_eq!(keys(body), ["created_at", "email", "id", "is_active"]);
    assert_eq!(body["email"], email);
    assert_eq!(body["is_active"], true);
    let created = body["created_at"].as_str().expect("created_at");
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
    assert!(uuid::Uuid::parse_str(body["id"].as_str().expect("id")).is_ok());
}

/// `GET path` with `user`'s credential: 200, the array it answers.
async fn list(user: &Actor<'_, Wire>, path: &str) -> Vec<Value> {
    let list = user.get(path).await.expect_json(200);
    list.as_array().expect("array").clone()
}

// --- Auth -------------------------------------------------------------------

#[tokio::test]
async fn register_201_answers_the_user_with_the_email_lowercased() {
    let s = Server::start();

    let created = s.anon().register("Ada@Example.com").await;

    assert_user(&created.expect_json(201), "ada@example.com");
}

#[tokio::test]
async fn register_409_for_an_email_taken_in_any_case() {
    let s = Server::start();
    let anon = s.registered("Ada@Example.com").await;

    anon.register("ADA@example.com")
        .await
        .problem(409, "email_taken");
}

#[tokio::test]
async fn register_422_names_each_invalid_field() {
    let s = Server::start();

    let invalid = s
        .anon()
        .post("/api/v1/auth/register", &credentials("ada", "short"))
        .await;

    let body = invalid.problem(422, "validation_failed");
    assert_eq!(error_fields(&body), ["email", "password"]);
}

#[tokio::test]
async fn login_200_answers_the_user_and_sets_an_http_only_lax_session_cookie() {
    let s = Server::start();
    let ok = s
        .registered("ada@example.com")
        .await
        .login("ada@example.com", PASSWORD)
        .await;

    assert_user(&ok.expect_json(200), "ada@example.com");
    let set_cookie = ok
        .set_cookies()
        .into_iter()
        .find(|v| v.starts_with("session_id="))
        .expect("session_id cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "Secure only when configured: {set_cookie}"
    );
}

#[tokio::test]
async fn login_401_is_the_same_for_an_unknown_email_and_a_wrong_password() {
    let s = Server::start();
    let anon = s.registered("ada@example.com").await;

    let unknown = anon.login("nobody@example.com", PASSWORD).await;
    let wrong = anon.login("ada@example.com", "wrong password").await;

    unknown.problem(401, "invalid_credentials");
    wrong.problem(401, "invalid_credentials");
    assert_eq!(unknown.body, wrong.body, "the same answer for both");
}

#[tokio::test]
async fn login_429_with_a_retry_after_once_an_email_failed_ten_times() {
    let s = Server::start();
    let anon = s.registered("ada@example.com").await;
    for _ in 0..10 {
        assert_eq!(
            anon.login("ada@example.com", "wrong password").await.status,
            401
        );
    }

    let limited = anon.login("ada@example.com", PASSWORD).await;

    limited.problem(429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
}

#[tokio::test]
async fn login_403_for_a_disabled_account() {
    let s = Server::start();
    let anon = s.registered("grace@example.com").await;
    s.disable_user("grace@example.com");

    anon.login("grace@example.com", PASSWORD)
        .await
        .problem(403, "account_disabled");
}

#[tokio::test]
async fn me_200_answers_the_sessions_user() {
    let s = Server::start();

    let me = s.ada().await.get("/api/v1/auth/me").await;

    assert_user(&me.expect_json(200), "ada@example.com");
}

#[tokio::test]
async fn me_401_without_a_session_or_with_an_unknown_cookie() {
    let s = Server::start();
    s.ada().await;

    for anon in [
        s.anon(),
        s.anon().as_(Credential::Cookie("garbage".to_owned())),
    ] {
        anon.get("/api/v1/auth/me")
            .await
            .problem(401, "unauthenticated");
    }
}

#[tokio::test]
async fn logout_401_without_a_session() {
    Server::start()
        .anon()
        .logout()
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn logout_200_expires_the_cookie_then_the_old_cookie_gets_401_on_every_endpoint() {
    let s = Server::start();
    let ada = s.ada().await;

    let out = ada.logout().await;

    assert_eq!(out.expect_json(200), json!({"message": "logged out"}));
    assert_eq!(
        out.cookie("session_id").as_deref(),
        Some(""),
        "the cookie is expired"
    );
    for (method, path) in [
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/auth/sessions"),
        ("DELETE", "/api/v1/auth/sessions/some-id"),
    ] {
        ada.send(Request::new(method, path))
            .await
            .problem(401, "unauthenticated");
    }
    ada.change_password(PASSWORD, "whatever whatever")
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn password_401_for_a_wrong_current_password() {
    let s = Server::start();

    s.ada()
        .await
        .change_password("not it at all", "a newer password")
        .await
        .problem(401, "invalid_credentials");
}

#[tokio::test]
async fn password_422_for_a_short_new_password() {
    let s = Server::start();

    let short = s.ada().await.change_password(PASSWORD, "short").await;

    assert_eq!(
        error_fields(&short.problem(422, "validation_failed")),
        ["new_password"]
    );
}

#[tokio::test]
async fn password_200_keeps_this_session_and_revokes_the_others() {
    let s = Server::start();
    let mine = s.ada().await;
    let other = s.anon().log_in("ada@example.com").await;

    let changed = mine.change_password(PASSWORD, "a newer password").await;

    assert!(changed.expect_json(200)["message"].is_string());
    assert_eq!(mine.get("/api/v1/auth/me").await.status, 200);
    assert_eq!(other.get("/api/v1/auth/me").await.status, 401);
}

#[tokio::test]
async fn sessions_401_without_a_session() {
    Server::start()
        .anon()
        .get("/api/v1/auth/sessions")
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn sessions_200_lists_each_session_and_marks_the_current_one() {
    let s = Server::start();
    let mine = s.ada().await;
    s.anon().log_in("ada@example.com").await;

    let sessions = list(&mine, "/api/v1/auth/sessions").await;

    assert_eq!(sessions.len(), 2);
    for session in &sessions {
        assert_eq!(
            keys(session),
            [
                "created_at",
                "current",
                "expires_at",
                "id",
                "last_seen_at",
                "user_agent"
            ]
        );
    }
    let current = sessions.iter().filter(|s| s["current"] == true).count();
    assert_eq!(current, 1);
}

#[tokio::test]
async fn delete_session_204_revokes_it_at_once_then_404() {
    let s = Server::start();
    let mine = s.ada().await;
    let other = s.anon().log_in("ada@example.com").await;
    let other_id = list(&mine, "/api/v1/auth/sessions")
        .await
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();
    let path = format!("/api/v1/auth/sessions/{other_id}");

    let deleted = mine.delete(&path).await;

    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(other.get("/api/v1/auth/me").await.status, 401);
    mine.delete(&path).await.problem(404, "not_found");
}
// --- Conventions ------------------------------------------------------------

/// `POST /api/v1/auth/register` with this `Content-Type` and body (each if
/// any), sent as they are.
async fn register_raw(s: &Server, content_type: Option<&str>, body: Option<&[u8]>) -> Response {
    let mut request = Request::new("POST", "/api/v1/auth/register");
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    s.anon().send(request).await
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn an_empty_missing_unparsable_or_non_object_body_is_400() {
    let s = Server::start();

    for body in [
        Some(&b""[..]),
        None,
        Some(&b"{not json"[..]),
        Some(&b"[\"an\", \"array\"]"[..]),
    ] {
        register_raw(&s, JSON, body)
            .await
            .problem(400, "malformed_body");
    }
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_415() {
    let s = Server::start();
    let body = Some(&b"{\"email\":\"a@b.co\"}"[..]);

    register_raw(&s, Some("text/plain"), body)
        .await
        .problem(415, "unsupported_media_type");
    register_raw(&s, None, body)
        .await
        .problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let s = Server::start();
    let big = format!(
        r#"{{"email":"a@b.co","password":"{}"}}"#,
        "x".repeat(65 * 1024)
    );

    register_raw(&s, JSON, Some(big.as_bytes()))
        .await
        .problem(413, "payload_too_large");
}

#[tokio::test]
async fn a_mistyped_or_incomplete_body_is_422_naming_each_field() {
    let s = Server::start();

    let mistyped = register_raw(&s, JSON, Some(br#"{"email": 42}"#)).await;

    assert_eq!(
        mistyped.problem(422, "validation_failed")["errors"],
        json!([
            {"field": "email", "message": "must be a string"},
            {"field": "password", "message": "is required"},
        ])
    );
}

#[tokio::test]
async fn an_unknown_path_is_404_inside_and_outside_the_api() {
    let s = Server::start();

    for path in ["/api/v1/nothing-here", "/nothing-here"] {
        s.anon().get(path).await.problem(404, "not_found");
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405() {
    let s = Server::start();

    s.anon()
        .send(Request::new("PUT", "/api/v1/auth/me"))
        .await
        .problem(405, "method_not_allowed");
    s.anon()
        .get("/api/v1/auth/register")
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document_answer_200() {
    let s = Server::start();
    let anon = s.anon();

    assert_eq!(
        anon.get("/healthz").await.parts(),
        (200, json!({"status": "ok"}))
    );
    assert_eq!(anon.get("/readyz").await.status, 200);
    let doc = anon.get("/api/v1/openapi.json").await.expect_json(200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let s = Server::start();

    let response = s
        .anon()
        .send(Request::new("GET", "/api/v1/auth/me").header("Origin", "https://elsewhere.example"))
        .await;

    assert_eq!(response.status, 401);
    assert!(response.header("access-control-allow-origin").is_none());
}

// --- API keys -------------------------------------------------------------

/// Asserts the contract's API key object (without `key`).
fn assert_key_object(key: &Value) {
    let mut names = keys(key);
    names.retain(|k| *k != "key");
    assert_eq!(
        names,
        [
            "budget_used",
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "limits",
            "name",
            "prefix"
        ]
    );
    assert!(key["prefix"].as_str().expect("prefix").starts_with("pyk_"));
}

/// Creates a key with `user`'s session: 201, the key object.
async fn create_key(user: &Actor<'_, Wire>, body: &Value) -> Value {
    user.post("/api/v1/api-keys", body).await.expect_json(201)
}

#[tokio::test]
async fn api_keys_create_201_shows_the_whole_key_once_with_an_optional_expiry() {
    let s = Server::start();
    let ada = s.ada().await;

    let created = create_key(&ada, &json!({"name": "laptop", "expires_in_days": 3650})).await;
    let forever = create_key(&ada, &json!({"name": "forever"})).await;

    assert_key_object(&created);
    let key = created["key"].as_str().expect("the whole key");
    assert!(key.starts_with(&format!("{}_", created["prefix"].as_str().expect("prefix"))));
    assert!(created["expires_at"].is_string());
    assert_eq!(forever["expires_at"], Value::Null);
}

#[tokio::test]
async fn api_keys_list_200_shows_every_key_without_its_secret() {
    let s = Server::start();
    let (ada, key, _) = s.ada_with_key("laptop").await;
    ada.mint_key("forever").await;

    let list = list(&ada, "/api/v1/api-keys").await;

    assert_eq!(list.len(), 2);
    for listed in &list {
        assert_key_object(listed);
        assert!(listed.get("key").is_none(), "no secrets in the list");
    }
    assert!(
        !ada.get("/api/v1/api-keys")
            .await
            .text()
            .contains(&key.key()[17..])
    );
}

#[tokio::test]
async fn a_key_authenticates_on_an_auth_endpoint_and_records_last_used_at() {
    let s = Server::start();
    let (ada, key, created) = s.ada_with_key("laptop").await;

    let me = key.get("/api/v1/auth/me").await;

    assert_user(&me.expect_json(200), "ada@example.com");
    let used = list(&ada, "/api/v1/api-keys")
        .await
        .into_iter()
        .find(|k| k["id"] == created["id"])
        .expect("listed");
    assert!(used["last_used_at"].is_string(), "{used}");
}

#[tokio::test]
async fn api_keys_need_a_session_403_with_a_key_and_401_without_credentials() {
    let s = Server::start();
    let (_, key, created) = s.ada_with_key("laptop").await;
    let id = created["id"].as_str().expect("id");

    for (who, problem) in [
        (&key, (403, "session_required")),
        (&s.anon(), (401, "unauthenticated")),
    ] {
        who.post("/api/v1/api-keys", &json!({"name": "more"}))
            .await
            .problem(problem.0, problem.1);
        who.get("/api/v1/api-keys")
            .await
            .problem(problem.0, problem.1);
    }
    key.delete(&format!("/api/v1/api-keys/{id}"))
        .await
        .problem(403, "session_required");
}

#[tokio::test]
async fn api_keys_create_422_outside_a_name_of_1_to_100_and_1_to_3650_days() {
    let s = Server::start();
    let ada = s.ada().await;

    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "ok", "expires_in_days": 0}),
        json!({"name": "ok", "expires_in_days": 3651}),
        json!({}),
    ] {
        ada.post("/api/v1/api-keys", &body)
            .await
            .problem(422, "validation_failed");
    }
    create_key(
        &ada,
        &json!({"name": "é".repeat(100), "expires_in_days": 1}),
    )
    .await;
}

/// The path of the API key `created` (a key object).
fn key_path(created: &Value) -> String {
    format!("/api/v1/api-keys/{}", created["id"].as_str().expect("id"))
}

#[tokio::test]
async fn another_users_key_is_404_never_403() {
    let s = Server::start();
    let (_, _, created) = s.ada_with_key("laptop").await;
    let grace = s.anon().sign_up("grace@example.com").await;

    grace
        .delete(&key_path(&created))
        .await
        .problem(404, "not_found");
    assert_eq!(grace.get("/api/v1/api-keys").await.json(), json!([]));
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once_and_revoking_it_again_is_404() {
    let s = Server::start();
    let (ada, key, created) = s.ada_with_key("laptop").await;
    let path = key_path(&created);

    assert_eq!(ada.delete(&path).await.status, 204);
    key.get("/api/v1/auth/me")
        .await
        .problem(401, "unauthenticated");
    ada.delete(&path).await.problem(404, "not_found");
}

#[tokio::test]
async fn unknown_keys_and_the_keys_of_a_disabled_user_get_401() {
    let s = Server::start();
    let (_, key, _) = s.ada_with_key("forever").await;

    s.anon()
        .as_(Credential::Key("pyk_0000000000000_nope".to_owned()))
        .get("/api/v1/auth/me")
        .await
        .problem(401, "unauthenticated");
    assert_eq!(key.get("/api/v1/auth/me").await.status, 200);
    s.disable_user("ada@example.com");
    key.get("/api/v1/auth/me")
        .await
        .problem(401, "unauthenticated");
}

// --- Playground -------------------------------------------------------------

fn assert_conversation(c: &Value) {
    assert_eq!(
        keys(c),
        [
            "created_at",
            "id",
            "model",
            "system_prompt",
            "title",
            "updated_at"
        ]
    );
}

fn assert_message(m: &Value, role: &str) {
    assert_eq!(keys(m), ["content", "created_at", "id", "role"]);
    assert_eq!(m["role"], role);
}

fn assert_usage(u: &Value) {
    assert_eq!(
        keys(u),
        ["completion_tokens", "prompt_tokens", "total_tokens"]
    );
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().expect("n") + u["completion_tokens"].as_u64().expect("n"))
    );
}

/// Starts a `fake-1` conversation with the system prompt `Be brief.`
/// (201); its JSON.
async fn brief(user: &Actor<'_, Wire>) -> Value {
    user.create_conversation(&json!({"model": "fake-1", "system_prompt": "Be brief."}))
        .await
}

fn conversation_path(id: &str) -> String {
    format!("/api/v1/playground/conversations/{id}")
}

fn messages_path(id: &str) -> String {
    format!("/api/v1/playground/conversations/{id}/messages")
}

/// Sends `content` to conversation `id`, streamed or not.
async fn send(user: &Actor<'_, Wire>, id: &str, content: &str, stream: bool) -> Response {
    let body = if stream {
        json!({"content": content, "stream": true})
    } else {
        json!({"content": content})
    };
    user.post(&messages_path(id), &body).await
}

#[tokio::test]
async fn playground_models_200_with_a_cookie_or_a_key_and_401_without() {
    let s = Server::with_upstream();
    let (ada, key, _) = s.ada_with_key("k").await;

    let models = ada.get("/api/v1/playground/models").await.expect_json(200);

    assert_eq!(each(&models["models"], "id"), ["echo-1", "fake-1"]);
    assert_eq!(models["models"][1]["provider"], "local");
    assert_eq!(key.get("/api/v1/playground/models").await.status, 200);
    s.anon()
        .get("/api/v1/playground/models")
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn playground_create_conversation_201_and_422_for_an_unknown_model() {
    let s = Server::with_upstream();
    let ada = s.ada().await;

    let conversation = brief(&ada).await;

    assert_conversation(&conversation);
    assert_eq!(conversation["title"], Value::Null);
    ada.post(
        "/api/v1/playground/conversations",
        &json!({"model": "gpt-9"}),
    )
    .await
    .problem(422, "validation_failed");
}

#[tokio::test]
async fn playground_conversations_list_newest_first_by_limit_and_before_and_422_otherwise() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;
    let echo = ada
        .create_conversation(&json!({"model": "echo-1", "title": "Echo"}))
        .await;

    let page = ada
        .get("/api/v1/playground/conversations?limit=1")
        .await
        .expect_json(200);

    assert_eq!(page["items"][0]["id"], echo["id"]);
    let next = page["next_before"].as_str().expect("a next page");
    let rest = ada
        .get(&format!("/api/v1/playground/conversations?before={next}"))
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], id.as_str());
    assert_eq!(rest["next_before"], Value::Null);
    for query in ["limit=0", "limit=101", "before=", "before=unknown"] {
        ada.get(&format!("/api/v1/playground/conversations?{query}"))
            .await
            .problem(422, "validation_failed");
    }
}

#[tokio::test]
async fn playground_send_201_answers_the_exchange_and_sends_the_system_prompt_first_with_our_key() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;

    let sent = ada
        .post(
            &messages_path(&id),
            &json!({"content": "Hello", "temperature": 0.2, "max_tokens": 100}),
        )
        .await;

    let exchange = sent.expect_json(201);
    assert_message(&exchange["user_message"], "user");
    assert_message(&exchange["assistant_message"], "assistant");
    assert_eq!(exchange["assistant_message"]["content"], "fake: Hello");
    assert_usage(&exchange["usage"]);
    let upstream = s.fake().requests();
    assert_eq!(
        upstream[0].body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        upstream[0].header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
}

#[tokio::test]
async fn playground_send_streamed_200_sends_deltas_then_one_done_event() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;

    let streamed = send(&ada, &id, "Stream it", true).await;

    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let (text, done) = streamed.deltas_and_done();
    assert_eq!(text, "fake: Stream it");
    assert_eq!(done["done"], true);
    assert_message(&done["assistant_message"], "assistant");
    assert_usage(&done["usage"]);
}

#[tokio::test]
async fn playground_sends_422_404_502_or_cut_store_nothing_and_a_conversation_reads_oldest_first() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;
    assert_eq!(send(&ada, &id, "Hello", false).await.status, 201);
    assert_eq!(send(&ada, &id, "Stream it", true).await.status, 200);

    for body in [
        json!({"content": ""}),
        json!({"content": "x", "temperature": 2.5}),
        json!({"content": "x", "max_tokens": 40000}),
    ] {
        ada.post(&messages_path(&id), &body)
            .await
            .problem(422, "validation_failed");
    }
    send(&ada, "nope", "x", false)
        .await
        .problem(404, "not_found");
    s.fake()
        .push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang);
    for _ in 0..2 {
        send(&ada, &id, "fail", false)
            .await
            .problem(502, "provider_error");
    }
    s.fake().push(Reply::Stream {
        deltas: vec!["half ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });
    let cut = send(&ada, &id, "cut", true).await;
    let last = cut.sse().pop().expect("frames");
    assert_eq!(last.0.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(&last.1).expect("json")["code"],
        "provider_error"
    );

    let read = ada.get(&conversation_path(&id)).await.expect_json(200);

    assert_eq!(
        each(&read["messages"], "content"),
        ["Hello", "fake: Hello", "Stream it", "fake: Stream it"]
    );
}

#[tokio::test]
async fn playground_usage_200_totals_and_lists_only_models_with_usage() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;
    ada.start_conversation("echo-1").await;
    assert_eq!(send(&ada, &id, "Hello", false).await.status, 201);

    let usage = ada.get("/api/v1/playground/usage").await.expect_json(200);

    assert_usage(&usage["total"]);
    assert_eq!(
        each(&usage["by_model"], "model"),
        ["fake-1"],
        "only models with usage"
    );
}

#[tokio::test]
async fn playground_delete_204_then_404_another_user_gets_404_and_the_usage_stays() {
    let s = Server::with_upstream();
    let (ada, id) = s.ada_in_a_conversation().await;
    assert_eq!(send(&ada, &id, "Hello", false).await.status, 201);
    let usage = ada.get("/api/v1/playground/usage").await.json();
    let grace = s.anon().sign_up("grace@example.com").await;
    let path = conversation_path(&id);

    grace.get(&path).await.problem(404, "not_found");
    grace.delete(&path).await.problem(404, "not_found");
    assert_eq!(ada.delete(&path).await.status, 204);
    ada.get(&path).await.problem(404, "not_found");
    ada.delete(&path).await.problem(404, "not_found");
    assert_eq!(ada.get("/api/v1/playground/usage").await.json(), usage);
}

// --- Gateway ----------------------------------------------------------------

/// A chat completion request for `model` with one user message.
fn chat(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

/// `POST /v1/chat/completions` of `request` with `key`.
async fn complete(key: &Actor<'_, Wire>, request: &Value) -> Response {
    key.post("/v1/chat/completions", request).await
}

#[tokio::test]
async fn gateway_models_200_in_openais_list_shape() {
    let s = Server::with_upstream();
    let (_, key, _) = s.ada_with_key("sdk").await;

    let models = key.get("/v1/models").await.expect_json(200);

    assert_eq!(models["object"], "list");
    for model in models["data"].as_array().expect("data") {
        assert_eq!(model["object"], "model");
        assert!(
            model["id"].is_string() && model["owned_by"].is_string() && model["created"].is_i64()
        );
    }
}

#[tokio::test]
async fn gateway_chat_completion_200_in_openais_shape() {
    let s = Server::with_upstream();
    let (_, key, _) = s.ada_with_key("sdk").await;

    let completion = complete(&key, &chat("fake-1", "hi")).await.expect_json(200);

    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(
        completion["choices"][0]["message"],
        json!({"role": "assistant", "content": "fake: hi", "refusal": null})
    );
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_usage(&completion["usage"]);
}

/// `chat(model, content)` streamed, with the usage if `usage`.
fn streamed_chat(model: &str, content: &str, usage: bool) -> Value {
    let mut request = chat(model, content);
    request["stream"] = json!(true);
    if usage {
        request["stream_options"] = json!({"include_usage": true});
    }
    request
}

#[tokio::test]
async fn gateway_streamed_completion_200_sends_chunks_the_usage_then_done() {
    let s = Server::with_upstream();
    let (_, key, _) = s.ada_with_key("sdk").await;

    let streamed = complete(&key, &streamed_chat("echo-1", "a b c", true)).await;

    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let frames = streamed.sse();
    assert_eq!(frames.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("chunk"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_usage(&chunks.last().expect("usage chunk")["usage"]);
}

#[tokio::test]
async fn gateway_401_invalid_api_key_for_a_session_or_an_unknown_key() {
    let s = Server::with_upstream();

    for caller in [
        s.ada().await,
        s.anon().as_(Credential::Key("pyk_bad".to_owned())),
    ] {
        caller.get("/v1/models").await.openai_error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
}

#[tokio::test]
async fn gateway_404_for_an_unknown_model_and_400_for_an_invalid_request() {
    let s = Server::with_upstream();
    let (_, key, _) = s.ada_with_key("sdk").await;

    complete(&key, &chat("gpt-9", "hi")).await.openai_error(
        404,
        "invalid_request_error",
        Some("model_not_found"),
    );
    complete(&key, &json!({"model": "echo-1"}))
        .await
        .openai_error(400, "invalid_request_error", None);
}

#[tokio::test]
async fn gateway_502_when_the_upstream_fails_and_a_cut_stream_ends_with_an_error() {
    let s = Server::with_upstream();
    let (_, key, _) = s.ada_with_key("sdk").await;

    s.fake().push(Reply::Status(503, "{}".into()));
    complete(&key, &chat("fake-1", "hi")).await.openai_error(
        502,
        "provider_error",
        Some("provider_error"),
    );
    s.fake().push(Reply::Stream {
        deltas: vec!["x ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });
    let cut = complete(&key, &streamed_chat("fake-1", "hi", false)).await;

    let frames = cut.sse();
    assert!(frames.iter().all(|(_, d)| d != "[DONE]"));
    let last: Value = serde_json::from_str(&frames.last().expect("frames").1).expect("json");
    assert_eq!(last["error"]["type"], "provider_error");
    assert_eq!(last["error"]["code"], "provider_error");
}

#[tokio::test]
async fn gateway_usage_is_recorded_for_the_keys_owner() {
    let s = Server::with_upstream();
    let (ada, key, _) = s.ada_with_key("sdk").await;
    for request in [chat("fake-1", "hi"), streamed_chat("echo-1", "a b c", true)] {
        assert_eq!(complete(&key, &request).await.status, 200);
    }

    let usage = ada.get("/api/v1/playground/usage").await.json();

    assert_eq!(each(&usage["by_model"], "model"), ["echo-1", "fake-1"]);
}

// --- Limits and budgets per API key ---------------------------------------

#[tokio::test]
async fn api_keys_patch_200_sets_limits_401_403_404_422() {
    let s = Server::start();
    let (ada, key, created) = s.ada_with_key("script").await;
    let path = key_path(&created);
    let limits = json!({"requests_per_minute": 10, "tokens_per_minute": null,
        "token_budget": 5000, "budget_period": "day", "models": ["echo-1"]});

    let updated = ada
        .patch(&path, &json!({"limits": limits}))
        .await
        .expect_json(200);
    assert_key_object(&updated);
    assert_eq!(updated["limits"], limits);
    assert_eq!(updated["budget_used"], 0);
    key.patch(&path, &json!({"limits": null}))
        .await
        .problem(403, "session_required");
    s.anon()
        .patch(&path, &json!({"limits": null}))
        .await
        .problem(401, "unauthenticated");
    let grace = s.anon().sign_up("grace@example.com").await;
    grace
        .patch(&path, &json!({"limits": null}))
        .await
        .problem(404, "not_found");
    for bad in [
        json!({"limits": {"token_budget": 5}}),
        json!({"limits": {"requests_per_minute": 0}}),
        json!({"limits": {"models": ["no-such-model"]}}),
        json!({}),
    ] {
        ada.patch(&path, &bad)
            .await
            .problem(422, "validation_failed");
    }
}

#[tokio::test]
async fn key_limits_429_rate_limited_then_insufficient_quota_with_retry_after_on_both_prefixes() {
    let s = Server::start();
    let ada = s.ada().await;
    let limited = json!({"name": "script", "limits": {"requests_per_minute": 1}});
    let (key, created) = ada.mint_key_with(&limited).await;
    let conversation = key.start_conversation("echo-1").await;
    let send = format!(
        "/api/v1/playground/conversations/{}/messages",
        conversation["id"].as_str().expect("id")
    );
    let hi = json!({"content": "hi", "max_tokens": 5});

    assert_eq!(key.post(&send, &hi).await.status, 201);
    let playground = key.post(&send, &hi).await;
    playground.problem(429, "rate_limited");
    let gateway = complete(&key, &chat("echo-1", "hi")).await;
    gateway.openai_error(429, "rate_limit_error", Some("rate_limit_exceeded"));
    for refused in [&playground, &gateway] {
        let after: u64 = refused
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&after), "within the minute: {after}");
    }

    let spent = json!({"limits": {"token_budget": 1, "budget_period": "month"}});
    ada.patch(&key_path(&created), &spent)
        .await
        .expect_json(200);
    key.post(&send, &hi)
        .await
        .problem(429, "insufficient_quota");
    let quota = complete(&key, &chat("echo-1", "hi")).await;
    quota.openai_error(429, "insufficient_quota", Some("insufficient_quota"));
    assert!(quota.header("retry-after").is_some());
    let models = key.get("/v1/models").await.expect_json(200);
    assert!(models["data"].as_array().is_some_and(|m| !m.is_empty()));
}
