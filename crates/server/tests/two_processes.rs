//! Two `promptyard serve` processes on one database behave as one server:
//! a session made through one works on the other, logout through one ends
//! it on both, a revoked key stops on both, and the login limit counts the
//! attempts made on both together, a burst of them included.
//!
//! On PostgreSQL when `PROMPTYARD_TEST_POSTGRES_URL` is set (the point of
//! the PostgreSQL backend); on two processes sharing one SQLite file
//! otherwise.

use std::path::Path;

use promptyard_test_support::TestDb;
use promptyard_test_support::api::{PASSWORD, credentials};
use promptyard_test_support::process::{ServerProcess, http_request};

const BIN: &str = env!("CARGO_BIN_EXE_promptyard");
const ME: &str = "/api/v1/auth/me";
const LOGIN: &str = "/api/v1/auth/login";

/// Two servers on `test_db`, sharing one cookie key, with at most
/// `max_failures` failed logins per email.
fn two_servers(test_db: &TestDb, max_failures: u32) -> [ServerProcess; 2] {
    let key = "k".repeat(64);
    let max_failures = max_failures.to_string();
    let envs = [
        ("PROMPTYARD_BIND", "127.0.0.1:0"),
        ("PROMPTYARD_DATABASE_URL", test_db.url()),
        ("PROMPTYARD_SECRET_KEY", key.as_str()),
        ("PROMPTYARD_LOGIN_MAX_FAILURES", max_failures.as_str()),
    ];
    // The first applies the migrations before the second starts.
    let first = ServerProcess::start(Path::new(BIN), test_db.dir(), &[], &envs);
    let second = ServerProcess::start(Path::new(BIN), test_db.dir(), &[], &envs);
    [first, second]
}

#[tokio::test]
async fn a_session_made_on_one_works_on_the_other_and_logout_on_either_ends_it() {
    let test_db = TestDb::new();
    let [a, b] = two_servers(&test_db, 10);
    let ada_on_a = a.anonymous().sign_up("ada@example.com").await;
    let ada_on_b = b.anonymous().as_(ada_on_a.credential.clone());

    assert_eq!(ada_on_b.get(ME).await.status, 200, "b knows a's session");
    assert_eq!(ada_on_b.logout().await.status, 200, "logout through b");

    assert_eq!(ada_on_a.get(ME).await.status, 401, "a forgot it too");
    assert_eq!(ada_on_b.get(ME).await.status, 401);
}

#[tokio::test]
async fn a_key_revoked_through_one_stops_on_both() {
    let test_db = TestDb::new();
    let [a, b] = two_servers(&test_db, 10);
    let ada = a.anonymous().sign_up("ada@example.com").await;
    let (key_on_a, created) = ada.mint_key("script").await;
    let key_on_b = b.anonymous().as_(key_on_a.credential.clone());
    assert_eq!(key_on_b.get(ME).await.status, 200, "b accepts a's key");

    let id = created["id"].as_str().expect("id");
    let ada_on_b = b.anonymous().as_(ada.credential.clone());
    assert_eq!(
        ada_on_b
            .delete(&format!("/api/v1/api-keys/{id}"))
            .await
            .status,
        204,
        "revoked through b"
    );

    assert_eq!(key_on_a.get(ME).await.status, 401);
    assert_eq!(key_on_b.get(ME).await.status, 401);
}

#[tokio::test]
async fn the_login_limit_counts_attempts_on_both_together() {
    let test_db = TestDb::new();
    let [a, b] = two_servers(&test_db, 4);
    drop(a.anonymous().sign_up("ada@example.com").await);
    let wrong = credentials("ada@example.com", "not the password");

    // Alternating: the fifth failure overall is refused, on either server.
    for (n, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let status = server.anonymous().post(LOGIN, &wrong).await.status;
        assert_eq!(status, 401, "failure {} of 4", n + 1);
    }
    for server in [&a, &b] {
        assert_eq!(server.anonymous().post(LOGIN, &wrong).await.status, 429);
        assert_eq!(
            server
                .anonymous()
                .post(LOGIN, &credentials("ada@example.com", PASSWORD))
                .await
                .status,
            429,
            "even the right password waits out the window"
        );
    }
}

