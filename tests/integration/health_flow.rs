//! The operations endpoints through the whole app: the process is healthy,
//! the database is ready, and problems come back as problem+json.

use promptyard_tests::TestServer;

#[tokio::test]
async fn a_fresh_app_is_healthy_and_ready() {
    let server = TestServer::start();
    let client = reqwest::Client::new();

    let health = client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    let ready = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");

    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problem_json_not_empty_bodies() {
    let server = TestServer::start();
    let client = reqwest::Client::new();

    for (request, status, code) in [
        (client.get(server.url("/api/v1/nope")), 404, "not_found"),
        (client.get(server.url("/nope")), 404, "not_found"),
        (
            client.delete(server.url("/readyz")),
            405,
            "method_not_allowed",
        ),
        (
            client.get(server.url("/api/v1/auth/login")),
            405,
            "method_not_allowed",
        ),
    ] {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["code"], code);
        assert_eq!(body["status"], status);
    }
}
