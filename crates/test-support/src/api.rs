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

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response as a transport received it: header names are lower-cased
    /// and values read as (lossy) UTF-8.
    pub fn received<'h>(
        status: u16,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        body: Vec<u8>,
    ) -> Self {
        let headers = headers
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect();
        Self {
            status,
            headers,
            body,
        }
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the cookie `name` this response sets, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.set_cookies()
            .into_iter()
            .find_map(|v| v.strip_prefix(&prefix))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    }

    /// The body parsed as JSON, or `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The status and the JSON body.
    pub fn parts(&self) -> (u16, Value) {
        (self.status, self.json())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The events of a `text/event-stream` body.
    pub fn sse(&self) -> Vec<SseFrame> {
        sse_frames(&self.body)
    }

    /// A streamed playground answer: the text of its `delta` events, and
    /// its final event.
    ///
    /// # Panics
    /// If it has no event, or an event is not JSON, or a delta has no text.
    pub fn deltas_and_done(&self) -> (String, Value) {
        let frames = self.sse();
        let (done, deltas) = frames.split_last().expect("events");
        let text = deltas
            .iter()
            .map(|(_, data)| {
                serde_json::from_str::<Value>(data).expect("json")["delta"]
                    .as_str()
                    .expect("delta")
                    .to_owned()
            })
            .collect();
        (text, serde_json::from_str(&done.1).expect("done json"))
    }

    /// Asserts the contract's problem+json answer with this status and
    /// code; its body.
    ///
    /// # Panics
    /// If it is not that answer.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], status);
        assert_eq!(body["code"], code, "{body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        body
    }

    /// Asserts an error in OpenAI's shape (`/v1`) with this status, type
    /// and code; its body.
    ///
    /// # Panics
    /// If it is not that answer.
    pub fn openai_error(&self, status: u16, kind: &str, code: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        let error = &body["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(error["type"], kind, "{body}");
        assert_eq!(
            error["code"],
            code.map_or(Value::Null, |c| json!(c)),
            "{body}"
        );
        assert!(
            error.as_object().is_some_and(|e| e.contains_key("param")),
            "{body}"
        );
        body
    }
}

/// The `field` of each error a 422 problem lists, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

/// The field names of a JSON object, in order.
///
/// # Panics
/// If it is not an object.
pub fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The string `field` of each item of a JSON array, in order.
///
/// # Panics
/// If it is not an array, or an item has no such string.
pub fn each<'v>(array: &'v Value, field: &str) -> Vec<&'v str> {
    array
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item[field].as_str().expect(field))
        .collect()
}

/// One server-sent event: its `event:` name, if any, and its `data:`.
pub type SseFrame = (Option<String>, String);

/// The events of a `text/event-stream` body (comments are skipped).
pub fn sse_frames(body: &[u8]) -> Vec<SseFrame> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .filter_map(|frame| {
            let mut event = None;
            let mut data: Option<String> = None;
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data.get_or_insert_with(String::new).push_str(payload);
                }
            }
            data.map(|data| (event, data))
        })
        .collect()
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
        let response = self
            .post("/api/v1/api-keys", &json!({ "name": name }))
            .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_keep_event_names_and_skip_comments() {
        let body = b": keep-alive\n\ndata: {\"delta\": \"a\"}\n\nevent: error\ndata: {}\n\ndata: [DONE]\n\n";
        assert_eq!(
            sse_frames(body),
            [
                (None, "{\"delta\": \"a\"}".to_owned()),
                (Some("error".to_owned()), "{}".to_owned()),
                (None, "[DONE]".to_owned()),
            ]
        );
    }

    #[test]
    fn a_response_reads_cookies_headers_and_json() {
        let response = Response {
            status: 200,
            headers: vec![
                ("set-cookie".into(), "other=1; Path=/".into()),
                ("set-cookie".into(), "session_id=abc; HttpOnly".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: b"{\"ok\": true}".to_vec(),
        };
        assert_eq!(response.cookie(SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.parts(), (200, json!({"ok": true})));
        assert_eq!(
            Response {
                body: b"not json".to_vec(),
                ..response
            }
            .json(),
            Value::Null
        );
    }
}
