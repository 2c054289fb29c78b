//! The web playground, used as a person uses it: in headless Chromium
//! (through chromedriver), against the `promptyard` binary on a database
//! of its own (PostgreSQL when `PROMPTYARD_TEST_POSTGRES_URL` is set, else
//! SQLite). What the page shows is checked against what the API answers
//! the same person, over HTTP, so that no expected text is the page's own.
//!
//! Without Chromium and chromedriver these tests pass after saying they
//! were skipped (see [`harness::Browser::start`]); `.ci/run` installs both
//! and sets `PROMPTYARD_REQUIRE_BROWSER=1`. Against the release binary:
//!
//! ```sh
//! cargo build --release
//! PROMPTYARD_BIN=target/release/promptyard cargo nextest run -p promptyard-server --test browser
//! ```
//!
//! `PROMPTYARD_SCREENSHOTS=docs/images` saves the README's pictures.

mod harness;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use harness::{Browser, Scheme};
use promptyard_test_support::TestDb;
use promptyard_test_support::api::{Actor, Credential, PASSWORD, Wire};
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_test_support::process::{ServerProcess, binary_under_test};
use serde_json::{Value, json};

const ENTER: &str = "\u{E007}";
const SHIFT_ENTER: &str = "\u{E008}\u{E007}\u{E000}";
const TAB: &str = "\u{E004}";
const INJECTION: &str = "<img src=x onerror=alert(1)>";

/// The binary on a database of its own, with a fake upstream serving
/// `fake-1` when asked.
struct Server {
    _process: ServerProcess,
    _test_db: TestDb,
    wire: Wire,
    base_url: String,
    upstream: Option<FakeOpenAi>,
}

impl Server {
    fn start() -> Self {
        Self::launch(None)
    }

    fn with_upstream() -> Self {
        Self::launch(Some(FakeOpenAi::start()))
    }

    fn launch(upstream: Option<FakeOpenAi>) -> Self {
        let test_db = TestDb::new();
        let mut envs = vec![
            ("PROMPTYARD_BIND", "127.0.0.1:0".to_owned()),
            ("PROMPTYARD_DATABASE_URL", test_db.url().to_owned()),
        ];
        if let Some(fake) = &upstream {
            envs.push((
                "PROMPTYARD_PROVIDERS_FILE",
                fake.providers_file(test_db.dir(), 30, None),
            ));
        }
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = ServerProcess::start(
            &binary_under_test(env!("CARGO_BIN_EXE_promptyard")),
            test_db.dir(),
            &[],
            &envs,
        );
        Self {
            wire: Wire(process.addr()),
            base_url: process.base_url(),
            _process: process,
            _test_db: test_db,
            upstream,
        }
    }

    fn fake(&self) -> &FakeOpenAi {
        self.upstream.as_ref().expect("started with an upstream")
    }

    /// The API, called as the person whose browser holds `cookie`.
    fn as_cookie(&self, cookie: String) -> Actor<'_, Wire> {
        Actor::with(&self.wire, Credential::Cookie(cookie))
    }

    fn anon(&self) -> Actor<'_, Wire> {
        Actor::anonymous(&self.wire)
    }
}

/// The messages on screen: `[role, text, state]`, `state` being
/// "streaming", "stopped" or "".
async fn messages(b: &Browser) -> Vec<Value> {
    let value = b
        .js("return [...document.querySelectorAll('#messages .message')].map(m => [
                m.classList.contains('user') ? 'user' : 'assistant',
                m.querySelector('.text').textContent,
                m.classList.contains('streaming') ? 'streaming' : m.classList.contains('stopped') ? 'stopped' : '',
            ]);")
        .await;
    value.as_array().expect("an array").clone()
}

/// Waits until `count` messages are on screen, none streaming.
async fn wait_for_messages(b: &Browser, count: usize) -> Vec<Value> {
    b.wait_until(&format!(
        "document.querySelectorAll('#messages .message').length === {count} \
         && !document.querySelector('#messages .streaming')"
    ))
    .await;
    messages(b).await
}

async fn visible(b: &Browser, id: &str) {
    b.wait_until(&format!(
        "document.getElementById({}) && !document.getElementById({}).hidden",
        json!(id),
        json!(id)
    ))
    .await;
}

