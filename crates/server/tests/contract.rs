//! The contract's Auth section and error conventions, row by row, over real
//! HTTP against the `promptyard` binary started with only
//! `PROMPTYARD_DATABASE_URL` and `PROMPTYARD_BIND` set.
//!
//! By default this runs the debug binary cargo builds for the tests; point
//! it at another build with `PROMPTYARD_BIN`, e.g. the release binary:
//!
//! ```sh
//! cargo build --release
//! PROMPTYARD_BIN=target/release/promptyard cargo test -p promptyard-server --test contract
//! ```

use std::path::{Path, PathBuf};

use promptyard_test_support::TestDb;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_test_support::process::{HttpResponse, ServerProcess, http_request, run};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn binary() -> PathBuf {
    std::env::var_os("PROMPTYARD_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_promptyard")),
        |bin| {
            let bin = PathBuf::from(bin);
            if bin.is_absolute() {
                bin
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(bin)
            }
        },
    )
}

struct Server {
    process: ServerProcess,
    test_db: TestDb,
}

impl Server {
    fn start() -> Self {
        let test_db = TestDb::empty();
        let process = ServerProcess::start(
            &binary(),
            test_db.dir(),
            &[],
            &[
                ("PROMPTYARD_BIND", "127.0.0.1:0"),
                ("PROMPTYARD_DATABASE_URL", test_db.url()),
            ],
        );
        Self { process, test_db }
    }

    /// Started with a providers file pointing at `fake` (model `fake-1`,
    /// a 1 s timeout, a key read from `FAKE_KEY`).
    fn start_with_upstream(fake: &FakeOpenAi) -> Self {
        let test_db = TestDb::empty();
        let providers = test_db.dir().join("providers.toml");
        std::fs::write(
            &providers,
            format!(
                "[[providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"FAKE_KEY\"\nmodels = [\"fake-1\"]\ntimeout_secs = 1\n",
                fake.base_url()
            ),
        )
        .expect("providers file");
        let process = ServerProcess::start(
            &binary(),
            test_db.dir(),
            &[],
            &[
                ("PROMPTYARD_BIND", "127.0.0.1:0"),
                ("PROMPTYARD_DATABASE_URL", test_db.url()),
                (
                    "PROMPTYARD_PROVIDERS_FILE",
                    providers.to_str().expect("utf-8"),
                ),
                ("FAKE_KEY", "sk-upstream-secret"),
            ],
        );
        Self { process, test_db }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> HttpResponse {
        http_request(self.process.addr(), method, path, headers, body)
    }

    fn post(&self, path: &str, body: &Value, cookie: Option<&str>) -> HttpResponse {
        self.process.post_json(path, body, cookie)
    }

    fn call(&self, method: &str, path: &str, cookie: Option<&str>) -> HttpResponse {
        let cookie = cookie.map(|c| format!("session_id={c}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        self.request(method, path, &headers, None)
    }

    fn register(&self, email: &str) -> HttpResponse {
        self.post(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD}),
            None,
        )
    }

    fn login(&self, email: &str, password: &str) -> HttpResponse {
        self.post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
    }

    fn session(&self, email: &str) -> String {
        let login = self.login(email, PASSWORD);
        assert_eq!(login.status, 200);
        login.cookie("session_id").expect("session cookie")
    }
}

/// Asserts a problem+json answer with this status and code.
fn assert_problem(response: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    let body = response.json();
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Asserts the contract's user object.
fn assert_user(body: &Value, email: &str) {
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["created_at", "email", "id", "is_active"]);
    assert_eq!(body["email"], email);
    assert_eq!(body["is_active"], true);
    let created = body["created_at"].as_str().expect("created_at");
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
    assert!(uuid::Uuid::parse_str(body["id"].as_str().expect("id")).is_ok());
}

#[test]
fn register_201_409_422() {
    let s = Server::start();

    let created = s.register("Ada@Example.com");
    assert_eq!(created.status, 201);
    assert_user(&created.json(), "ada@example.com");

    assert_problem(&s.register("ADA@example.com"), 409, "email_taken");

    let invalid = s.post(
        "/api/v1/auth/register",
        &json!({"email": "ada", "password": "short"}),
        None,
    );
    let body = assert_problem(&invalid, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][1]["field"], "password");
}

