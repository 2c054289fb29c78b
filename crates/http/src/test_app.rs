//! Router tests: the real app on a real test database, with a clock the
//! test controls, called in process through the shared harness
//! ([`promptyard_test_support::api`]) so that the same actors and helpers
//! serve here, in the cross-crate flows and in the contract test.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::rt::task::JoinHandle;
use actix_web::test;
use promptyard_services::{AuthConfig, Db, ManualClock, ProviderRegistry, RepoError};
use promptyard_test_support::TestDb;
pub(crate) use promptyard_test_support::api::{
    Actor, Credential, PASSWORD, Request, Response, Transport, credentials, each, error_fields,
    keys, start,
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

/// A fresh test state and the app on it, in process. Keep the state (it
/// holds the database) for as long as the app.
pub(crate) async fn test_app() -> (TestState, InProcess<impl AppService + use<>>) {
    let t = test_state();
    let api = t.api().await;
    (t, api)
}

/// The same, with `fake-1` also served by a fake OpenAI upstream (see
/// [`TestState::with_fake_provider`]).
pub(crate) async fn test_app_with_fake_provider()
-> (TestState, FakeOpenAi, InProcess<impl AppService + use<>>) {
    let t = test_state();
    let fake = FakeOpenAi::start();
    let api = in_process(&t.with_fake_provider(&fake)).await;
    (t, fake, api)
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

    /// This state's auth configuration, settings and clock over `db`.
    pub(crate) fn over(&self, db: Db) -> AppState {
        AppState::with_clock(
            db,
            *self.state.auth.config(),
            self.state.settings.clone(),
            Arc::new(self.clock.clone()),
        )
        .expect("state")
    }
}

/// An app (mostly the whole one, `crate::app`), called in process through
/// actix's test service.
pub(crate) struct InProcess<S> {
    service: S,
}

impl<S: AppService> InProcess<S> {
    /// Any app `actix_web::test::init_service` made (say, a bare `App`
    /// with only the configured routes), in process.
    pub(crate) fn new(service: S) -> Self {
        Self { service }
    }

    /// An anonymous caller.
    pub(crate) fn anonymous(&self) -> Actor<'_, Self> {
        Actor::anonymous(self)
    }
}

/// The app on `state`, in process.
pub(crate) async fn in_process(state: &AppState) -> InProcess<impl AppService + use<>> {
    InProcess::new(test::init_service(crate::app(state.clone())).await)
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

/// A read on `db` that holds its reader until [`HeldReader::release`]: on a
/// one-reader `Db`, every other read waits meanwhile.
pub(crate) struct HeldReader {
    release: mpsc::Sender<()>,
    holder: JoinHandle<Result<(), RepoError>>,
}

/// Takes a reader of `db` and holds it; returns once it is held.
pub(crate) async fn hold_a_reader(db: &Db) -> HeldReader {
    let (release, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let db = db.clone();
    let holder = actix_web::rt::spawn(async move {
        db.read(move |_| {
            held_tx.send(()).expect("signal");
            release_rx.recv().expect("wait");
            Ok::<_, RepoError>(())
        })
        .await
    });
    actix_web::rt::task::spawn_blocking(move || held_rx.recv())
        .await
        .expect("join")
        .expect("held");
    HeldReader { release, holder }
}

impl HeldReader {
    /// Lets the reader go and waits for its read to finish.
    pub(crate) async fn release(self) {
        self.release.send(()).expect("release");
        self.holder.await.expect("join").expect("holder");
    }
}
