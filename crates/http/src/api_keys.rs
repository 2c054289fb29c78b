//! `/api/v1/api-keys`: create, list, limit and revoke personal API keys.
//! Session only: an API key gets 403 `session_required` here (a key cannot
//! lift its own limits).

use actix_web::{HttpResponse, web};
use actix_web::{delete, get, patch, post};

use crate::AppState;
use promptyard_services::{ApiKeyId, ApiKeyInfo};

use crate::dto::{CreateApiKeyBody, CreatedApiKeyBody, SetLimitsBody};
use crate::error::ApiError;
use crate::extract::SessionUser;
use crate::json::ApiJson;
use crate::problem::Problem;

/// Create a key; the whole key is in this answer and never again.
#[utoipa::path(
    tag = "api-keys",
    security(("session_cookie" = [])),
    request_body = CreateApiKeyBody,
    responses(
        (status = 201, description = "Created; `key` is shown only here.", body = CreatedApiKeyBody),
        (status = 422, description = "`validation_failed`: `name` or `expires_in_days` out of range, or a bad `limits.*` (a value out of range, a budget without its period, an unknown model or limit).", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/api-keys")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: SessionUser,
    body: ApiJson<CreateApiKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .api_keys
        .create(&caller.user.id, body.0.into())
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKeyBody {
        key: created.key.expose().to_owned(),
        api_key: created.info,
    }))
}

/// The caller's active keys (neither revoked nor expired), newest first.
#[utoipa::path(
    tag = "api-keys",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The keys, without secrets.", body = [ApiKeyInfo]),
    ),
)]
#[get("/api-keys")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<HttpResponse, ApiError> {
    let keys = state.api_keys.list(&caller.user.id).await?;
    Ok(HttpResponse::Ok().json(keys))
}

/// Set a key's limits: they replace the old ones whole (a field left out
/// or `null` is no limit; `"limits": null` lifts them all) and apply to
/// the key's next request. What it spent in the current minute and budget
/// period still counts.
#[utoipa::path(
    tag = "api-keys",
    security(("session_cookie" = [])),
    params(("id" = String, Path, description = "The key's id.")),
    request_body = SetLimitsBody,
    responses(
        (status = 200, description = "The key with its new limits.", body = ApiKeyInfo),
        (status = 404, description = "`not_found`: no such active key of the caller's (another user's, a revoked or an expired key included).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad `limits.*`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[patch("/api-keys/{id}")]
pub(crate) async fn set_limits(
    state: web::Data<AppState>,
    caller: SessionUser,
    id: web::Path<ApiKeyId>,
    body: ApiJson<SetLimitsBody>,
) -> Result<HttpResponse, ApiError> {
    let key = state
        .api_keys
        .set_limits(&caller.user.id, &id, body.0.limits)
        .await?;
    Ok(HttpResponse::Ok().json(key))
}

/// Revoke a key: it stops working at once.
#[utoipa::path(
    tag = "api-keys",
    security(("session_cookie" = [])),
    params(("id" = String, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`not_found`: no such key of the caller's (another user's key included).", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/api-keys/{id}")]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    caller: SessionUser,
    id: web::Path<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.revoke(&caller.user.id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;
