//! Shared helpers for the cross-crate suites in this package (`integration`,
//! `migrations`, `concurrency`, `sqlite_config`).
//!
//! - [`TestApp`]: the whole app's state on a fresh migrated database, with
//!   a clock the test controls, for in-process calls.
//! - [`TestServer`]: the same app served over a real socket on
//!   `127.0.0.1:<free port>`, for flows where cookies and the wire matter.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::cookie::Key;
use promptyard_http::{AppState, HttpSettings};
use promptyard_services::{AuthConfig, ManualClock};
use promptyard_test_support::TestDb;

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
    pub fn with_fake_upstream(fake: &promptyard_test_support::fake_openai::FakeOpenAi) -> Self {
        Self::with_fake_upstream_timeout(fake, std::time::Duration::from_millis(500))
    }

    /// [`TestApp::with_fake_upstream`] with this upstream timeout.
    pub fn with_fake_upstream_timeout(
        fake: &promptyard_test_support::fake_openai::FakeOpenAi,
        timeout: std::time::Duration,
    ) -> Self {
        let mut app = Self::new();
        let mut registry = promptyard_services::ProviderRegistry::with_echo();
        let provider = promptyard_services::providers::OpenAiProvider::new(
            "local",
            &fake.base_url(),
            None,
            timeout,
        )
        .expect("provider");
        registry
            .add(
                Arc::new(provider),
                &[promptyard_services::providers::ModelSpec::new(
                    "fake-1",
                    promptyard_services::providers::DEFAULT_CONTEXT_TOKENS,
                )],
                "the test's fake upstream",
            )
            .expect("add fake-1");
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

/// The password [`sign_up`] registers with.
pub const PASSWORD: &str = "correct horse battery";

/// Registers `email` over HTTP and logs in; returns the cookie pair to send
/// back (`session_id=...`).
///
/// # Panics
/// If registering or logging in fails.
pub async fn sign_up(client: &reqwest::Client, server: &TestServer, email: &str) -> String {
    let credentials = serde_json::json!({"email": email, "password": PASSWORD});
    let registered = client
        .post(server.url("/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(
        registered.status(),
        reqwest::StatusCode::CREATED,
        "register {email}"
    );
    let login = client
        .post(server.url("/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), reqwest::StatusCode::OK, "log in {email}");
    login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session_id="))
        .and_then(|v| v.split(';').next())
        .expect("a session_id cookie")
        .to_owned()
}