#[test]
fn login_200_with_the_cookie_401_403_429() {
    let s = Server::start();
    s.register("ada@example.com");

    let ok = s.login("ada@example.com", PASSWORD);
    assert_eq!(ok.status, 200);
    assert_user(&ok.json(), "ada@example.com");
    let set_cookie = ok
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("session_id="))
        .map(|(_, v)| v.clone())
        .expect("session_id cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "Secure only when configured: {set_cookie}"
    );

    let unknown = s.login("nobody@example.com", PASSWORD);
    let wrong = s.login("ada@example.com", "wrong password");
    assert_problem(&unknown, 401, "invalid_credentials");
    assert_problem(&wrong, 401, "invalid_credentials");
    assert_eq!(unknown.body, wrong.body, "the same answer for both");

    for _ in 0..9 {
        assert_eq!(s.login("ada@example.com", "wrong password").status, 401);
    }
    let limited = s.login("ada@example.com", PASSWORD);
    assert_problem(&limited, 429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");

    s.register("grace@example.com");
    let output = run(
        &binary(),
        s.test_db.dir(),
        &["user", "disable", "grace@example.com"],
        &[("PROMPTYARD_DATABASE_URL", s.test_db.url())],
    );
    assert!(output.status.success());
    assert_problem(
        &s.login("grace@example.com", PASSWORD),
        403,
        "account_disabled",
    );
}

#[test]
fn me_200_401() {
    let s = Server::start();
    s.register("ada@example.com");
    let cookie = s.session("ada@example.com");

    let me = s.call("GET", "/api/v1/auth/me", Some(&cookie));
    assert_eq!(me.status, 200);
    assert_user(&me.json(), "ada@example.com");
    assert_problem(
        &s.call("GET", "/api/v1/auth/me", None),
        401,
        "unauthenticated",
    );
    assert_problem(
        &s.call("GET", "/api/v1/auth/me", Some("garbage")),
        401,
        "unauthenticated",
    );
}

#[test]
fn logout_200_then_the_old_cookie_gets_401_on_every_endpoint() {
    let s = Server::start();
    s.register("ada@example.com");
    let cookie = s.session("ada@example.com");
    assert_problem(
        &s.post("/api/v1/auth/logout", &json!({}), None),
        401,
        "unauthenticated",
    );

    let out = s.post("/api/v1/auth/logout", &json!({}), Some(&cookie));

    assert_eq!(out.status, 200);
    assert_eq!(out.json(), json!({"message": "logged out"}));
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
        assert_problem(&s.call(method, path, Some(&cookie)), 401, "unauthenticated");
    }
    let password = s.post(
        "/api/v1/auth/password",
        &json!({"current_password": PASSWORD, "new_password": "whatever whatever"}),
        Some(&cookie),
    );
    assert_problem(&password, 401, "unauthenticated");
}

#[test]
fn password_200_revokes_other_sessions_401_422() {
    let s = Server::start();
    s.register("ada@example.com");
    let mine = s.session("ada@example.com");
    let other = s.session("ada@example.com");

    let wrong = s.post(
        "/api/v1/auth/password",
        &json!({"current_password": "not it at all", "new_password": "a newer password"}),
        Some(&mine),
    );
    assert_problem(&wrong, 401, "invalid_credentials");
    let short = s.post(
        "/api/v1/auth/password",
        &json!({"current_password": PASSWORD, "new_password": "short"}),
        Some(&mine),
    );
    assert_eq!(
        assert_problem(&short, 422, "validation_failed")["errors"][0]["field"],
        "new_password"
    );

    let changed = s.post(
        "/api/v1/auth/password",
        &json!({"current_password": PASSWORD, "new_password": "a newer password"}),
        Some(&mine),
    );
    assert_eq!(changed.status, 200);
    assert!(changed.json()["message"].is_string());
    assert_eq!(s.call("GET", "/api/v1/auth/me", Some(&mine)).status, 200);
    assert_eq!(s.call("GET", "/api/v1/auth/me", Some(&other)).status, 401);
}

