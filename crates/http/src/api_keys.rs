//! `/api/v1/api-keys`: create, list and revoke personal API keys. Session
//! only: an API key gets 403 `session_required` here.

use actix_web::{HttpResponse, web};
use actix_web::{delete, get, post};

use crate::AppState;
use promptyard_services::{ApiKeyId, ApiKeyInfo};

use crate::dto::{CreateApiKeyBody, CreatedApiKeyBody};
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
        (status = 422, description = "`validation_failed`: `name` or `expires_in_days` out of range.", body = Problem, content_type = "application/problem+json"),
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
mod tests;
