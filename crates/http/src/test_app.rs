//! Router-test helpers: the real app on a real test database, with a clock
//! the test controls.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{DateTime, Utc};
use promptyard_services::{AuthConfig, ManualClock};
use promptyard_test_support::TestDb;

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