#[test]
fn sessions_200_and_delete_204_404() {
    let s = Server::start();
    s.register("ada@example.com");
    let mine = s.session("ada@example.com");
    let other = s.session("ada@example.com");
    assert_problem(
        &s.call("GET", "/api/v1/auth/sessions", None),
        401,
        "unauthenticated",
    );

    let list = s.call("GET", "/api/v1/auth/sessions", Some(&mine));
    assert_eq!(list.status, 200);
    let sessions = list.json();
    let sessions = sessions.as_array().expect("array");
    assert_eq!(sessions.len(), 2);
    for session in sessions {
        let keys: Vec<&str> = session
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
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
    let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    let other_id = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();

    let deleted = s.call(
        "DELETE",
        &format!("/api/v1/auth/sessions/{other_id}"),
        Some(&mine),
    );
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(s.call("GET", "/api/v1/auth/me", Some(&other)).status, 401);
    let again = s.call(
        "DELETE",
        &format!("/api/v1/auth/sessions/{other_id}"),
        Some(&mine),
    );
    assert_problem(&again, 404, "not_found");
}

#[test]
fn body_conventions_400_413_415_422() {
    let s = Server::start();
    let json = [("Content-Type", "application/json")];
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        s.request("POST", "/api/v1/auth/register", headers, Some(body))
    };

    assert_problem(&post(&json, b""), 400, "malformed_body");
    assert_problem(
        &s.request("POST", "/api/v1/auth/register", &json, None),
        400,
        "malformed_body",
    );
    assert_problem(&post(&json, b"{not json"), 400, "malformed_body");
    assert_problem(&post(&json, b"[\"an\", \"array\"]"), 400, "malformed_body");
    assert_problem(
        &post(&[("Content-Type", "text/plain")], b"{\"email\":\"a@b.co\"}"),
        415,
        "unsupported_media_type",
    );
    assert_problem(
        &post(&[], b"{\"email\":\"a@b.co\"}"),
        415,
        "unsupported_media_type",
    );
    let big = format!(
        r#"{{"email":"a@b.co","password":"{}"}}"#,
        "x".repeat(65 * 1024)
    );
    assert_problem(&post(&json, big.as_bytes()), 413, "payload_too_large");
    let mistyped = assert_problem(&post(&json, br#"{"email": 42}"#), 422, "validation_failed");
    assert_eq!(
        mistyped["errors"],
        json!([
            {"field": "email", "message": "must be a string"},
            {"field": "password", "message": "is required"},
        ])
    );
}

#[test]
fn route_conventions_404_405_and_operations() {
    let s = Server::start();
    assert_problem(
        &s.call("GET", "/api/v1/nothing-here", None),
        404,
        "not_found",
    );
    assert_problem(&s.call("GET", "/nothing-here", None), 404, "not_found");
    assert_problem(
        &s.call("PUT", "/api/v1/auth/me", None),
        405,
        "method_not_allowed",
    );
    assert_problem(
        &s.call("GET", "/api/v1/auth/register", None),
        405,
        "method_not_allowed",
    );

    let health = s.call("GET", "/healthz", None);
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    assert_eq!(s.call("GET", "/readyz", None).status, 200);
    let doc = s.call("GET", "/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    assert!(
        doc.json()["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
}

#[test]
fn no_cors_headers_by_default() {
    let s = Server::start();
    let response = s.request(
        "GET",
        "/api/v1/auth/me",
        &[("Origin", "https://elsewhere.example")],
        None,
    );
    assert_eq!(response.status, 401);
    assert!(response.header("access-control-allow-origin").is_none());
}

// --- API keys -------------------------------------------------------------

fn bearer(s: &Server, method: &str, path: &str, key: &str, body: Option<&Value>) -> HttpResponse {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("Authorization", auth.as_str())];
    let body = body.map(Value::to_string);
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    s.request(method, path, &headers, body.as_deref().map(str::as_bytes))
}

/// Asserts the contract's API key object (without `key`).
fn assert_key_object(key: &Value) {
    let mut keys: Vec<&str> = key
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.retain(|k| *k != "key");
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "prefix"
        ]
    );
    assert!(key["prefix"].as_str().expect("prefix").starts_with("pyk_"));
}

#[test]
fn api_keys_create_201_list_200_delete_204_and_their_errors() {
    let s = Server::start();
    s.register("ada@example.com");
    let cookie = s.session("ada@example.com");

    let created = s.post(
        "/api/v1/api-keys",
        &json!({"name": "laptop", "expires_in_days": 3650}),
        Some(&cookie),
    );
    assert_eq!(created.status, 201);
    let created = created.json();
    assert_key_object(&created);
    let key = created["key"].as_str().expect("the whole key").to_owned();
    assert!(key.starts_with(&format!("{}_", created["prefix"].as_str().expect("prefix"))));
    assert!(created["expires_at"].is_string());
    let forever = s
        .post(
            "/api/v1/api-keys",
            &json!({"name": "forever"}),
            Some(&cookie),
        )
        .json();
    assert_eq!(forever["expires_at"], Value::Null);

    let list = s.call("GET", "/api/v1/api-keys", Some(&cookie));
    assert_eq!(list.status, 200);
    let list = list.json();
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    for listed in list {
        assert_key_object(listed);
        assert!(listed.get("key").is_none(), "no secrets in the list");
    }
    assert!(
        !String::from_utf8_lossy(&s.call("GET", "/api/v1/api-keys", Some(&cookie)).body)
            .contains(&key[17..])
    );

    // The key on an auth endpoint; last_used_at is recorded.
    let me = bearer(&s, "GET", "/api/v1/auth/me", &key, None);
    assert_eq!(me.status, 200);
    assert_user(&me.json(), "ada@example.com");
    let used = s.call("GET", "/api/v1/api-keys", Some(&cookie)).json();
    let used = used
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"] == created["id"])
        .expect("listed")
        .clone();
    assert!(used["last_used_at"].is_string(), "{used}");

    // Session only: a key gets 403 session_required on key management.
    assert_problem(
        &bearer(
            &s,
            "POST",
            "/api/v1/api-keys",
            &key,
            Some(&json!({"name": "more"})),
        ),
        403,
        "session_required",
    );
    assert_problem(
        &bearer(&s, "GET", "/api/v1/api-keys", &key, None),
        403,
        "session_required",
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert_problem(
        &bearer(&s, "DELETE", &format!("/api/v1/api-keys/{id}"), &key, None),
        403,
        "session_required",
    );
    assert_problem(
        &s.post("/api/v1/api-keys", &json!({"name": "x"}), None),
        401,
        "unauthenticated",
    );
    assert_problem(
        &s.call("GET", "/api/v1/api-keys", None),
        401,
        "unauthenticated",
    );

    // Validation: name 1..100, expires_in_days 1..3650.
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "ok", "expires_in_days": 0}),
        json!({"name": "ok", "expires_in_days": 3651}),
        json!({}),
    ] {
        assert_problem(
            &s.post("/api/v1/api-keys", &body, Some(&cookie)),
            422,
            "validation_failed",
        );
    }
    assert_eq!(
        s.post(
            "/api/v1/api-keys",
            &json!({"name": "é".repeat(100), "expires_in_days": 1}),
            Some(&cookie)
        )
        .status,
        201
    );

    // Another user's key is 404, never 403.
    s.register("grace@example.com");
    let grace = s.session("grace@example.com");
    assert_problem(
        &s.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&grace)),
        404,
        "not_found",
    );
    assert_eq!(
        s.call("GET", "/api/v1/api-keys", Some(&grace)).json(),
        json!([])
    );

    // Revoked: 204, and the key stops working at once.
    let revoked = s.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&cookie));
    assert_eq!(revoked.status, 204);
    assert_problem(
        &bearer(&s, "GET", "/api/v1/auth/me", &key, None),
        401,
        "unauthenticated",
    );
    assert_problem(
        &s.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&cookie)),
        404,
        "not_found",
    );

    // Unknown keys, and the keys of a disabled user, get 401.
    assert_problem(
        &bearer(&s, "GET", "/api/v1/auth/me", "pyk_0000000000000_nope", None),
        401,
        "unauthenticated",
    );
    let other = forever["key"].as_str().expect("key").to_owned();
    assert_eq!(
        bearer(&s, "GET", "/api/v1/auth/me", &other, None).status,
        200
    );
    let output = run(
        &binary(),
        s.test_db.dir(),
        &["user", "disable", "ada@example.com"],
        &[("PROMPTYARD_DATABASE_URL", s.test_db.url())],
    );
    assert!(output.status.success());
    assert_problem(
        &bearer(&s, "GET", "/api/v1/auth/me", &other, None),
        401,
        "unauthenticated",
    );
}

