//! A real browser for the tests: Debian's Chromium, headless, driven over
//! WebDriver by `chromedriver` (both from the `chromium` and
//! `chromium-driver` packages), through `fantoccini`.
//!
//! Each [`Browser`] has its own chromedriver on a free port, its own empty
//! profile directory, and the flags a machine without the internet needs
//! (no background networking, no component updates, no sync, no QUIC).

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use promptyard_test_support::process::path_from_env;
use serde_json::{Value, json};

/// How long [`Browser::wait_until`] waits for a condition.
const WAIT: Duration = Duration::from_secs(15);

/// The light or dark setting the browser reports to the page
/// (`prefers-color-scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Light,
    Dark,
}

/// Where a program is: `$var` if set, else the first of `candidates` that
/// exists.
fn locate(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Chromium through chromedriver, with a page open.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new headless Chromium with a `width` × `height` window.
    ///
    /// Without Chromium or chromedriver on this machine: `None`, after
    /// saying so on stderr, so that `cargo test` passes where no browser
    /// is installed; with `PROMPTYARD_REQUIRE_BROWSER=1` (as `.ci/run`
    /// sets it), a panic instead, so that CI cannot skip them.
    pub(crate) async fn start(width: u32, height: u32, scheme: Scheme) -> Option<Self> {
        let chromium = locate(
            "PROMPTYARD_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let driver = locate(
            "PROMPTYARD_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let why = "browser tests skipped: no Chromium and chromedriver \
                       (apt-get install chromium chromium-driver, or set \
                       PROMPTYARD_CHROMIUM and PROMPTYARD_CHROMEDRIVER)";
            assert!(
                std::env::var_os("PROMPTYARD_REQUIRE_BROWSER").is_none(),
                "{why}, and PROMPTYARD_REQUIRE_BROWSER is set"
            );
            // Straight to stderr, not through eprintln!, which the test
            // harness captures: `cargo test` shows it.
            let _ = writeln!(std::io::stderr(), "{why}");
            return None;
        };
        Some(Self::launch(&chromium, &driver, width, height, scheme).await)
    }

    async fn launch(
        chromium: &Path,
        driver: &Path,
        width: u32,
        height: u32,
        scheme: Scheme,
    ) -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let port = free_port();
        let mut child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it takes Chromium
            // with it.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            if let Some(status) = child.try_wait().expect("chromedriver's status") {
                panic!("chromedriver exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            // Numbers and dates as the tests expect them written.
            "--lang=en-US".to_owned(),
            format!(
                "--user-data-dir={}",
                profile.path().join("chromium").display()
            ),
        ];
        if scheme == Scheme::Dark {
            // Blink's preferred color scheme: 0 is dark.
            args.push("--blink-settings=preferredColorScheme=0".to_owned());
        }
        // The page's size, even below the smallest window Chromium makes
        // (500 px wide).
        let metrics = json!({"width": width, "height": height, "pixelRatio": 1.0});
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "mobileEmulation": {"deviceMetrics": metrics},
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|err| {
                let log = std::fs::read_to_string(profile.path().join("chromedriver.log"))
                    .unwrap_or_default();
                panic!("no browser session: {err}\n{log}")
            });
        Self {
            client,
            driver: child,
            _profile: profile,
        }
    }

    /// Runs `script` (a function body: `return ...`) in the page.
    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("{script}: {err}"))
    }

    /// Waits until the JavaScript expression `condition` is truthy in the
    /// page; its value.
    ///
    /// # Panics
    /// After 15 s, with the page's visible errors.
    pub(crate) async fn wait_until(&self, condition: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let script = format!("return ({condition});");
        loop {
            // A navigation in progress makes a script fail: try again.
            if let Ok(value) = self.client.execute(&script, Vec::new()).await
                && !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0)
            {
                return value;
            }
            if Instant::now() > deadline {
                let errors = self
                    .js("return [...document.querySelectorAll('[role=alert]:not([hidden])')].map(e => e.textContent)")
                    .await;
                panic!("waited 15 s for `{condition}`; errors shown: {errors}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens `url` and waits until the page has started.
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        self.wait_until("document.body.dataset.ready === 'true'")
            .await;
    }

    /// Reloads the page and waits until it has started again.
    pub(crate) async fn reload(&self) {
        self.client.refresh().await.expect("reload");
        self.wait_until("document.body.dataset.ready === 'true'")
            .await;
    }

    /// Types `keys` into the element `css` (WebDriver keys: `\u{E007}` is
    /// Enter, `\u{E008}` holds Shift until `\u{E000}`).
    pub(crate) async fn type_into(&self, css: &str, keys: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"));
        element.clear().await.ok();
        element
            .send_keys(keys)
            .await
            .unwrap_or_else(|err| panic!("type into {css}: {err}"));
    }

    /// Types `keys` into whatever has the focus, as a keyboard does.
    pub(crate) async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .unwrap_or_else(|err| panic!("keys {keys:?}: {err}"));
    }

    /// Clicks the element `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"))
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// The text of the element `css`, as the DOM holds it.
    pub(crate) async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(css)
        );
        match self.js(&script).await {
            Value::String(text) => text,
            other => panic!("no element {css}: {other}"),
        }
    }

    /// The `session_id` cookie the browser holds.
    pub(crate) async fn session_cookie(&self) -> String {
        self.client
            .get_named_cookie("session_id")
            .await
            .expect("a session cookie")
            .value()
            .to_owned()
    }

    /// A PNG of the window, saved as `name` into `PROMPTYARD_SCREENSHOTS`
    /// (a directory; the README's pictures come from
    /// `PROMPTYARD_SCREENSHOTS=docs/images`), else into the target
    /// directory's test scratch space.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = path_from_env("PROMPTYARD_SCREENSHOTS", || {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
        });
        std::fs::create_dir_all(&dir).expect("the screenshots directory");
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("save the screenshot");
        path
    }

    /// Ends the WebDriver session (Chromium quits), then chromedriver.
    pub(crate) async fn quit(self) {
        self.client.clone().close().await.ok();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        if let Some(group) = i32::try_from(self.driver.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.driver.wait();
    }
}
