//! Bursts over a real socket: a login storm against a small password
//! hasher is answered 401 or 503 (never anything else, never a wait
//! beyond the hasher's bound), simultaneous wrong logins for one email
//! are checked no more often than the limit allows, and a burst of
//! message posts to one conversation stores every exchange whole.

use std::sync::Arc;
use std::time::Duration;

use promptyard_services::PasswordHasher;
use promptyard_services::password::{HasherConfig, MEMORY_PER_WORKER};
use promptyard_tests::{
    Actor, Credential, PASSWORD, Request, Response, TestApp, TestServer, credentials,
};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// Sends every request at once, each from its own task, with `credential`;
/// the answers, in the order they came.
async fn at_once(
    server: &Arc<TestServer>,
    credential: &Credential,
    requests: impl IntoIterator<Item = Request>,
) -> Vec<Response> {
    let mut tasks = JoinSet::new();
    for request in requests {
        let (server, credential) = (Arc::clone(server), credential.clone());
        tasks.spawn(async move { Actor::with(&*server, credential).send(request).await });
    }
    tasks.join_all().await
}

/// `POST /api/v1/auth/login` with `email` and `password`.
fn login(email: &str, password: &str) -> Request {
    Request::new("POST", "/api/v1/auth/login").json(&credentials(email, password))
}

/// An answer's status, its `Retry-After` and its body.
///
/// # Panics
/// If the body is not JSON.
fn status_retry_after_body(response: &Response) -> (u16, Option<String>, Value) {
    let body = response.json();
    assert!(!body.is_null(), "a JSON body: {}", response.text());
    (
        response.status,
        response.header("retry-after").map(str::to_owned),
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_on_a_small_hasher_gets_401_or_503_with_retry_after() {
    let hasher = PasswordHasher::with_config(HasherConfig {
        workers: 1,
        queue: 4,
        max_wait: Duration::from_millis(300),
    })
    .expect("hasher");
    let mut app = TestApp::new();
    app.state = app.state.with_hasher(hasher.clone());
    let server = Arc::new(TestServer::serve(app));
    server.anonymous().sign_up("ada@example.com").await;

    // Forty addresses, one attempt each: no email reaches the login limit,
    // every attempt needs the hasher.
    let storm = (0..40).map(|n| login(&format!("nobody{n}@example.com"), PASSWORD));
    let answers: Vec<_> = at_once(&server, &Credential::Anonymous, storm)
        .await
        .iter()
        .map(status_retry_after_body)
        .collect();

    let checked = answers.iter().filter(|(s, ..)| *s == 401).count();
    let busy: Vec<_> = answers.iter().filter(|(s, ..)| *s == 503).collect();
    assert_eq!(checked + busy.len(), 40, "only 401 and 503: {answers:?}");
    assert!(checked >= 1, "some were checked");
    assert!(!busy.is_empty(), "a queue of 4 cannot hold 40");
    for (_, retry_after, body) in busy {
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body["code"], "unavailable");
    }
    assert!(
        hasher.memory_in_use() <= MEMORY_PER_WORKER,
        "one worker, one block"
    );
    let after = server.anonymous().login("ada@example.com", PASSWORD).await;
    assert_eq!(after.status, 200, "the storm has passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_posts_to_one_conversation_stores_every_exchange_whole() {
    let server = Arc::new(TestServer::start());
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let created = ada.start_conversation("echo-1").await;
    let path = format!(
        "/api/v1/playground/conversations/{}",
        created["id"].as_str().expect("id")
    );

    let burst = (0..64).map(|n| {
        Request::new("POST", &format!("{path}/messages"))
            .json(&json!({"content": format!("message {n}")}))
    });
    let statuses: Vec<u16> = at_once(&server, &ada.credential, burst)
        .await
        .iter()
        .map(|r| r.status)
        .collect();

    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let stored = ada.get(&path).await.json();
    let messages = stored["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 128);
    let said = |role: &str| {
        let mut contents: Vec<&str> = messages
            .iter()
            .filter(|m| m["role"] == role)
            .map(|m| m["content"].as_str().expect("content"))
            .collect();
        contents.sort_unstable();
        contents
    };
    let (asked, answered) = (said("user"), said("assistant"));
    assert_eq!(asked.len(), 64);
    assert_eq!(
        asked, answered,
        "every question with its answer (echo-1 repeats it)"
    );
    let mut distinct = asked.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 64, "every message once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_thirty_simultaneous_wrong_logins_ten_are_checked_and_twenty_limited() {
    let server = Arc::new(TestServer::start());
    server.anonymous().sign_up("ada@example.com").await;

    let attempts = (0..30).map(|_| login("ada@example.com", "wrong password"));
    let answers: Vec<_> = at_once(&server, &Credential::Anonymous, attempts)
        .await
        .iter()
        .map(|response| {
            let (status, retry_after, body) = status_retry_after_body(response);
            (
                status,
                retry_after.is_some(),
                body["code"].as_str().map(str::to_owned),
            )
        })
        .collect();

    let count = |status: u16, code: &str, retry_after: bool| {
        answers
            .iter()
            .filter(|(s, r, c)| *s == status && *r == retry_after && c.as_deref() == Some(code))
            .count()
    };
    assert_eq!(count(401, "invalid_credentials", false), 10, "{answers:?}");
    assert_eq!(count(429, "rate_limited", true), 20, "{answers:?}");
}
