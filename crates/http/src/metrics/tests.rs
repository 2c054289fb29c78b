use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use promptyard_services::providers::{LLM_REQUESTS, LLM_TOKENS};
use serde_json::json;

use super::{DB_QUEUED, HASHER_QUEUED, HTTP_DURATION, HTTP_REQUESTS, UNMATCHED};
use crate::test_app::{Request, Transport, test_app, test_app_with_fake_provider};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

/// `/metrics` as the page's text and as parsed Prometheus text.
async fn scrape<T: Transport>(api: &T) -> (String, Exposition) {
    let response = api.send(Request::new("GET", "/metrics")).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.header("content-type")
    );
    let text = response.text();
    let parsed = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    (text, parsed)
}

/// The values of family `name`'s samples whose labels include `labels`.
fn values<'e>(
    exposition: &'e Exposition,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'e PrometheusValue> {
    exposition
        .families
        .get(name)
        .map_or_else(Vec::new, |family| {
            family
                .iter_samples()
                .filter(|sample| {
                    let set = sample.get_labelset().expect("labels");
                    labels
                        .iter()
                        .all(|(k, v)| set.get_label_value(k) == Some(*v))
                })
                .map(|sample| &sample.value)
                .collect()
        })
}

/// The sum of the counter or gauge `name` over the samples with these
/// labels (0 if none).
fn value(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    values(exposition, name, labels)
        .into_iter()
        .map(|value| match value {
            PrometheusValue::Counter(counter) => counter.value.as_f64(),
            PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
            other => panic!("{name} is not a counter or gauge: {other:?}"),
        })
        .sum()
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_and_nothing_personal_shows() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada.metrics@example.com").await;
    let conversation = ada.start_conversation("echo-1").await;
    let id = conversation["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/playground/conversations/{id}");
    let sent = ada
        .post(
            &format!("{path}/messages"),
            &json!({"content": "three little words"}),
        )
        .await;
    assert_eq!(sent.status, 201);
    assert_eq!(ada.get(&path).await.status, 200);
    for _ in 0..3 {
        assert_eq!(api.anonymous().get("/healthz").await.status, 200);
    }
    let stranger = "/no/such/path/4242-secret-looking-id";
    assert_eq!(api.anonymous().get(stranger).await.status, 404);
    let odd = api.send(Request::new("FROBNICATE", "/healthz")).await;

    let (text, samples) = scrape(&api).await;

    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert!(value(&samples, HTTP_REQUESTS, &healthz) >= 3.0, "{text}");
    let read = [
        ("method", "GET"),
        ("route", "/api/v1/playground/conversations/{id}"),
        ("status", "200"),
    ];
    assert!(value(&samples, HTTP_REQUESTS, &read) >= 1.0, "{text}");
    let unmatched = [("route", UNMATCHED), ("status", "404")];
    assert!(value(&samples, HTTP_REQUESTS, &unmatched) >= 1.0, "{text}");
    let odd_status = odd.status.to_string();
    let other = [("method", "OTHER"), ("status", odd_status.as_str())];
    assert!(value(&samples, HTTP_REQUESTS, &other) >= 1.0, "{text}");
    let latency = values(
        &samples,
        HTTP_DURATION,
        &[("method", "GET"), ("route", "/healthz")],
    );
    match latency.as_slice() {
        [PrometheusValue::Histogram(histogram)] => {
            assert!(histogram.count.is_some_and(|n| n >= 3), "{histogram:?}");
            assert!(!histogram.buckets.is_empty(), "{histogram:?}");
        }
        other => panic!("one latency histogram for /healthz: {other:?}"),
    }

    let echo_ok = [("model", "echo-1"), ("outcome", "ok")];
    assert!(value(&samples, LLM_REQUESTS, &echo_ok) >= 1.0, "{text}");
    for kind in ["prompt", "completion"] {
        let tokens = [("model", "echo-1"), ("kind", kind)];
        assert!(
            value(&samples, LLM_TOKENS, &tokens) >= 1.0,
            "{kind}: {text}"
        );
    }
    for queue in ["read", "write"] {
        let gauge = values(&samples, DB_QUEUED, &[("queue", queue)]);
        assert!(
            matches!(gauge.as_slice(), [PrometheusValue::Gauge(_)]),
            "{queue}: {text}"
        );
    }
    let hasher = values(&samples, HASHER_QUEUED, &[]);
    assert!(
        matches!(hasher.as_slice(), [PrometheusValue::Gauge(_)]),
        "{text}"
    );

    for secret in [
        id.as_str(),
        "4242-secret-looking-id",
        "/no/such",
        "ada.metrics",
        ada.cookie(),
    ] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
    assert!(
        !text.contains("FROBNICATE"),
        "a made-up method is not a label"
    );
}

#[actix_web::test]
async fn a_provider_failure_is_counted_as_an_error_without_tokens() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let ada = api.anonymous().sign_up("ada.fails@example.com").await;
    let conversation = ada.start_conversation("fake-1").await;
    let id = conversation["id"].as_str().expect("id");
    fake.push(promptyard_test_support::fake_openai::Reply::Status(
        500,
        "{}".into(),
    ));
    let (_, before) = scrape(&api).await;

    let sent = ada
        .post(
            &format!("/api/v1/playground/conversations/{id}/messages"),
            &json!({"content": "x"}),
        )
        .await;

    assert_eq!(sent.status, 502);
    let (text, after) = scrape(&api).await;
    let errors = [("model", "fake-1"), ("outcome", "error")];
    assert_eq!(
        value(&after, LLM_REQUESTS, &errors) - value(&before, LLM_REQUESTS, &errors),
        1.0,
        "{text}"
    );
    let tokens = [("model", "fake-1")];
    assert_eq!(value(&after, LLM_TOKENS, &tokens), 0.0, "{text}");
}
