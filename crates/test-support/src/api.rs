//! One way for every test to talk to the API, wherever it runs: the router
//! in process, a server on a socket, or the `promptyard` binary.
//!
//! - A [`Transport`] sends a [`Request`] and returns the whole
//!   [`Response`]: the http crate's router tests send through actix's test
//!   service, the cross-crate flows and the contract test over a real
//!   socket ([`Wire`]).
//! - An [`Actor`] is someone calling the API: anonymous, a user with a
//!   session cookie, or a user with an API key. It adds its credential to
//!   every request, and knows the steps tests take again and again
//!   ([`Actor::sign_up`], [`Actor::mint_key`], ...).
//! - What every suite shares: the [`PASSWORD`] users are registered with,
//!   the fixed [`start`] of a test clock, and an [`sse_frames`] parser.

use std::future::Future;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

mod response;

pub use response::{Response, SseFrame, each, error_fields, keys, sse_frames};

/// The password the helpers register users with.
pub const PASSWORD: &str = "correct horse battery";

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "session_id";

/// When a test clock starts: 2026-11-25T12:00:00Z.
///
/// # Panics
/// Never: the timestamp is a constant.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("a valid constant")
        .to_utc()
}

/// A request: method, path (with its query), headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// `method path`, no headers, no body.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// With this header added.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// With this body, as it is (set a `Content-Type` yourself).
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// With this JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(body.to_string())
    }
}

/// What sends requests to the API.
pub trait Transport {
    /// Sends `request`; the whole response.
    fn send(&self, request: Request) -> impl Future<Output = Response>;
}

/// A server on a socket, one `Connection: close` request at a time. It
/// blocks while it waits, which is fine for a server on another thread or
/// in another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire(pub SocketAddr);

impl Transport for Wire {
    async fn send(&self, request: Request) -> Response {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        crate::process::http_request(
            self.0,
            &request.method,
            &request.path,
            &headers,
            request.body.as_deref(),
        )
    }
}

/// How an actor authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    /// The value of the `session_id` cookie.
    Cookie(String),
    /// A whole API key, sent as `Authorization: Bearer`.
    Key(String),
}

/// Someone calling the API through a transport.
#[derive(Debug, Clone)]
pub struct Actor<'t, T> {
    transport: &'t T,
    pub credential: Credential,
}

impl<'t, T: Transport> Actor<'t, T> {
    /// Someone without credentials.
    pub fn anonymous(transport: &'t T) -> Self {
        Self::with(transport, Credential::Anonymous)
    }

    /// Someone with this credential.
    pub fn with(transport: &'t T, credential: Credential) -> Self {
        Self {
            transport,
            credential,
        }
    }

    /// The same transport with another credential.
    #[must_use]
    pub fn as_(&self, credential: Credential) -> Self {
        Self::with(self.transport, credential)
    }

    /// The session cookie's value.
    ///
    /// # Panics
    /// If this actor has no session.
    pub fn cookie(&self) -> &str {
        match &self.credential {
            Credential::Cookie(cookie) => cookie,
            other => panic!("not a session: {other:?}"),
        }
    }

    /// The API key.
    ///
    /// # Panics
    /// If this actor has no key.
    pub fn key(&self) -> &str {
        match &self.credential {
            Credential::Key(key) => key,
            other => panic!("not a key: {other:?}"),
        }
    }

    /// Sends `request` with this actor's credential.
    pub async fn send(&self, request: Request) -> Response {
        let request = match &self.credential {
            Credential::Anonymous => request,
            Credential::Cookie(cookie) => {
                request.header("Cookie", &format!("{SESSION_COOKIE}={cookie}"))
            }
            Credential::Key(key) => request.header("Authorization", &format!("Bearer {key}")),
        };
        self.transport.send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(Request::new("GET", path)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Response {
        self.send(Request::new("DELETE", path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(Request::new("POST", path).json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(Request::new("PATCH", path).json(body)).await
    }

    /// `POST /api/v1/auth/register` with `email` and [`PASSWORD`].
    pub async fn register(&self, email: &str) -> Response {
        self.post("/api/v1/auth/register", &credentials(email, PASSWORD))
            .await
    }

    /// `POST /api/v1/auth/login` with `email` and `password`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login", &credentials(email, password))
            .await
    }

    /// `POST /api/v1/auth/logout`.
    pub async fn logout(&self) -> Response {
        self.post("/api/v1/auth/logout", &json!({})).await
    }

    /// `POST /api/v1/auth/password` from `current` to `new`.
    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.post(
            "/api/v1/auth/password",
            &json!({"current_password": current, "new_password": new}),
        )
        .await
    }

    /// Logs `email` in with [`PASSWORD`]: that user with a session.
    ///
    /// # Panics
    /// If the login fails.
    pub async fn log_in(&self, email: &str) -> Self {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status, 200, "log in {email}: {}", response.text());
        let cookie = response
            .cookie(SESSION_COOKIE)
            .expect("a login sets the session cookie");
        self.as_(Credential::Cookie(cookie))
    }

    /// Registers `email` and logs in: a new user with a session.
    ///
    /// # Panics
    /// If either step fails.
    pub async fn sign_up(&self, email: &str) -> Self {
        let response = self.register(email).await;
        assert_eq!(
            response.status,
            201,
            "register {email}: {}",
            response.text()
        );
        self.log_in(email).await
    }

    /// Mints an API key named `name` with this actor's session: the same
    /// user with that key, and the key object the API answered.
    ///
    /// # Panics
    /// If the key is not created.
    pub async fn mint_key(&self, name: &str) -> (Self, Value) {
        self.mint_key_with(&json!({ "name": name })).await
    }

    /// Mints an API key from this body (`name`, and `limits` or
    /// `expires_in_days` if wanted), like [`mint_key`](Self::mint_key).
    ///
    /// # Panics
    /// If the key is not created.
    pub async fn mint_key_with(&self, body: &Value) -> (Self, Value) {
        let response = self.post("/api/v1/api-keys", body).await;
        assert_eq!(response.status, 201, "mint a key: {}", response.text());
        let body = response.json();
        let key = body["key"].as_str().expect("the whole key").to_owned();
        (self.as_(Credential::Key(key)), body)
    }

    /// Starts a conversation with `model`; its JSON.
    ///
    /// # Panics
    /// If it is not created.
    pub async fn start_conversation(&self, model: &str) -> Value {
        self.create_conversation(&json!({ "model": model })).await
    }

    /// Starts a conversation from this body (`model`, and `title` or
    /// `system_prompt` if wanted); its JSON.
    ///
    /// # Panics
    /// If it is not created.
    pub async fn create_conversation(&self, body: &Value) -> Value {
        let response = self.post("/api/v1/playground/conversations", body).await;
        assert_eq!(
            response.status,
            201,
            "start a conversation: {}",
            response.text()
        );
        response.json()
    }
}

/// `{"email": email, "password": password}`.
pub fn credentials(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}
