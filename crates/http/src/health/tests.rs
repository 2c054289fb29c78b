use std::sync::mpsc;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::{App, test};
use promptyard_services::RepoError;
use serde_json::json;

use crate::test_app::{Response, TestState, in_process, test_state};
use crate::{AppState, REQUEST_ID_HEADER, configure};

/// `method path` on a bare `App` with only the [`configure`]d routes (none
/// of [`crate::app`]'s middleware), as an embedder would mount them.
async fn on_configured_routes(state: AppState, method: Method, path: &str) -> Response {
    let app = test::init_service(App::new().configure(configure(state))).await;
    let request = test::TestRequest::default()
        .method(method)
        .uri(path)
        .to_request();
    let response = test::call_service(&app, request).await;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = test::read_body(response).await.to_vec();
    Response {
        status,
        headers,
        body,
    }
}

#[actix_web::test]
async fn healthz_answers_ok() {
    let t = test_state();
    let api = t.api().await;

    let response = api.anonymous().get("/healthz").await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({"status": "ok"}));
}

#[actix_web::test]
async fn readyz_answers_ready_when_the_database_answers() {
    let t = test_state();
    let api = t.api().await;

    let (status, body) = api.anonymous().get("/readyz").await.parts();

    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ready"}));
}

#[actix_web::test]
async fn readyz_answers_503_when_no_reader_answers_in_time() {
    let t: TestState = test_state();
    let db = t.test_db.db_with(|config| config.with_readers(1));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let holder = actix_web::rt::spawn({
        let db = db.clone();
        async move {
            db.read(move |_| {
                held_tx.send(()).expect("signal");
                release_rx.recv().expect("wait");
                Ok::<_, RepoError>(())
            })
            .await
        }
    });
    actix_web::rt::task::spawn_blocking(move || held_rx.recv())
        .await
        .expect("join")
        .expect("the only reader is held");
    let mut state = t.state.clone();
    state.db = db;
    state.settings.readiness_timeout = Duration::from_millis(50);
    let api = in_process(&state).await;

    let response = api.anonymous().get("/readyz").await;

    release_tx.send(()).expect("release");
    holder.await.expect("join").expect("holder");
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
    let t = test_state();
    let api = t.api().await;
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

    let response = on_configured_routes(t.state.clone(), Method::GET, "/nope").await;

    response.problem(404, "not_found");
}

#[actix_web::test]
async fn a_wrong_method_gets_405_problem_json() {
    let t = test_state();

    let response = on_configured_routes(t.state.clone(), Method::POST, "/healthz").await;

    response.problem(405, "method_not_allowed");
}
