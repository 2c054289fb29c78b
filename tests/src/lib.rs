//! Shared helpers for the cross-crate suites in this package (`integration`,
//! `migrations`, `concurrency`, `sqlite_config`).
//!
//! - [`TestApp`]: the whole app's state on a fresh migrated database, with
//!   a clock the test controls, for in-process calls.
//! - [`TestServer`]: the same app served over a real socket on
//!   `127.0.0.1:<free port>`, for flows where cookies and the wire matter.
//!   It is a [`Transport`] of the shared harness
//!   ([`promptyard_test_support::api`]): `server.anonymous().sign_up(..)`
//!   gives the same actors the router tests and the contract test use, and
//!   requests may run concurrently (reqwest underneath).

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::cookie::Key;
use promptyard_http::{AppState, HttpSettings};
use promptyard_services::{AuthConfig, ManualClock, ProviderRegistry};
use promptyard_test_support::TestDb;
pub use promptyard_test_support::api::{
    Actor, Credential, PASSWORD, Request, Response, Transport, credentials, each, error_fields,
};
use promptyard_test_support::fake_openai::FakeOpenAi;

/// The app's state, its clock and its database (dropped last).
#[derive(Debug)]
pub struct TestApp {
    pub state: AppState,
    pub clock: ManualClock,
    pub test_db: TestDb,
}

impl TestApp {
    /// A fresh app on a fresh migrated database, default settings.
    pub fn new() -> Self {
        Self::with_auth(AuthConfig::default())
    }

    /// A fresh app with these authentication settings.
    pub fn with_auth(auth: AuthConfig) -> Self {
        let test_db = TestDb::new();
        let clock = ManualClock::new(chrono::Utc::now());
        let state = AppState::with_clock(
            test_db.db(),
            auth,
            HttpSettings::new(Key::generate()),
            Arc::new(clock.clone()),
        )
        .expect("app state");
        Self {
            state,
            clock,
            test_db,
        }
    }
}

impl TestApp {
    /// A fresh app whose providers also serve `fake-1` from `fake` (an
    /// OpenAI-compatible server the test runs), with a 500 ms timeout.
    pub fn with_fake_upstream(fake: &FakeOpenAi) -> Self {
        Self::with_fake_upstream_timeout(fake, std::time::Duration::from_millis(500))
    }

    /// [`TestApp::with_fake_upstream`] with this upstream timeout.
    pub fn with_fake_upstream_timeout(fake: &FakeOpenAi, timeout: std::time::Duration) -> Self {
        let mut app = Self::new();
        let registry = ProviderRegistry::with_local_openai(&fake.base_url(), &["fake-1"], timeout)
            .expect("registry");
        app.state = app.state.with_providers(registry);
        app
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`TestApp`] served by actix-web on a real socket, in its own thread;
/// stopped (gracefully) when dropped.
#[derive(Debug)]
pub struct TestServer {
    base_url: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    pub app: TestApp,
}

impl TestServer {
    /// Serves a fresh [`TestApp`].
    pub fn start() -> Self {
        Self::serve(TestApp::new())
    }

    /// Serves this app.
    pub fn serve(app: TestApp) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let state = app.state.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    actix_web::HttpServer::new(move || promptyard_http::app(state.clone()))
                        .workers(1)
                        .disable_signals()
                        .listen(listener)
                        .expect("listen")
                        .run();
                let handle = server.handle();
                actix_web::rt::spawn(async move {
                    let _ = stop_rx.await;
                    handle.stop(true).await;
                });
                let _ = ready_tx.send(());
                let _ = server.await;
            });
        });
        ready_rx.recv().expect("server thread started");
        Self {
            base_url,
            client: reqwest::Client::new(),
            stop: Some(stop_tx),
            thread: Some(thread),
            app,
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Someone without credentials, calling this server.
    pub fn anonymous(&self) -> Actor<'_, Self> {
        Actor::anonymous(self)
    }
}

impl Transport for TestServer {
    async fn send(&self, request: Request) -> Response {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
        let mut builder = self.client.request(method, self.url(&request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.expect("send");
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let body = response.bytes().await.expect("body").to_vec();
        let headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        Response::received(status, headers, body)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
