//! Bursts over a real socket: a login storm against a small password
//! hasher is answered 401 or 503 (never anything else, never a wait
//! beyond the hasher's bound), simultaneous wrong logins for one email
//! are checked no more often than the limit allows, and a burst of
//! message posts to one conversation stores every exchange whole.

use std::time::Duration;

use promptyard_services::PasswordHasher;
use promptyard_services::password::{HasherConfig, MEMORY_PER_WORKER};
use promptyard_tests::{PASSWORD, TestApp, TestServer, sign_up};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

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
    let server = TestServer::serve(app);
    let client = reqwest::Client::new();
    sign_up(&client, &server, "ada@example.com").await;

    // Forty addresses, one attempt each: no email reaches the login limit,
    // every attempt needs the hasher.
    let mut storm = JoinSet::new();
    for n in 0..40 {
        let (client, url) = (client.clone(), server.url("/api/v1/auth/login"));
        storm.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"email": format!("nobody{n}@example.com"), "password": PASSWORD}))
                .send()
                .await
                .expect("an answer");
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = response.status();
            let body: Value = response.json().await.expect("a JSON body");
            (status, retry_after, body)
        });
    }
    let answers = storm.join_all().await;

    let checked = answers
        .iter()
        .filter(|(s, ..)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, ..)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
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
    let after = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(after.status(), StatusCode::OK, "the storm has passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_posts_to_one_conversation_stores_every_exchange_whole() {
    let server = TestServer::start();
    let client = reqwest::Client::new();
    let cookie = sign_up(&client, &server, "ada@example.com").await;
    let created: Value = client
        .post(server.url("/api/v1/playground/conversations"))
        .header("cookie", &cookie)
        .json(&json!({"model": "echo-1"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("conversation");
    let path = format!(
        "/api/v1/playground/conversations/{}",
        created["id"].as_str().expect("id")
    );

    let mut burst = JoinSet::new();
    for n in 0..64 {
        let (client, url, cookie) = (
            client.clone(),
            server.url(&format!("{path}/messages")),
            cookie.clone(),
        );
        burst.spawn(async move {
            client
                .post(url)
                .header("cookie", cookie)
                .json(&json!({"content": format!("message {n}")}))
                .send()
                .await
                .expect("an answer")
                .status()
        });
    }
    let statuses = burst.join_all().await;

    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let stored: Value = client
        .get(server.url(&path))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("conversation");
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
    let server = TestServer::start();
    let client = reqwest::Client::new();
    sign_up(&client, &server, "ada@example.com").await;

    let mut attempts = JoinSet::new();
    for _ in 0..30 {
        let (client, url) = (client.clone(), server.url("/api/v1/auth/login"));
        attempts.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
                .send()
                .await
                .expect("an answer");
            let retry_after = response.headers().contains_key("retry-after");
            let status = response.status();
            let body: Value = response.json().await.expect("a JSON body");
            (
                status,
                retry_after,
                body["code"].as_str().map(str::to_owned),
            )
        });
    }
    let answers = attempts.join_all().await;

    let count = |status: StatusCode, code: &str, retry_after: bool| {
        answers
            .iter()
            .filter(|(s, r, c)| *s == status && *r == retry_after && c.as_deref() == Some(code))
            .count()
    };
    assert_eq!(
        count(StatusCode::UNAUTHORIZED, "invalid_credentials", false),
        10,
        "{answers:?}"
    );
    assert_eq!(
        count(StatusCode::TOO_MANY_REQUESTS, "rate_limited", true),
        20,
        "{answers:?}"
    );
}
