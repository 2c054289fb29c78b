//! The operations endpoints through the whole app: the process is healthy,
//! the database is ready, and problems come back as problem+json.

use actix_web::http::StatusCode;
use actix_web::{App, test};
use promptyard_http::configure;
use promptyard_tests::TestApp;

#[actix_web::test]
async fn a_fresh_app_is_healthy_and_ready() {
    let app = TestApp::new();
    let service = test::init_service(App::new().configure(configure(app.state()))).await;

    let health = test::call_service(
        &service,
        test::TestRequest::get().uri("/healthz").to_request(),
    )
    .await;
    let ready = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;

    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = test::read_body_json(ready).await;
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn unknown_paths_and_methods_are_problem_json_not_empty_bodies() {
    let app = TestApp::new();
    let service = test::init_service(App::new().configure(configure(app.state()))).await;

    for (request, status, code) in [
        (
            test::TestRequest::get().uri("/api/v1/nope"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            test::TestRequest::delete().uri("/readyz"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let response = test::call_service(&service, request.to_request()).await;
        assert_eq!(response.status(), status);
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["code"], code);
        assert_eq!(body["status"], status.as_u16());
    }
}