/// Signs up through the page's form; the browser is then logged in.
async fn sign_up(b: &Browser, email: &str) {
    visible(b, "view-auth").await;
    b.type_into("#register-form input[name=email]", email).await;
    b.type_into("#register-form input[name=password]", PASSWORD)
        .await;
    b.click("#register-form button").await;
    visible(b, "view-chat").await;
}

/// Starts a conversation with `model` (and a title) through the form.
async fn start_conversation(b: &Browser, model: &str, title: &str) {
    b.wait_until("document.querySelector('#new-conversation select').options.length > 0")
        .await;
    b.client
        .find(Locator::Css("#new-conversation select"))
        .await
        .expect("the model picker")
        .select_by_value(model)
        .await
        .expect("pick the model");
    b.type_into("#new-conversation input[name=title]", title)
        .await;
    b.click("#new-conversation button[type=submit]").await;
    visible(b, "conversation").await;
    b.wait_until(&format!(
        "document.getElementById('conversation-title').textContent === {}",
        json!(title)
    ))
    .await;
}

/// A browser of this size and colour scheme with the page of the server
/// `start` makes open in it; `None` (the test is skipped) without a
/// browser, before any server is started.
async fn page_on(
    start: fn() -> Server,
    width: u32,
    height: u32,
    scheme: Scheme,
) -> Option<(Browser, Server)> {
    let b = Browser::start(width, height, scheme).await?;
    let server = start();
    b.open(&server.base_url).await;
    Some((b, server))
}

fn message(role: &str, text: &str) -> Value {
    json!([role, text, ""])
}

