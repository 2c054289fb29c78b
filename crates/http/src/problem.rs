//! RFC 9457 problem details (`application/problem+json`), the shape of every
//! error Promptyard answers:
//!
//! ```json
//! {"type": "about:blank", "title": "Unauthorized", "status": 401,
//!  "detail": "authentication required", "code": "unauthenticated"}
//! ```
//!
//! `code` is the contract's stable machine code; `title` is the status's
//! reason phrase; `detail` is a sentence for people and never carries
//! internals (no SQL, no paths, no secrets).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use promptyard_services::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a 422 answer (the OpenAPI view of
/// [`FieldError`]).
#[derive(Debug, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    /// The field, as the request spells it.
    #[schema(example = "email")]
    pub field: String,
    /// The rule it breaks.
    #[schema(example = "must look like local@domain.tld")]
    pub message: String,
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[schema(example = "Unauthorized")]
    pub title: String,
    #[schema(example = 401)]
    pub status: u16,
    /// A sentence for people.
    #[schema(example = "authentication required")]
    pub detail: String,
    /// The stable machine code.
    #[schema(example = "unauthenticated")]
    pub code: &'static str,
    /// With 422 only: each invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorSchema>)]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem with this status, machine code and human detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
        }
    }

    /// The status as an actix `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response: this body with `Content-Type: application/problem+json`.
    pub fn response(&self) -> HttpResponse {
        self.builder().json(self)
    }

    /// A response builder with the status and content type set, for callers
    /// that add headers (`Retry-After`, ...).
    pub fn builder(&self) -> HttpResponseBuilder {
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        builder
    }
}

/// 404 `not_found` for a route that does not exist.
pub async fn not_found() -> HttpResponse {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route").response()
}

/// 405 `method_not_allowed` for a route that exists with other methods.
pub async fn method_not_allowed() -> HttpResponse {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this route",
    )
    .response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_serialises_with_the_contracts_field_names() {
        let problem = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "authentication required",
        );
        let json = serde_json::to_value(&problem).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
                "detail": "authentication required",
                "code": "unauthenticated",
            })
        );
    }

    #[test]
    fn field_errors_are_listed_only_when_present() {
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "invalid fields",
        );
        problem
            .errors
            .push(FieldError::new("email", "must look like local@domain.tld"));
        let json = serde_json::to_value(&problem).expect("json");
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(json["title"], "Unprocessable Entity");
    }
}
