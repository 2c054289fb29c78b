//! Router-test helpers: the real app on a real test database, with a clock
//! the test controls.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::test;
use chrono::{DateTime, Utc};
use promptyard_services::{AuthConfig, ManualClock};
use promptyard_test_support::TestDb;
use serde_json::{Value, json};

use crate::{AppState, HttpSettings, SESSION_COOKIE};

pub(crate) fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

/// The state and what it stands on; the database drops last.
pub(crate) struct TestState {
    pub(crate) state: AppState,
    pub(crate) clock: ManualClock,
    pub(crate) test_db: TestDb,
}

pub(crate) fn test_state() -> TestState {
    test_state_with(AuthConfig::default(), |settings| settings)
}

pub(crate) fn test_state_with(
    auth: AuthConfig,
    settings: impl FnOnce(HttpSettings) -> HttpSettings,
) -> TestState {
    let test_db = TestDb::new();
    let clock = ManualClock::new(start());
    let state = AppState::with_clock(
        test_db.db(),
        auth,
        settings(HttpSettings::new(Key::generate())),
        Arc::new(clock.clone()),
    )
    .expect("state");
    TestState {
        state,
        clock,
        test_db,
    }
}

pub(crate) async fn init(
    state: &AppState,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(crate::app(state.clone())).await
}

/// The `session_id` cookie a response sets, if any.
pub(crate) fn session_cookie<B>(response: &ServiceResponse<B>) -> Option<Cookie<'static>> {
    response
        .response()
        .cookies()
        .find(|c| c.name() == SESSION_COOKIE)
        .map(Cookie::into_owned)
}

/// Status and JSON body (or `Null`).
pub(crate) async fn parts<B: MessageBody>(
    response: ServiceResponse<B>,
) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    let body = test::read_body(response).await;
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

/// The password the helpers register users with.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// `method path` with an optional JSON body and session cookie.
pub(crate) async fn send<S, B>(
    app: &S,
    method: actix_web::http::Method,
    path: &str,
    body: Option<Value>,
    cookie: Option<&Cookie<'static>>,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::default().method(method).uri(path);
    if let Some(body) = body {
        req = req.set_json(body);
    }
    if let Some(cookie) = cookie {
        req = req.cookie(cookie.clone());
    }
    test::call_service(app, req.to_request()).await
}

/// `POST path` with a JSON body.
pub(crate) async fn post_json<S, B>(
    app: &S,
    path: &str,
    body: Value,
    cookie: Option<&Cookie<'static>>,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, actix_web::http::Method::POST, path, Some(body), cookie).await
}

/// `GET path`.
pub(crate) async fn get<S, B>(
    app: &S,
    path: &str,
    cookie: Option<&Cookie<'static>>,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, actix_web::http::Method::GET, path, None, cookie).await
}

/// `DELETE path`.
pub(crate) async fn delete<S, B>(
    app: &S,
    path: &str,
    cookie: Option<&Cookie<'static>>,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, actix_web::http::Method::DELETE, path, None, cookie).await
}

pub(crate) fn creds(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// Registers `email` and logs in; returns the session cookie.
pub(crate) async fn signed_in<S, B>(app: &S, email: &str) -> Cookie<'static>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let registered = post_json(app, "/api/v1/auth/register", creds(email, PASSWORD), None).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    login(app, email).await
}

pub(crate) async fn login<S, B>(app: &S, email: &str) -> Cookie<'static>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = post_json(app, "/api/v1/auth/login", creds(email, PASSWORD), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    session_cookie(&response).expect("login sets the session cookie")
}

/// `method path` with `Authorization: Bearer <key>` (and a JSON body).
pub(crate) async fn with_bearer<S, B>(
    app: &S,
    method: actix_web::http::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header((AUTHORIZATION, format!("Bearer {key}")));
    if let Some(body) = body {
        req = req.set_json(body);
    }
    test::call_service(app, req.to_request()).await
}

/// A state whose registry also serves `fake-1` from a [`FakeOpenAi`]
/// (500 ms timeout).
pub(crate) fn with_fake_provider(
    t: &TestState,
    fake: &promptyard_test_support::fake_openai::FakeOpenAi,
) -> AppState {
    let mut registry = promptyard_services::ProviderRegistry::with_echo();
    let provider = promptyard_services::providers::OpenAiProvider::new(
        "local",
        &fake.base_url(),
        None,
        std::time::Duration::from_millis(500),
    )
    .expect("provider");
    registry
        .add(
            std::sync::Arc::new(provider),
            &[promptyard_services::providers::ModelSpec::new(
                "fake-1",
                promptyard_services::providers::DEFAULT_CONTEXT_TOKENS,
            )],
            "the fake upstream",
        )
        .expect("add");
    t.state.clone().with_providers(registry)
}

/// The `data:` payloads (and `event:` names) of a text/event-stream body.
pub(crate) fn sse_frames(body: &[u8]) -> Vec<(Option<String>, String)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data.push_str(payload);
                }
            }
            (event, data)
        })
        .collect()
}
