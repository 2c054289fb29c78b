//! `GET /healthz` (the process runs) and `GET /readyz` (the database
//! answers).

use std::time::Duration;

use actix_web::get;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use promptyard_services::RepoError;
use serde_json::json;

use crate::AppState;
use crate::problem::Problem;

/// 200 `{"status": "ok"}` while the process runs. Touches nothing else.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process runs: `{\"status\": \"ok\"}`.")),
)]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 `{"status": "ready"}` when a reader answers a query that touches the
/// database file within the readiness timeout; 503 `unavailable` otherwise.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answers: `{\"status\": \"ready\"}`."),
        (status = 503, description = "`unavailable`: the database does not answer.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let timeout = state.settings.readiness_timeout;
    let outcome = tokio::time::timeout(timeout, state.db.ping()).await;
    readiness(outcome.map_err(|_| timeout))
}

/// The answer for a ping's outcome: `Err(timeout)` if it did not finish.
fn readiness(outcome: Result<Result<(), RepoError>, Duration>) -> HttpResponse {
    match outcome {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            unavailable()
        }
        Err(timeout) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "readiness check timed out"
            );
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the database is not answering; retry later",
    )
    .response()
}

#[cfg(test)]
mod tests;
