//! [`ApiError`]: every error an endpoint can answer, mapped to its status
//! and the contract's `code` in one place, and rendered as problem+json.
//!
//! Unexpected errors are logged with their whole cause chain and answered
//! with an opaque 500 that names nothing internal.

use std::fmt::Write as _;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, ResponseError};
use promptyard_services::{
    AuthError, BoxError, FieldError, PlaygroundError, Refusal, RefusalKind, RepoError,
};

use crate::problem::Problem;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_body`: no body, not JSON, or not a JSON object.
    #[error("{0}")]
    MalformedBody(String),
    /// 401 `unauthenticated`: no, invalid or expired session or key.
    #[error("authentication required")]
    Unauthenticated,
    /// 401 `invalid_credentials`: unknown email or wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 403 `account_disabled`.
    #[error("this account is disabled")]
    AccountDisabled,
    /// 403 `session_required`: an API key on a session-only endpoint.
    #[error("this endpoint needs a browser session; API keys are not accepted here")]
    SessionRequired,
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 409 `email_taken`.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// 413 `payload_too_large`.
    #[error("the body is larger than this endpoint accepts")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    #[error("the body must be sent as JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422 `validation_failed`, naming each bad field.
    #[error("{}", validation_detail(.0))]
    Validation(Vec<FieldError>),
    /// 502 `provider_error`: the LLM provider failed or timed out.
    #[error("{0}")]
    Provider(String),
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many attempts; retry in {} s", .retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// 429 `rate_limited` (a key's per-minute limit) or
    /// `insufficient_quota` (its budget), with `Retry-After`.
    #[error("{}", .0.detail)]
    Limited(Refusal),
    /// 503 `unavailable`: storage trouble; retry later.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable(#[source] BoxError),
    /// 503 `unavailable`, with `Retry-After`: too many passwords are being
    /// checked at once (a storm of logins); nothing was checked or counted.
    #[error("too many sign-ins at once; retry in {} s", .retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
    /// 500 `internal_error`: a bug. Logged, never explained to the caller.
    #[error("internal error")]
    Unexpected(#[source] BoxError),
}

fn validation_detail(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("invalid field: {}", one.field),
        many => format!("{} invalid fields", many.len()),
    }
}

impl ApiError {
    /// The contract's machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "malformed_body",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "account_disabled",
            Self::SessionRequired => "session_required",
            Self::NotFound => "not_found",
            Self::EmailTaken => "email_taken",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Limited(refusal) => match refusal.kind {
                RefusalKind::RateLimited => "rate_limited",
                RefusalKind::InsufficientQuota => "insufficient_quota",
            },
            Self::Provider(_) => "provider_error",
            Self::Unavailable(_) | Self::Busy { .. } => "unavailable",
            Self::Unexpected(_) => "internal_error",
        }
    }

    /// The problem details body.
    pub fn problem(&self) -> Problem {
        let mut problem = Problem::new(self.status_code(), self.code(), self.to_string());
        if let Self::Validation(errors) = self {
            problem.errors.clone_from(errors);
        }
        problem
    }

    /// Wraps an unexpected error.
    pub fn unexpected(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(err.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::AccountDisabled | Self::SessionRequired => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unexpected(source) => {
                tracing::error!(cause = %cause_chain(source.as_ref()), "unexpected error");
            }
            Self::Unavailable(source) => {
                tracing::warn!(cause = %cause_chain(source.as_ref()), "storage unavailable");
            }
            _ => {}
        }
        let problem = self.problem();
        let mut response = problem.builder();
        if let Self::RateLimited { retry_after }
        | Self::Busy { retry_after }
        | Self::Limited(Refusal { retry_after, .. }) = self
        {
            response.insert_header((RETRY_AFTER, retry_after.as_secs().max(1).to_string()));
        }
        response.json(&problem)
    }
}

/// `error: cause: cause's cause`, for the log.
pub(crate) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Validation(errors) => Self::Validation(errors),
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::Unauthenticated => Self::Unauthenticated,
            AuthError::AccountDisabled => Self::AccountDisabled,
            AuthError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            AuthError::Busy { retry_after } => Self::Busy { retry_after },
            AuthError::NotFound => Self::NotFound,
            AuthError::Unavailable(source) => Self::Unavailable(Box::new(source)),
            AuthError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<PlaygroundError> for ApiError {
    fn from(err: PlaygroundError) -> Self {
        match err {
            PlaygroundError::Validation(errors) => Self::Validation(errors),
            PlaygroundError::NotFound => Self::NotFound,
            PlaygroundError::UnknownModel(_) => Self::Validation(vec![FieldError::new(
                "model",
                "is not a known model (see GET /api/v1/playground/models)",
            )]),
            PlaygroundError::Provider(err) => {
                tracing::warn!(error = %err, "provider failed");
                Self::Provider(err.to_string())
            }
            PlaygroundError::Limited(refusal) => Self::Limited(refusal),
            PlaygroundError::Unavailable(source) => Self::Unavailable(Box::new(source)),
            PlaygroundError::Unexpected(source) => Self::Unexpected(source),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => Self::NotFound,
            RepoError::Unavailable { .. } => Self::Unavailable(Box::new(err)),
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    async fn render(err: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = err.error_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = to_bytes(response.into_body()).await.expect("body");
        (status, retry, serde_json::from_slice(&body).expect("json"))
    }

    #[actix_web::test]
    async fn every_variant_has_the_contracts_status_and_code() {
        let cases = [
            (ApiError::MalformedBody("x".into()), 400, "malformed_body"),
            (ApiError::Unauthenticated, 401, "unauthenticated"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::AccountDisabled, 403, "account_disabled"),
            (ApiError::SessionRequired, 403, "session_required"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::EmailTaken, 409, "email_taken"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ApiError::Validation(vec![]), 422, "validation_failed"),
            (
                ApiError::RateLimited {
                    retry_after: Duration::from_secs(3),
                },
                429,
                "rate_limited",
            ),
            (ApiError::Unavailable("db".into()), 503, "unavailable"),
            (
                ApiError::Provider("the provider x answered HTTP 500".into()),
                502,
                "provider_error",
            ),
            (ApiError::unexpected("bug"), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let (actual, _, body) = render(err).await;
            assert_eq!(actual.as_u16(), status, "{code}");
            assert_eq!(body["code"], code);
            assert_eq!(body["status"], status);
            assert_eq!(body["type"], "about:blank");
        }
    }

    #[actix_web::test]
    async fn rate_limited_sets_retry_after_in_whole_seconds() {
        let (_, retry, body) = render(ApiError::RateLimited {
            retry_after: Duration::from_secs(42),
        })
        .await;
        assert_eq!(retry.as_deref(), Some("42"));
        assert!(body["detail"].as_str().expect("detail").contains("42 s"));
    }

    #[actix_web::test]
    async fn validation_lists_each_field() {
        let (_, _, body) = render(ApiError::Validation(vec![
            FieldError::new("email", "must look like local@domain.tld"),
            FieldError::new("password", "must be at least 8 characters"),
        ]))
        .await;
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["errors"][1]["field"], "password");
        assert_eq!(body["detail"], "2 invalid fields");
    }

    #[actix_web::test]
    async fn unexpected_errors_leak_nothing_of_their_cause() {
        let cause = RepoError::unexpected("no such table: users (SQL: SELECT secret FROM users)");
        let (status, _, body) = render(ApiError::from(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let text = body.to_string();
        assert!(!text.contains("SQL") && !text.contains("users"), "{text}");
        assert_eq!(body["detail"], "internal error");
    }

    #[test]
    fn service_errors_map_to_their_answers() {
        assert_eq!(ApiError::from(AuthError::EmailTaken).code(), "email_taken");
        assert_eq!(
            ApiError::from(AuthError::AccountDisabled).code(),
            "account_disabled"
        );
        assert_eq!(ApiError::from(AuthError::NotFound).code(), "not_found");
        assert_eq!(ApiError::from(RepoError::NotFound).code(), "not_found");
        let busy = RepoError::unavailable(promptyard_services::Unavailable::Busy, "locked");
        assert_eq!(ApiError::from(AuthError::from(busy)).code(), "unavailable");
        assert_eq!(
            ApiError::from(RepoError::ForeignKeyViolation).code(),
            "internal_error"
        );
    }

    #[test]
    fn the_cause_chain_reads_outside_in() {
        let err = AuthError::from(RepoError::unexpected("disk on fire"));
        let chain = cause_chain(&err);
        assert_eq!(
            chain,
            "unexpected error: unexpected database error: disk on fire"
        );
    }
}