// --- Playground -------------------------------------------------------------

/// `data:` payloads of an SSE body, with their `event:` names.
fn sse(body: &[u8]) -> Vec<(Option<String>, String)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let event = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_owned);
            let data = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<String>();
            (event, data)
        })
        .collect()
}

fn assert_conversation(c: &Value) {
    let keys: Vec<&str> = c
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
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
    let keys: Vec<&str> = m
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["content", "created_at", "id", "role"]);
    assert_eq!(m["role"], role);
}

fn assert_usage(u: &Value) {
    let keys: Vec<&str> = u
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["completion_tokens", "prompt_tokens", "total_tokens"]);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().expect("n") + u["completion_tokens"].as_u64().expect("n"))
    );
}

#[test]
fn playground_rows_over_real_http_with_a_configured_upstream() {
    let fake = FakeOpenAi::start();
    let s = Server::start_with_upstream(&fake);
    s.register("ada@example.com");
    let cookie = s.session("ada@example.com");
    let key = s
        .post("/api/v1/api-keys", &json!({"name": "k"}), Some(&cookie))
        .json()["key"]
        .as_str()
        .expect("key")
        .to_owned();

    // GET /models (auth: cookie or key)
    let models = s.call("GET", "/api/v1/playground/models", Some(&cookie));
    assert_eq!(models.status, 200);
    let models = models.json();
    let ids: Vec<&str> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["echo-1", "fake-1"]);
    assert_eq!(models["models"][1]["provider"], "local");
    assert_eq!(
        bearer(&s, "GET", "/api/v1/playground/models", &key, None).status,
        200
    );
    assert_problem(
        &s.call("GET", "/api/v1/playground/models", None),
        401,
        "unauthenticated",
    );

    // POST /conversations: 201, 422 (unknown model too)
    let created = s.post(
        "/api/v1/playground/conversations",
        &json!({"model": "fake-1", "system_prompt": "Be brief."}),
        Some(&cookie),
    );
    assert_eq!(created.status, 201);
    let conversation = created.json();
    assert_conversation(&conversation);
    assert_eq!(conversation["title"], Value::Null);
    let id = conversation["id"].as_str().expect("id").to_owned();
    assert_problem(
        &s.post(
            "/api/v1/playground/conversations",
            &json!({"model": "gpt-9"}),
            Some(&cookie),
        ),
        422,
        "validation_failed",
    );
    let echo = s
        .post(
            "/api/v1/playground/conversations",
            &json!({"model": "echo-1", "title": "Echo"}),
            Some(&cookie),
        )
        .json();
    let echo_id = echo["id"].as_str().expect("id").to_owned();

    // GET /conversations: newest first, limit + before, 422
    let page = s.call(
        "GET",
        "/api/v1/playground/conversations?limit=1",
        Some(&cookie),
    );
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(page["items"][0]["id"], echo_id.as_str());
    let next = page["next_before"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = s
        .call(
            "GET",
            &format!("/api/v1/playground/conversations?before={next}"),
            Some(&cookie),
        )
        .json();
    assert_eq!(rest["items"][0]["id"], id.as_str());
    assert_eq!(rest["next_before"], Value::Null);
    for query in ["limit=0", "limit=101", "before=", "before=unknown"] {
        assert_problem(
            &s.call(
                "GET",
                &format!("/api/v1/playground/conversations?{query}"),
                Some(&cookie),
            ),
            422,
            "validation_failed",
        );
    }

    // POST /conversations/{id}/messages: 201 with the exchange; the
    // upstream gets the system prompt first, with our key.
    let sent = s.post(
        &format!("/api/v1/playground/conversations/{id}/messages"),
        &json!({"content": "Hello", "temperature": 0.2, "max_tokens": 100}),
        Some(&cookie),
    );
    assert_eq!(sent.status, 201);
    let exchange = sent.json();
    assert_message(&exchange["user_message"], "user");
    assert_message(&exchange["assistant_message"], "assistant");
    assert_eq!(exchange["assistant_message"]["content"], "fake: Hello");
    assert_usage(&exchange["usage"]);
    let upstream = fake.requests();
    assert_eq!(
        upstream[0].body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        upstream[0].header("authorization"),
        Some("Bearer sk-upstream-secret")
    );

    // ... streamed: 200 text/event-stream, deltas then one done
    let body = json!({"content": "Stream it", "stream": true}).to_string();
    let auth = format!("session_id={cookie}");
    let streamed = s.request(
        "POST",
        &format!("/api/v1/playground/conversations/{id}/messages"),
        &[("Content-Type", "application/json"), ("Cookie", &auth)],
        Some(body.as_bytes()),
    );
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let frames = sse(&streamed.body);
    let (done, deltas) = frames.split_last().expect("frames");
    let text: String = deltas
        .iter()
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).expect("json")["delta"]
                .as_str()
                .expect("delta")
                .to_owned()
        })
        .collect();
    assert_eq!(text, "fake: Stream it");
    let done: Value = serde_json::from_str(&done.1).expect("done");
    assert_eq!(done["done"], true);
    assert_message(&done["assistant_message"], "assistant");
    assert_usage(&done["usage"]);

    // ... 422, 404, 502 (nothing stored)
    for body in [
        json!({"content": ""}),
        json!({"content": "x", "temperature": 2.5}),
        json!({"content": "x", "max_tokens": 40000}),
    ] {
        assert_problem(
            &s.post(
                &format!("/api/v1/playground/conversations/{id}/messages"),
                &body,
                Some(&cookie),
            ),
            422,
            "validation_failed",
        );
    }
    assert_problem(
        &s.post(
            "/api/v1/playground/conversations/nope/messages",
            &json!({"content": "x"}),
            Some(&cookie),
        ),
        404,
        "not_found",
    );
    fake.push(Reply::Status(500, "{}".into())).push(Reply::Hang);
    for _ in 0..2 {
        assert_problem(
            &s.post(
                &format!("/api/v1/playground/conversations/{id}/messages"),
                &json!({"content": "fail"}),
                Some(&cookie),
            ),
            502,
            "provider_error",
        );
    }
    fake.push(Reply::Stream {
        deltas: vec!["half ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });
    let body = json!({"content": "cut", "stream": true}).to_string();
    let cut = s.request(
        "POST",
        &format!("/api/v1/playground/conversations/{id}/messages"),
        &[("Content-Type", "application/json"), ("Cookie", &auth)],
        Some(body.as_bytes()),
    );
    let last = sse(&cut.body).pop().expect("frames");
    assert_eq!(last.0.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(&last.1).expect("json")["code"],
        "provider_error"
    );

    // GET /conversations/{id}: messages oldest first, nothing of the failures
    let read = s.call(
        "GET",
        &format!("/api/v1/playground/conversations/{id}"),
        Some(&cookie),
    );
    assert_eq!(read.status, 200);
    let read = read.json();
    let contents: Vec<&str> = read["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(
        contents,
        ["Hello", "fake: Hello", "Stream it", "fake: Stream it"]
    );

    // GET /usage
    let usage = s.call("GET", "/api/v1/playground/usage", Some(&cookie));
    assert_eq!(usage.status, 200);
    let usage = usage.json();
    assert_usage(&usage["total"]);
    assert_eq!(
        usage["by_model"].as_array().expect("by_model").len(),
        1,
        "only models with usage"
    );
    assert_eq!(usage["by_model"][0]["model"], "fake-1");

    // DELETE: 204, then 404; another user gets 404; the usage stays
    s.register("grace@example.com");
    let grace = s.session("grace@example.com");
    assert_problem(
        &s.call(
            "GET",
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&grace),
        ),
        404,
        "not_found",
    );
    assert_problem(
        &s.call(
            "DELETE",
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&grace),
        ),
        404,
        "not_found",
    );
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie)
        )
        .status,
        204
    );
    assert_problem(
        &s.call(
            "GET",
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie),
        ),
        404,
        "not_found",
    );
    assert_problem(
        &s.call(
            "DELETE",
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie),
        ),
        404,
        "not_found",
    );
    assert_eq!(
        s.call("GET", "/api/v1/playground/usage", Some(&cookie))
            .json(),
        usage
    );
}