#[tokio::test]
async fn a_person_signs_up_chats_reloads_keeps_keys_and_logs_out() {
    let Some((b, server)) = page_on(Server::start, 1280, 860, Scheme::Light).await else {
        return;
    };

    // A refused sign-up shows the problem's detail and its fields, as the
    // API words them.
    visible(&b, "view-auth").await;
    let refused = server
        .anon()
        .post(
            "/api/v1/auth/register",
            &json!({"email": "ada@localhost", "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.status, 422);
    let problem = refused.json();
    b.type_into("#register-form input[name=email]", "ada@localhost")
        .await;
    b.type_into("#register-form input[name=password]", PASSWORD)
        .await;
    b.click("#register-form button").await;
    let shown = b
        .wait_until("!document.querySelector('#register-form [role=alert]').hidden && document.querySelector('#register-form [role=alert]').textContent")
        .await;
    let mut expected = vec![problem["detail"].as_str().expect("detail").to_owned()];
    for error in problem["errors"].as_array().expect("errors") {
        expected.push(format!(
            "{}: {}",
            error["field"].as_str().expect("field"),
            error["message"].as_str().expect("message")
        ));
    }
    assert_eq!(shown, json!(expected.join("\n")));

    // Sign up (which logs in).
    sign_up(&b, "ada@example.com").await;
    assert_eq!(b.text("#who").await, "ada@example.com");

    // A conversation whose title is markup shows the markup as text.
    let title = "Notes <b>bold</b>";
    start_conversation(&b, "echo-1", title).await;
    assert_eq!(
        b.js("return document.querySelectorAll('#conversation-title b, #conversations b').length")
            .await,
        json!(0)
    );
    assert_eq!(b.text("#conversations li a").await, title);

    // Enter sends; echo-1 answers with the message.
    b.type_into("#message", &format!("Hello, Promptyard{ENTER}"))
        .await;
    let after_one = wait_for_messages(&b, 2).await;
    assert_eq!(
        after_one,
        [
            message("user", "Hello, Promptyard"),
            message("assistant", "Hello, Promptyard")
        ]
    );

    // Shift+Enter is a new line, not a send.
    b.type_into("#message", &format!("line one{SHIFT_ENTER}line two"))
        .await;
    assert_eq!(
        b.js("return document.getElementById('message').value")
            .await,
        json!("line one\nline two")
    );
    assert_eq!(messages(&b).await.len(), 2);
    let textarea = b
        .client
        .find(Locator::Css("#message"))
        .await
        .expect("the message box");
    textarea.send_keys(ENTER).await.expect("send");
    wait_for_messages(&b, 4).await;

    // Markup in a message is shown as the characters typed, and runs
    // nothing.
    b.type_into("#message", &format!("{INJECTION}{ENTER}"))
        .await;
    let shown = wait_for_messages(&b, 6).await;
    assert_eq!(shown[4], message("user", INJECTION));
    assert_eq!(shown[5], message("assistant", INJECTION));
    assert_eq!(
        b.js("return document.querySelectorAll('#messages img').length")
            .await,
        json!(0)
    );
    assert!(b.client.get_alert_text().await.is_err(), "no alert() ran");
    b.screenshot("playground-chat.png").await;

    // A reload comes back to the same conversation with its history, as
    // the API has it.
    let cookie = b.session_cookie().await;
    let ada = server.as_cookie(cookie.clone());
    let listed = ada.get("/api/v1/playground/conversations").await.json();
    let id = listed["items"][0]["id"].as_str().expect("an id").to_owned();
    let stored = ada
        .get(&format!("/api/v1/playground/conversations/{id}"))
        .await
        .json();
    b.reload().await;
    let reloaded = wait_for_messages(&b, 6).await;
    let from_api: Vec<Value> = stored["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            message(
                m["role"].as_str().expect("role"),
                m["content"].as_str().expect("content"),
            )
        })
        .collect();
    assert_eq!(reloaded, from_api);
    assert_eq!(reloaded, shown);
    assert!(
        b.client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with(&format!("#/chat/{id}"))
    );

    // Usage by model: the numbers the API counts, and a bar per model.
    b.click("nav a[data-view=usage]").await;
    b.wait_until("document.querySelectorAll('#usage-rows tr').length > 0")
        .await;
    let usage = ada.get("/api/v1/playground/usage").await.json();
    let rows = b
        .js("return [...document.querySelectorAll('#usage-rows tr')].map(r => [...r.cells].map(c => c.textContent))")
        .await;
    let expected: Vec<Value> = usage["by_model"]
        .as_array()
        .expect("by_model")
        .iter()
        .map(|m| {
            json!([
                m["model"],
                number(&m["prompt_tokens"]),
                number(&m["completion_tokens"]),
                number(&m["total_tokens"]),
            ])
        })
        .collect();
    assert_eq!(rows, json!(expected));
    assert_eq!(
        b.js("return document.querySelectorAll('#usage-chart .bar-row rect.prompt').length")
            .await,
        json!(expected.len())
    );

    // A key: shown once with the lines that use it, and it works.
    b.click("nav a[data-view=keys]").await;
    visible(&b, "view-keys").await;
    b.type_into("#new-key input[name=name]", "notebook").await;
    b.click("#new-key button").await;
    let key = b
        .wait_until("document.getElementById('new-key-value').textContent")
        .await;
    let key = key.as_str().expect("the key").to_owned();
    assert!(key.starts_with("pyk_"), "{key}");
    let curl = b.text("#new-key-curl").await;
    assert!(curl.contains(&format!("Bearer {key}")), "{curl}");
    assert!(
        curl.contains(&format!("{}/v1/chat/completions", server.base_url)),
        "{curl}"
    );
    assert!(b.text("#new-key-openai").await.contains(&key));
    let with_key = Actor::with(&server.wire, Credential::Key(key.clone()));
    assert_eq!(with_key.get("/v1/models").await.status, 200);
    b.click("#copy-key").await;
    b.wait_until("document.getElementById('copy-status').textContent")
        .await;
    b.click("#new-key-done").await;
    b.wait_until("document.getElementById('new-key-shown').hidden")
        .await;
    assert_eq!(
        b.js(&format!(
            "return document.body.textContent.includes({})",
            json!(key)
        ))
        .await,
        json!(false),
        "the key is shown once"
    );
    let keys = ada.get("/api/v1/api-keys").await.json();
    let prefix = keys[0]["prefix"].as_str().expect("prefix");
    assert!(key.starts_with(prefix));
    b.wait_until("document.querySelectorAll('#keys tr').length === 1")
        .await;
    assert_eq!(b.text("#keys tr code").await, format!("{prefix}…"));
    b.click("#keys tr button").await;
    b.wait_until("document.querySelectorAll('#keys tr').length === 0")
        .await;
    assert_eq!(with_key.get("/v1/models").await.status, 401);

    // Sessions: another one revoked from here stops working.
    let elsewhere = server.anon().log_in("ada@example.com").await;
    b.click("nav a[data-view=sessions]").await;
    b.wait_until("document.querySelectorAll('#sessions tr').length === 2")
        .await;
    assert_eq!(b.text("#sessions tr .badge").await, "this browser");
    b.click("#sessions tr button").await;
    b.wait_until("document.querySelectorAll('#sessions tr').length === 1")
        .await;
    assert_eq!(elsewhere.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(ada.get("/api/v1/auth/me").await.status, 200);

    // Log out: the cookie is dead, and nothing of Ada's stays on screen.
    b.click("#logout").await;
    visible(&b, "view-auth").await;
    assert_eq!(ada.get("/api/v1/auth/me").await.status, 401);
    assert_eq!(
        b.js("return document.getElementById('messages').children.length + document.getElementById('conversations').children.length + document.getElementById('who').textContent.length")
            .await,
        json!(0)
    );

    // And back in: the conversation is there (logging out forgot which
    // view was open).
    assert!(
        b.client
            .current_url()
            .await
            .expect("url")
            .fragment()
            .is_none_or(str::is_empty)
    );
    b.type_into("#login-form input[name=email]", "ada@example.com")
        .await;
    b.type_into(
        "#login-form input[name=password]",
        &format!("{PASSWORD}{ENTER}"),
    )
    .await;
    visible(&b, "view-chat").await;
    b.wait_until("document.querySelectorAll('#conversations li').length === 1")
        .await;
    b.click("#conversations li a").await;
    assert_eq!(wait_for_messages(&b, 6).await, from_api);
    b.quit().await;
}

/// A number as the page writes it (the browser's locale; en-US here).
fn number(value: &Value) -> String {
    let n = value.as_u64().expect("a count");
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn answers_stream_in_can_be_stopped_and_provider_errors_show_their_detail() {
    let Some((b, server)) = page_on(Server::with_upstream, 1280, 860, Scheme::Light).await else {
        return;
    };
    sign_up(&b, "grace@example.com").await;
    start_conversation(&b, "fake-1", "Upstream").await;
    let grace = server.as_cookie(b.session_cookie().await);
    let id = grace.get("/api/v1/playground/conversations").await.json()["items"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let messages_path = format!("/api/v1/playground/conversations/{id}/messages");

    // The words show as they come, before the answer is complete: a
    // word every 100 ms, for 4 s.
    let every = Duration::from_millis(100);
    let count: u32 = 40;
    server.fake().push(Reply::Trickle {
        delta: "word ".into(),
        every,
        count: usize::try_from(count).expect("a small count"),
    });
    b.type_into("#message", &format!("Hi{ENTER}")).await;
    b.wait_until(
        "document.querySelector('#messages .assistant.streaming .text')?.textContent.startsWith('word word ')",
    )
    .await;
    let sent = Instant::now();

    // Away and back while it streams: the answer is still there, still
    // coming in.
    b.click("a.brand").await;
    visible(&b, "conversation-empty").await;
    b.click("#conversations li a").await;
    b.wait_until(
        "document.querySelector('#messages .assistant.streaming .text')?.textContent.length > 'word word '.length",
    )
    .await;
    assert_eq!(
        b.js("return [document.getElementById('send').hidden, document.getElementById('stop').hidden]")
            .await,
        json!([true, false])
    );

    // Stop: the message is back in the box, and nothing is saved, not even
    // once the upstream would have finished (the server cancelled it).
    b.click("#stop").await;
    b.wait_until("document.querySelector('#messages .assistant.stopped')")
        .await;
    assert_eq!(
        b.js("return document.getElementById('message').value")
            .await,
        json!("Hi")
    );
    assert_eq!(
        b.js("return document.getElementById('send').hidden").await,
        json!(false)
    );
    tokio::time::sleep((every * count + Duration::from_secs(1)).saturating_sub(sent.elapsed()))
        .await;
    let stored = grace
        .get(&format!("/api/v1/playground/conversations/{id}"))
        .await
        .json();
    assert_eq!(stored["messages"], json!([]));
    b.reload().await;
    visible(&b, "conversation").await;
    assert_eq!(messages(&b).await, Vec::<Value>::new());

    // A failing provider: the page shows the 502 problem's detail.
    for _ in 0..2 {
        server.fake().push(Reply::Status(
            500,
            r#"{"error": {"message": "down"}}"#.into(),
        ));
    }
    let failed = grace
        .post(&messages_path, &json!({"content": "again", "stream": true}))
        .await;
    assert_eq!(failed.status, 502);
    b.type_into("#message", &format!("again{ENTER}")).await;
    let shown = b
        .wait_until("!document.getElementById('chat-error').hidden && document.getElementById('chat-error').textContent")
        .await;
    assert_eq!(shown, failed.json()["detail"]);
    assert_eq!(messages(&b).await, Vec::<Value>::new());
    assert_eq!(
        b.js("return document.getElementById('message').value")
            .await,
        json!("again")
    );

    // A provider failing mid-answer: the stream's error event's detail.
    for _ in 0..2 {
        server.fake().push(Reply::Stream {
            deltas: vec!["par".into()],
            usage: None,
            end: StreamEnd::Error("the model fell over".into()),
        });
    }
    let cut = grace
        .post(
            &messages_path,
            &json!({"content": "once more", "stream": true}),
        )
        .await;
    let text = cut.text();
    let event = text
        .split("event: error\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("an error event: {text}"));
    let event: Value = serde_json::from_str(event).expect("JSON");
    b.type_into("#message", &format!("once more{ENTER}")).await;
    b.wait_until(&format!(
        "document.getElementById('chat-error').textContent === {}",
        event["detail"]
    ))
    .await;
    assert_eq!(messages(&b).await, Vec::<Value>::new());
    b.quit().await;
}

/// The red, green and blue of a computed CSS colour `rgb(r, g, b)`.
fn rgb(css: &Value) -> [u8; 3] {
    let css = css.as_str().expect("a colour");
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let parts: Vec<u8> = inner
        .split(',')
        .take(3)
        .map(|part| part.trim().parse().expect("a channel"))
        .collect();
    [parts[0], parts[1], parts[2]]
}

#[tokio::test]
async fn on_a_phone_in_dark_mode_by_keyboard_alone() {
    let Some((b, _server)) = page_on(Server::start, 360, 780, Scheme::Dark).await else {
        return;
    };
    visible(&b, "view-auth").await;

    // Dark, because the system says so.
    assert_eq!(
        b.js("return matchMedia('(prefers-color-scheme: dark)').matches")
            .await,
        json!(true)
    );
    let background = rgb(&b
        .js("return getComputedStyle(document.body).backgroundColor")
        .await);
    let text = rgb(&b.js("return getComputedStyle(document.body).color").await);
    assert!(
        background.iter().all(|&c| c < 64) && text.iter().all(|&c| c > 192),
        "background {background:?}, text {text:?}"
    );

    // Sign up with the keyboard alone: the page starts in the login
    // email field; Tab moves on, with the focus drawn.
    assert_eq!(
        b.js(
            "return document.activeElement.closest('form')?.id + '/' + document.activeElement.name"
        )
        .await,
        json!("login-form/email")
    );
    b.keys(TAB).await;
    assert_eq!(
        b.js("const s = getComputedStyle(document.activeElement); return [document.activeElement.name, s.outlineStyle, s.outlineWidth]")
            .await,
        json!(["password", "solid", "3px"])
    );
    b.keys(&format!("{TAB}{TAB}")).await;
    assert_eq!(
        b.js(
            "return document.activeElement.closest('form')?.id + '/' + document.activeElement.name"
        )
        .await,
        json!("register-form/email")
    );
    b.keys(&format!("lin@example.com{TAB}")).await;
    b.keys(&format!("{PASSWORD}{ENTER}")).await;
    visible(&b, "view-chat").await;

    // A conversation; its message box has the focus, Enter sends.
    start_conversation(&b, "echo-1", "On the go").await;
    b.wait_until("document.activeElement.id === 'message'")
        .await;
    b.keys(&format!("Hello from a small screen{ENTER}")).await;
    wait_for_messages(&b, 2).await;

    // Nothing wider than the screen, on any view.
    for view in ["chat", "keys", "usage", "sessions"] {
        b.click("a.brand").await;
        if view != "chat" {
            b.click(&format!("nav a[data-view={view}]")).await;
        }
        visible(&b, &format!("view-{view}")).await;
        if view == "keys" {
            b.type_into("#new-key input[name=name]", "phone").await;
            b.click("#new-key button").await;
            visible(&b, "new-key-shown").await;
        }
        let widths = b
            .js("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        assert!(
            widths[0].as_u64() <= widths[1].as_u64() && widths[1].as_u64() <= Some(400),
            "{view}: page {widths}"
        );
    }
    b.click("a.brand").await;
    visible(&b, "view-chat").await;
    b.click("#conversations li a").await;
    wait_for_messages(&b, 2).await;
    b.screenshot("playground-phone-dark.png").await;
    b.quit().await;
}

#[tokio::test]
async fn conversations_page_by_twenty_and_one_is_deleted() {
    let Some((b, server)) = page_on(Server::start, 1280, 860, Scheme::Light).await else {
        return;
    };
    sign_up(&b, "kay@example.com").await;
    let kay = server.as_cookie(b.session_cookie().await);
    for n in 1..=22 {
        kay.create_conversation(&json!({"model": "echo-1", "title": format!("Talk {n}")}))
            .await;
    }
    let titles = "[...document.querySelectorAll('#conversations li a')].map(a => a.textContent)";

    // The newest twenty, then the rest on demand, as the API pages them.
    b.reload().await;
    b.wait_until("document.querySelectorAll('#conversations li').length === 20")
        .await;
    let first: Vec<Value> = kay
        .get("/api/v1/playground/conversations?limit=20")
        .await
        .json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["title"].clone())
        .collect();
    assert_eq!(b.js(&format!("return {titles}")).await, json!(first));
    b.click("#older-conversations").await;
    b.wait_until("document.querySelectorAll('#conversations li').length === 22")
        .await;
    assert_eq!(
        b.js(&format!("return {titles}.slice(20)")).await,
        json!(["Talk 2", "Talk 1"])
    );
    assert_eq!(
        b.js("return document.getElementById('older-conversations').hidden")
            .await,
        json!(true)
    );

    // Delete asks once more, then the conversation is gone for good.
    b.click("#conversations li:last-child a").await;
    b.wait_until("document.getElementById('conversation-title').textContent === 'Talk 1'")
        .await;
    b.click("#delete-conversation").await;
    assert_eq!(
        b.js("return document.querySelectorAll('#conversations li').length")
            .await,
        json!(22),
        "one click only asks"
    );
    b.click("#delete-conversation").await;
    visible(&b, "conversation-empty").await;
    b.wait_until("document.querySelectorAll('#conversations li').length === 21")
        .await;
    let left = kay
        .get("/api/v1/playground/conversations?limit=100")
        .await
        .json();
    assert_eq!(left["items"].as_array().expect("items").len(), 21);
    assert!(
        !left["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|c| c["title"] == "Talk 1")
    );
    b.quit().await;
}

#[tokio::test]
async fn the_pages_event_reader_reassembles_events_split_anywhere() {
    let Some((b, _server)) = page_on(Server::start, 800, 600, Scheme::Light).await else {
        return;
    };
    // Comments, CRLF and LF line ends, an event type the page does not
    // know, an event of two data lines, an error event, and an unfinished
    // event at the end (dropped, as the SSE spec drops it).
    let stream = ": keep-alive\r\n\r\ndata: {\"delta\":\"a\"}\r\n\r\nevent: other\ndata: x\n\n\
                  data: one\ndata: two\n\nevent: error\r\ndata: {\"code\":\"provider_error\"}\r\n\r\n\
                  data: unfinished";
    let expected = json!([
        ["message", "{\"delta\":\"a\"}"],
        ["message", "one\ntwo"],
        ["error", "{\"code\":\"provider_error\"}"],
    ]);

    // The stream in two chunks, cut at every place in turn, then a byte
    // at a time: the same events each time.
    let read = b
        .client
        .execute_async(
            "const [text, done] = arguments;
             import('/assets/api.js').then(async ({ events }) => {
               const bytes = new TextEncoder().encode(text);
               const read = async (chunks) => {
                 const body = new ReadableStream({
                   start(c) { for (const chunk of chunks) c.enqueue(chunk); c.close(); },
                 });
                 const seen = [];
                 for await (const e of events(body)) seen.push([e.event, e.data]);
                 return seen;
               };
               const runs = [];
               for (let cut = 0; cut <= bytes.length; cut++) {
                 runs.push(await read([bytes.slice(0, cut), bytes.slice(cut)]));
               }
               runs.push(await read([...bytes].map((byte) => new Uint8Array([byte]))));
               done(runs);
             }, (err) => done(String(err)));",
            vec![json!(stream)],
        )
        .await
        .expect("the script runs");
    let runs = read.as_array().unwrap_or_else(|| panic!("runs: {read}"));
    assert_eq!(runs.len(), stream.len() + 2);
    for (cut, run) in runs.iter().enumerate() {
        assert_eq!(run, &expected, "cut at {cut}");
    }
    b.quit().await;
}