#[test]
fn a_burst_of_failed_logins_on_both_never_gets_more_than_the_limit_checked() {
    let test_db = TestDb::new();
    let [a, b] = two_servers(&test_db, 4);
    let registered = http_request(
        a.addr(),
        "POST",
        "/api/v1/auth/register",
        &[("content-type", "application/json")],
        Some(
            credentials("grace@example.com", PASSWORD)
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(registered.status, 201);
    let wrong = credentials("grace@example.com", "not the password").to_string();

    // 16 simultaneous wrong attempts, half on each server.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let attempts: Vec<_> = (0..16)
            .map(|n| {
                let addr = if n % 2 == 0 { a.addr() } else { b.addr() };
                let body = wrong.as_bytes();
                scope.spawn(move || {
                    http_request(
                        addr,
                        "POST",
                        LOGIN,
                        &[("content-type", "application/json")],
                        Some(body),
                    )
                    .status
                })
            })
            .collect();
        attempts
            .into_iter()
            .map(|t| t.join().expect("attempt"))
            .collect()
    });

    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (4, 12), "{statuses:?}");
}

/// `/v1/chat/completions` to `echo-1` with one word and `max_tokens` 10:
/// it reserves 15 tokens (1 word, 4 per message, 10) and uses 2.
const ONE_WORD: &str =
    r#"{"model": "echo-1", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}"#;

/// Sends `n` completions at once with `key`, alternating between the two
/// servers; their statuses.
fn burst(servers: &[ServerProcess; 2], key: &str, n: usize) -> Vec<u16> {
    let bearer = format!("Bearer {key}");
    std::thread::scope(|scope| {
        let requests: Vec<_> = (0..n)
            .map(|i| {
                let (addr, bearer) = (servers[i % 2].addr(), bearer.as_str());
                scope.spawn(move || {
                    http_request(
                        addr,
                        "POST",
                        "/v1/chat/completions",
                        &[
                            ("content-type", "application/json"),
                            ("authorization", bearer),
                        ],
                        Some(ONE_WORD.as_bytes()),
                    )
                    .status
                })
            })
            .collect();
        requests
            .into_iter()
            .map(|r| r.join().expect("request"))
            .collect()
    })
}

/// Waits, if needed, until the UTC minute has at least 3 seconds left
/// (the burst takes well under one), so that it falls inside one
/// per-minute window.
fn well_inside_a_minute() {
    let second = chrono::Utc::now().timestamp() % 60;
    if second >= 57 {
        std::thread::sleep(std::time::Duration::from_secs(
            u64::try_from(61 - second).unwrap_or(4),
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_both_never_overshoots_a_keys_requests_per_minute() {
    let test_db = TestDb::new();
    let servers = two_servers(&test_db, 10);
    let ada = servers[0].anonymous().sign_up("ada@example.com").await;
    let (key, _) = ada
        .mint_key_with(&serde_json::json!({"name": "script", "limits": {"requests_per_minute": 6}}))
        .await;
    let key = key.key().to_owned();

    well_inside_a_minute();
    // The servers are other processes: blocking this test's thread is fine.
    let statuses = burst(&servers, &key, 24);

    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((admitted, refused), (6, 18), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_both_never_overshoots_a_keys_token_budget() {
    let test_db = TestDb::new();
    let servers = two_servers(&test_db, 10);
    let ada = servers[0].anonymous().sign_up("ada@example.com").await;
    let limits = serde_json::json!({"token_budget": 40, "budget_period": "month"});
    let (key, created) = ada
        .mint_key_with(&serde_json::json!({"name": "script", "limits": limits}))
        .await;
    let key = key.key().to_owned();

    let statuses = burst(&servers, &key, 40);

    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + refused, 40, "{statuses:?}");
    assert!(
        refused > 0,
        "40 requests of 15 reserved tokens cannot all fit in 40"
    );
    let keys = servers[1]
        .anonymous()
        .as_(ada.credential.clone())
        .get("/api/v1/api-keys")
        .await
        .expect_json(200);
    let used = keys[0]["budget_used"].as_u64().expect("budget_used");
    assert_eq!(keys[0]["id"], created["id"]);
    assert_eq!(used, 2 * admitted as u64, "each admitted request used 2");
    assert!(used <= 40, "never over the budget: {used}");
}
