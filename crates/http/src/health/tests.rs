use std::sync::mpsc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, test};
use promptyard_services::RepoError;

use crate::test_app::{TestState, test_state};
use crate::{AppState, configure};

async fn call(
    state: AppState,
    method: Method,
    path: &str,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let app = test::init_service(App::new().configure(configure(state))).await;
    let response = test::call_service(
        &app,
        test::TestRequest::default()
            .method(method)
            .uri(path)
            .to_request(),
    )
    .await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = test::read_body(response).await;
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, content_type, json)
}

#[actix_web::test]
async fn healthz_answers_ok() {
    let t = test_state();
    let (status, content_type, body) = call(t.state.clone(), Method::GET, "/healthz").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[actix_web::test]
async fn readyz_answers_ready_when_the_database_answers() {
    let t = test_state();
    let (status, _, body) = call(t.state.clone(), Method::GET, "/readyz").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "ready"}));
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

    let (status, content_type, body) = call(state, Method::GET, "/readyz").await;

    release_tx.send(()).expect("release");
    holder.await.expect("join").expect("holder");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "unavailable");
    assert_eq!(body["status"], 503);
}

#[actix_web::test]
async fn a_database_error_makes_readiness_503() {
    let err = RepoError::unavailable(promptyard_services::Unavailable::Storage, "disk I/O error");

    let response = super::readiness(Ok(Err(err)));

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
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
    let app = crate::test_app::init(&t.state).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
        let id = response
            .headers()
            .get(crate::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
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
    let (status, content_type, body) = call(t.state.clone(), Method::GET, "/nope").await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["type"], "about:blank");
}

#[actix_web::test]
async fn a_wrong_method_gets_405_problem_json() {
    let t = test_state();
    let (status, content_type, body) = call(t.state.clone(), Method::POST, "/healthz").await;

    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "method_not_allowed");
}
