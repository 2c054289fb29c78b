//! Router tests: the real app on a real test database, with a clock the
//! test controls, called in process through the shared harness
//! ([`promptyard_test_support::api`]) so that the same actors and helpers
//! serve here, in the cross-crate flows and in the contract test.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test;
use promptyard_services::{AuthConfig, ManualClock, ProviderRegistry};
use promptyard_test_support::TestDb;
pub(crate) use promptyard_test_support::api::{
    Actor, Credential, PASSWORD, Request, Response, Transport, credentials, error_fields, start,
};
use promptyard_test_support::fake_openai::FakeOpenAi;

use crate::{AppState, HttpSettings};

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

impl TestState {
    /// The app on this state, in process.
    pub(crate) async fn api(&self) -> InProcess<impl AppService + use<>> {
        in_process(&self.state).await
    }

    /// The state with `fake-1` also served by `fake` (500 ms timeout).
    pub(crate) fn with_fake_provider(&self, fake: &FakeOpenAi) -> AppState {
        let registry = ProviderRegistry::with_local_openai(
            &fake.base_url(),
            &["fake-1"],
            Duration::from_millis(500),
        )
        .expect("registry");
        self.state.clone().with_providers(registry)
    }
}

/// The whole app (`crate::app`), called in process through actix's test
/// service.
pub(crate) struct InProcess<S> {
    service: S,
}

impl<S: AppService> InProcess<S> {
    /// An anonymous caller.
    pub(crate) fn anonymous(&self) -> Actor<'_, Self> {
        Actor::anonymous(self)
    }
}

/// The app on `state`, in process.
pub(crate) async fn in_process(state: &AppState) -> InProcess<impl AppService + use<>> {
    InProcess {
        service: test::init_service(crate::app(state.clone())).await,
    }
}

/// What `actix_web::test::init_service` makes of the app.
pub(crate) trait AppService:
    Service<actix_http::Request, Response = ServiceResponse<Self::Body>, Error = actix_web::Error>
{
    type Body: MessageBody;
}

impl<S, B> AppService for S
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Body = B;
}

impl<S: AppService> Transport for InProcess<S> {
    async fn send(&self, request: Request) -> Response {
        let method = Method::from_bytes(request.method.as_bytes()).expect("a method");
        let mut req = test::TestRequest::default()
            .method(method)
            .uri(&request.path);
        for (name, value) in &request.headers {
            req = req.append_header((name.as_str(), value.as_str()));
        }
        if let Some(body) = request.body {
            req = req.set_payload(body);
        }
        let response = test::call_service(&self.service, req.to_request()).await;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = test::read_body(response).await.to_vec();
        Response {
            status,
            headers,
            body,
        }
    }
}
