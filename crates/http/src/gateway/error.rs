//! [`GatewayError`]: every `/v1` failure in OpenAI's shape
//! ([`ErrorBody`]), the API's own errors translated once.

use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use promptyard_services::{PlaygroundError, RefusalKind};

use super::wire::{ErrorBody, ErrorDetail};
use crate::error::{ApiError, cause_chain};

/// An error in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
    /// Sent as `Retry-After` (whole seconds, at least 1) when set.
    pub retry_after: Option<Duration>,
}

impl GatewayError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                message: message.into(),
                kind,
                param: None,
                code,
            },
            retry_after: None,
        }
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        );
        err.detail.param = param;
        err
    }

    /// 401 `invalid_api_key`: a missing or bad key (a cookie is not one).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect or missing API key. Send a Promptyard API key as `Authorization: Bearer pyk_...`.",
        )
    }

    /// 502 `provider_error`.
    pub fn provider(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "provider_error",
            Some("provider_error"),
            message,
        )
    }

    /// The body: `{"error": {...}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.detail.clone(),
        }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail.message)
    }
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(after) = self.retry_after {
            response.insert_header((RETRY_AFTER, after.as_secs().max(1).to_string()));
        }
        response.json(self.body())
    }
}

impl From<ApiError> for GatewayError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::PayloadTooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                None,
                "The request body is larger than 1 MiB.",
            ),
            ApiError::Validation(errors) => Self::invalid(
                None,
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::MalformedBody(message) => Self::invalid(None, message),
            ApiError::UnsupportedMediaType => {
                Self::invalid(None, "The body must be sent as application/json.")
            }
            ApiError::Unauthenticated => Self::unauthorized(),
            ApiError::Unavailable(source) => {
                tracing::warn!(cause = %cause_chain(source.as_ref()), "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("unavailable"),
                    "The service is temporarily unavailable; retry later.",
                )
            }
            other => {
                if let ApiError::Unexpected(source) = &other {
                    tracing::error!(cause = %cause_chain(source.as_ref()), "unexpected error");
                }
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    "The server had an error while processing your request.",
                )
            }
        }
    }
}

impl From<PlaygroundError> for GatewayError {
    fn from(err: PlaygroundError) -> Self {
        match err {
            PlaygroundError::UnknownModel(model) => {
                let mut err = Self::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("The model `{model}` does not exist or you do not have access to it."),
                );
                err.detail.param = Some("model");
                err
            }
            PlaygroundError::Provider(err) => {
                tracing::warn!(error = %err, "provider failed");
                Self::provider(err.to_string())
            }
            // OpenAI's own 429s: a rate limit, or a spent quota.
            PlaygroundError::Limited(refusal) => {
                let (kind, code) = match refusal.kind {
                    RefusalKind::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
                    RefusalKind::InsufficientQuota => ("insufficient_quota", "insufficient_quota"),
                };
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    kind,
                    Some(code),
                    refusal.detail,
                );
                err.retry_after = Some(refusal.retry_after);
                err
            }
            other => ApiError::from(other).into(),
        }
    }
}

/// 404 `unknown_url` for any other path under `/v1`.
pub(super) async fn unknown_url(req: HttpRequest) -> HttpResponse {
    GatewayError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        format!("Unknown request URL: {} {}.", req.method(), req.path()),
    )
    .error_response()
}

/// 405 `method_not_allowed` for another method on a `/v1` path.
pub(super) async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    GatewayError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!("{} is not allowed on {}.", req.method(), req.path()),
    )
    .error_response()
}
