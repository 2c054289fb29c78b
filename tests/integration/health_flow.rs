//! The operations endpoints through the whole app: the process is healthy,
//! the database is ready, and problems come back as problem+json.

use promptyard_tests::{Request, TestServer};

#[tokio::test]
async fn a_fresh_app_is_healthy_and_ready() {
    let server = TestServer::start();
    let anyone = server.anonymous();

    let health = anyone.get("/healthz").await;
    let (ready, body) = anyone.get("/readyz").await.parts();

    assert_eq!(health.status, 200);
    assert!(health.header("x-request-id").is_some());
    assert_eq!(ready, 200);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problem_json_not_empty_bodies() {
    let server = TestServer::start();
    let anyone = server.anonymous();

    for (request, status, code) in [
        (Request::new("GET", "/api/v1/nope"), 404, "not_found"),
        (Request::new("GET", "/nope"), 404, "not_found"),
        (Request::new("DELETE", "/readyz"), 405, "method_not_allowed"),
        (
            Request::new("GET", "/api/v1/auth/login"),
            405,
            "method_not_allowed",
        ),
    ] {
        // The status, `application/problem+json`, the code, and the
        // status again in the body.
        anyone.send(request).await.problem(status, code);
    }
}
