//! `GET /metrics` (Prometheus text format) and the middleware that counts
//! every request.
//!
//! Labels are bounded and say nothing personal: the HTTP method (one of the
//! standard ones, else `OTHER`), the route's pattern as the route table
//! declares it (`/api/v1/playground/conversations/{id}`, never the raw
//! path; every unmatched path shares `unmatched`) and the status. The LLM
//! series come from the services ([`promptyard_services::providers::Metered`]);
//! the queue gauges are read when the page is scraped.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Requests by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "promptyard_http_requests_total";
/// Time to the response's head, seconds, by `method` and `route`.
pub const HTTP_DURATION: &str = "promptyard_http_request_duration_seconds";
/// Calls waiting for a database connection, by `queue` (`read`, `write`).
pub const DB_QUEUED: &str = "promptyard_db_queued";
/// Sign-ins waiting for a password hashing worker.
pub const HASHER_QUEUED: &str = "promptyard_password_hasher_queued";
/// The `route` of every path the route table does not know.
pub const UNMATCHED: &str = "unmatched";

const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder folds the latency samples it collected into its
/// histograms. Between two upkeeps (or scrapes) it keeps every sample, so
/// without this a process nobody scrapes would grow by every request.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// The process's Prometheus recorder, installed on first use: the `metrics`
/// facade has one global recorder, which every [`AppState`] of a process
/// shares. A thread of its own runs its upkeep every second.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &BUCKETS)
                .expect("static, non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder was installed first: /metrics stays empty"
                );
            }
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(%err, "cannot start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}

/// A method as a label: the standard ones by name, any other `OTHER` (a
/// client could otherwise make up a series per request).
fn method_label(method: &Method) -> &'static str {
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

/// Counts the request and times it to its response's head.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (
            res.request()
                .match_pattern()
                .unwrap_or_else(|| UNMATCHED.to_owned()),
            res.status(),
        ),
        Err(err) => (UNMATCHED.to_owned(), err.as_response_error().status_code()),
    };
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.as_str().to_owned())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    result
}

/// The Prometheus text page: HTTP requests and their latency, LLM calls
/// and tokens, the database's and the password hasher's queues.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format (version 0.0.4).", content_type = "text/plain")),
)]
#[get("/metrics")]
pub(crate) async fn metrics_page(state: web::Data<AppState>) -> HttpResponse {
    let queued = state.db.queued();
    metrics::gauge!(DB_QUEUED, "queue" => "read").set(queued.reads as f64);
    metrics::gauge!(DB_QUEUED, "queue" => "write").set(queued.writes as f64);
    metrics::gauge!(HASHER_QUEUED).set(state.auth.hashes_queued() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

#[cfg(test)]
mod tests;
