use std::time::Duration;

use actix_web::{App, test};
use promptyard_services::RepoError;
use serde_json::json;

use crate::test_app::{
    InProcess, Request, Response, hold_a_reader, in_process, test_app, test_state,
};
use crate::{AppState, REQUEST_ID_HEADER, configure};

/// `method path` on a bare `App` with only the [`configure`]d routes (none
/// of [`crate::app`]'s middleware), as an embedder would mount them.
async fn on_configured_routes(state: AppState, method: &str, path: &str) -> Response {
    let app = test::init_service(App::new().configure(configure(state))).await;
    let api = InProcess::new(app);
    api.anonymous().send(Request::new(method, path)).await
}

#[actix_web::test]
async fn healthz_answers_ok() {
    let (_t, api) = test_app().await;

    let response = api.anonymous().get("/healthz").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({"status": "ok"}));
}

#[actix_web::test]
async fn readyz_answers_ready_when_the_database_answers() {
    let (_t, api) = test_app().await;

    let (status, body) = api.anonymous().get("/readyz").await.parts();

    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ready"}));
}

#[actix_web::test]
async fn readyz_answers_503_when_no_reader_answers_in_time() {
    let t = test_state();
    let db = t.test_db.db_with(|config| config.with_readers(1));
    let held = hold_a_reader(&db).await;
    let mut state = t.state.clone();
    state.db = db;
    state.settings.readiness_timeout = Duration::from_millis(50);
    let api = in_process(&state).await;

    let response = api.anonymous().get("/readyz").await;

    held.release().await;
    response.problem(503, "unavailable");
}

#[actix_web::test]
async fn a_database_error_makes_readiness_503() {
    let err = RepoError::unavailable(promptyard_services::Unavailable::Storage, "disk I/O error");

    let response = super::readiness(Ok(Err(err)));

    assert_eq!(response.status(), 503);
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .expect("body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["code"], "unavailable");
    assert!(
        !json.to_string().contains("disk I/O"),
        "no internals leak: {json}"
    );
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let (_t, api) = test_app().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = api.anonymous().get("/healthz").await;
        let id = response
            .header(REQUEST_ID_HEADER)
            .expect("x-request-id")
            .to_owned();
        assert!(uuid_like(&id), "{id}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[actix_web::test]
async fn unknown_routes_get_404_problem_json() {
    let t = test_state();

    let response = on_configured_routes(t.state.clone(), "GET", "/nope").await;

    response.problem(404, "not_found");
}

#[actix_web::test]
async fn a_wrong_method_gets_405_problem_json() {
    let t = test_state();

    let response = on_configured_routes(t.state.clone(), "POST", "/healthz").await;

    response.problem(405, "method_not_allowed");
}