// --- Gateway ----------------------------------------------------------------

fn assert_openai_error(response: &HttpResponse, status: u16, kind: &str, code: Option<&str>) {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.json();
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(
        body["error"]["code"],
        code.map_or(Value::Null, |c| json!(c)),
        "{body}"
    );
}

#[test]
fn gateway_rows_over_real_http_with_a_configured_upstream() {
    let fake = FakeOpenAi::start();
    let s = Server::start_with_upstream(&fake);
    s.register("ada@example.com");
    let cookie = s.session("ada@example.com");
    let key = s
        .post("/api/v1/api-keys", &json!({"name": "sdk"}), Some(&cookie))
        .json()["key"]
        .as_str()
        .expect("key")
        .to_owned();

    // GET /v1/models
    let models = bearer(&s, "GET", "/v1/models", &key, None);
    assert_eq!(models.status, 200);
    let models = models.json();
    assert_eq!(models["object"], "list");
    for model in models["data"].as_array().expect("data") {
        assert_eq!(model["object"], "model");
        assert!(
            model["id"].is_string() && model["owned_by"].is_string() && model["created"].is_i64()
        );
    }

    // POST /v1/chat/completions
    let request = json!({"model": "fake-1", "messages": [{"role": "user", "content": "hi"}]});
    let completion = bearer(&s, "POST", "/v1/chat/completions", &key, Some(&request));
    assert_eq!(completion.status, 200);
    let completion = completion.json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(
        completion["choices"][0]["message"],
        json!({"role": "assistant", "content": "fake: hi", "refusal": null})
    );
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_usage(&completion["usage"]);

    let stream = json!({"model": "echo-1", "messages": [{"role": "user", "content": "a b c"}], "stream": true, "stream_options": {"include_usage": true}});
    let streamed = bearer(&s, "POST", "/v1/chat/completions", &key, Some(&stream));
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let frames = sse(&streamed.body);
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

    // Errors in OpenAI's shape
    assert_openai_error(
        &s.call("GET", "/v1/models", Some(&cookie)),
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
    );
    assert_openai_error(
        &bearer(&s, "GET", "/v1/models", "pyk_bad", None),
        401,
        "invalid_request_error",
        Some("invalid_api_key"),
    );
    let unknown = json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]});
    assert_openai_error(
        &bearer(&s, "POST", "/v1/chat/completions", &key, Some(&unknown)),
        404,
        "invalid_request_error",
        Some("model_not_found"),
    );
    assert_openai_error(
        &bearer(
            &s,
            "POST",
            "/v1/chat/completions",
            &key,
            Some(&json!({"model": "echo-1"})),
        ),
        400,
        "invalid_request_error",
        None,
    );
    fake.push(Reply::Status(503, "{}".into()));
    assert_openai_error(
        &bearer(&s, "POST", "/v1/chat/completions", &key, Some(&request)),
        502,
        "provider_error",
        Some("provider_error"),
    );
    fake.push(Reply::Stream {
        deltas: vec!["x ".into()],
        usage: None,
        end: StreamEnd::Cut,
    });
    let cut = bearer(
        &s,
        "POST",
        "/v1/chat/completions",
        &key,
        Some(
            &json!({"model": "fake-1", "messages": [{"role": "user", "content": "hi"}], "stream": true}),
        ),
    );
    let frames = sse(&cut.body);
    assert!(frames.iter().all(|(_, d)| d != "[DONE]"));
    let last: Value = serde_json::from_str(&frames.last().expect("frames").1).expect("json");
    assert_eq!(last["error"]["type"], "provider_error");
    assert_eq!(last["error"]["code"], "provider_error");

    // Usage is recorded for the key's owner (the two completed calls).
    let usage = s
        .call("GET", "/api/v1/playground/usage", Some(&cookie))
        .json();
    let used: Vec<&str> = usage["by_model"]
        .as_array()
        .expect("by_model")
        .iter()
        .map(|m| m["model"].as_str().expect("model"))
        .collect();
    assert_eq!(used, ["echo-1", "fake-1"]);
}
