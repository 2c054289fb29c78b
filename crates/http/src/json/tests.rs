use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};

use super::*;

#[derive(Debug)]
struct Sample {
    name: String,
    count: Option<i64>,
    ratio: Option<f64>,
    flag: Option<bool>,
    note: Option<String>,
}

impl FromJsonObject for Sample {
    const LIMIT: usize = 1024;

    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required_str("name");
        let count = fields.optional_number_with("count", whole_1_to_10);
        let ratio = fields.optional_number_with("ratio", ratio);
        let flag = fields.optional_bool("flag");
        let note = fields.optional_str_with("note", lowercase);
        Some(Self {
            name: name?.to_owned(),
            count: count?,
            ratio: ratio?,
            flag: flag?,
            note: note?,
        })
    }
}

/// A sample rule with a message, as the services' parsers word theirs.
fn whole_1_to_10(n: f64) -> Result<i64, String> {
    if n.fract() == 0.0 && (1.0..=10.0).contains(&n) {
        #[allow(clippy::cast_possible_truncation)]
        Ok(n as i64)
    } else {
        Err("must be a whole number from 1 to 10".to_owned())
    }
}

fn ratio(r: f64) -> Result<f64, String> {
    if (0.0..=2.0).contains(&r) {
        Ok(r)
    } else {
        Err("must be from 0 to 2".to_owned())
    }
}

fn lowercase(text: &str) -> Result<String, String> {
    if text.chars().any(char::is_uppercase) {
        Err("must be lowercase".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

struct Tagged(String);

impl FromJsonObject for Tagged {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        fields.required_str_with("tag", lowercase).map(Self)
    }
}

async fn echo(body: ApiJson<Sample>) -> HttpResponse {
    let s = body.0;
    HttpResponse::Ok().json(serde_json::json!({
        "name": s.name, "count": s.count, "ratio": s.ratio, "flag": s.flag, "note": s.note,
    }))
}

async fn post(content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let app = test::init_service(App::new().route("/echo", web::post().to(echo))).await;
    let mut request = test::TestRequest::post().uri("/echo").set_payload(body);
    if let Some(content_type) = content_type {
        request = request.insert_header(("content-type", content_type));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status();
    let body = test::read_body(response).await;
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

const JSON: Option<&str> = Some("application/json");

#[actix_web::test]
async fn a_valid_object_is_parsed() {
    let (status, body) = post(
        Some("application/json; charset=utf-8"),
        br#"{"name":"ada","count":3,"ratio":0.5,"flag":true,"note":null,"extra":1}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"name":"ada","count":3,"ratio":0.5,"flag":true,"note":null})
    );
}

#[actix_web::test]
async fn a_plus_json_media_type_is_json() {
    let (status, _) = post(
        Some("application/merge-patch+json"),
        br#"{"name":"x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_missing_or_blank_body_is_malformed() {
    for body in [b"".to_vec(), b"  \n".to_vec()] {
        let (status, problem) = post(JSON, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem["code"], "malformed_body");
    }
    let (status, _) = post(None, Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no body and no type");
}

#[actix_web::test]
async fn a_body_without_a_json_content_type_is_unsupported() {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, problem) = post(content_type, br#"{"name":"x"}"#.to_vec()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(problem["code"], "unsupported_media_type");
    }
}

#[actix_web::test]
async fn invalid_json_and_non_objects_are_malformed() {
    for body in [
        &b"{"[..],
        b"{\"name\": }",
        b"[1,2]",
        b"\"text\"",
        b"42",
        b"null",
        b"\xff\xfe",
    ] {
        let (status, problem) = post(JSON, body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(problem["code"], "malformed_body");
    }
}

#[actix_web::test]
async fn a_body_over_the_limit_is_too_large() {
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(2000));
    let (status, problem) = post(JSON, big.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["code"], "payload_too_large");
}

#[actix_web::test]
async fn every_missing_mistyped_or_out_of_range_field_is_named() {
    let (status, problem) = post(
        JSON,
        br#"{"count":11,"ratio":"high","flag":"yes","note":5}"#.to_vec(),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(
        problem["errors"],
        serde_json::json!([
            {"field": "name", "message": "is required"},
            {"field": "count", "message": "must be a whole number from 1 to 10"},
            {"field": "ratio", "message": "must be a number"},
            {"field": "flag", "message": "must be true or false"},
            {"field": "note", "message": "must be a string"},
        ])
    );
}

#[actix_web::test]
async fn numbers_out_of_range_or_fractional_are_named() {
    let (status, problem) = post(JSON, br#"{"name":"x","count":2.5,"ratio":2.1}"#.to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "count");
    assert_eq!(problem["errors"][1]["field"], "ratio");
    assert_eq!(problem["errors"][1]["message"], "must be from 0 to 2");
}

#[actix_web::test]
async fn a_null_required_field_is_missing_and_reject_adds_an_error() {
    let map = serde_json::json!({"name": null});
    let mut fields = Fields::new(map.as_object().expect("object"));
    assert!(fields.required_str("name").is_none());
    fields.reject("other", "is wrong");
    let err = fields.finish(Some(())).expect_err("errors");
    let ApiError::Validation(errors) = err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.len(), 2);
}

#[actix_web::test]
async fn parsers_name_the_field_whose_rule_is_broken() {
    let map = serde_json::json!({"name": "x", "count": 3, "note": "Loud"});
    let mut fields = Fields::new(map.as_object().expect("object"));
    let parsed = Sample::from_json(&mut fields);
    let ApiError::Validation(errors) = fields.finish(parsed).expect_err("note") else {
        panic!("not a validation error")
    };
    assert_eq!(
        errors,
        [FieldError::new("note", "must be lowercase")],
        "a parser's message, under its field"
    );

    for (body, expected) in [
        (serde_json::json!({"tag": "Up"}), Err("must be lowercase")),
        (serde_json::json!({"tag": 1}), Err("must be a string")),
        (serde_json::json!({}), Err("is required")),
        (serde_json::json!({"tag": "ok"}), Ok("ok")),
    ] {
        let mut fields = Fields::new(body.as_object().expect("object"));
        let parsed = Tagged::from_json(&mut fields);
        let got = fields.finish(parsed).map(|t| t.0).map_err(|err| match err {
            ApiError::Validation(errors) => errors[0].message.clone(),
            other => panic!("{other:?}"),
        });
        assert_eq!(got.as_deref().map_err(String::as_str), expected, "{body}");
    }
}
