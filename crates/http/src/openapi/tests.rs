use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::document;
use crate::test_app::{Request, test_app};

/// Every endpoint of the contract implemented so far, as `METHOD path`.
const CONTRACT: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /api/v1/openapi.json",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/login",
    "GET /api/v1/auth/me",
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/password",
    "GET /api/v1/auth/sessions",
    "DELETE /api/v1/auth/sessions/{id}",
    "POST /api/v1/api-keys",
    "PATCH /api/v1/api-keys/{id}",
    "GET /api/v1/api-keys",
    "DELETE /api/v1/api-keys/{id}",
    "GET /api/v1/playground/models",
    "POST /api/v1/playground/conversations",
    "GET /api/v1/playground/conversations",
    "GET /api/v1/playground/conversations/{id}",
    "DELETE /api/v1/playground/conversations/{id}",
    "POST /api/v1/playground/conversations/{id}/messages",
    "GET /api/v1/playground/usage",
    "GET /v1/models",
    "POST /v1/chat/completions",
];

/// The document [`document`] builds, as JSON.
fn the_document() -> Value {
    serde_json::from_str(&document().to_json().expect("json")).expect("doc")
}

fn documented(doc: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[actix_web::test]
async fn the_served_document_is_openapi_3_1_and_documents_exactly_the_contract() {
    let (_t, api) = test_app().await;

    let (status, doc) = api.anonymous().get("/api/v1/openapi.json").await.parts();

    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let expected: BTreeSet<String> = CONTRACT.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(documented(&doc), expected);
    assert!(doc["components"]["securitySchemes"]["session_cookie"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let (_t, api) = test_app().await;
    let anyone = api.anonymous();
    let doc = the_document();

    for operation in documented(&doc) {
        let (method, path) = operation.split_once(' ').expect("METHOD path");
        let uri = path.replace("{id}", "some-id");
        let (status, body) = anyone.send(Request::new(method, &uri)).await.parts();
        let unrouted = body["detail"] == "no such route" || body["code"] == "method_not_allowed";
        assert!(
            !unrouted,
            "{operation} is documented but not routed ({status})"
        );
    }
}

#[actix_web::test]
async fn every_documented_error_answer_is_problem_json_outside_the_openai_gateway() {
    let doc = the_document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if path.starts_with("/v1/") {
            continue;
        }
        for (method, operation) in item.as_object().expect("item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn other_methods_on_a_documented_path_are_405_and_other_paths_404() {
    let (_t, api) = test_app().await;
    let anyone = api.anonymous();
    let doc = the_document();

    for (path, item) in doc["paths"].as_object().expect("paths") {
        let uri = path.replace("{id}", "some-id");
        let item = item.as_object().expect("item");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if item.contains_key(&method.to_lowercase()) {
                continue;
            }
            let (status, body) = anyone.send(Request::new(method, &uri)).await.parts();
            assert_eq!(status, 405, "{method} {path}");
            let code = if path.starts_with("/v1/") {
                &body["error"]["code"]
            } else {
                &body["code"]
            };
            assert_eq!(code, "method_not_allowed", "{method} {path}: {body}");
        }
    }
    for (uri, code) in [
        ("/api/v1/nowhere", "not_found"),
        ("/api/v1/auth/me/extra", "not_found"),
        ("/elsewhere", "not_found"),
    ] {
        let (status, body) = anyone.get(uri).await.parts();
        assert_eq!((status, &body["code"]), (404, &json!(code)), "{uri}");
    }
    let (status, body) = anyone.get("/v1/nowhere").await.parts();
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "unknown_url");
}

/// Every `$ref` string anywhere under `value`.
fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                match (name.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn every_schema_reference_resolves_and_the_key_object_documents_its_limits() {
    let doc = the_document();
    let mut found = BTreeSet::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in &found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a schema reference: {target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} is not among the components"
        );
    }
    let key = &doc["components"]["schemas"]["ApiKeyInfo"]["properties"];
    assert!(
        key.get("limits").is_some() && key.get("budget_used").is_some(),
        "{key}"
    );
    let limits = &doc["components"]["schemas"]["KeyLimits"]["properties"];
    let names: BTreeSet<&str> = limits
        .as_object()
        .expect("KeyLimits properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "budget_period",
            "models",
            "requests_per_minute",
            "token_budget",
            "tokens_per_minute"
        ])
    );
    let patch = &doc["paths"]["/api/v1/api-keys/{id}"]["patch"]["responses"];
    for status in ["200", "404", "422"] {
        assert!(patch.get(status).is_some(), "PATCH documents {status}");
    }
    let completions = &doc["paths"]["/v1/chat/completions"]["post"]["responses"];
    assert!(
        completions.get("429").is_some(),
        "the gateway documents 429"
    );
}
