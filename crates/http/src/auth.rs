//! `/api/v1/auth`: register, login, me, logout, password, sessions.

use actix_session::Session;
use actix_web::http::header::USER_AGENT;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{delete, get, post};
use promptyard_services::{AuthUser, SessionId, SessionInfo, SessionPublicId};

use crate::AppState;
use crate::dto::{CredentialsBody, MessageBody, PasswordChangeBody};
use crate::error::ApiError;
use crate::extract::{CurrentUser, SessionUser};
use crate::json::ApiJson;
use crate::problem::Problem;
use crate::session_store::{NEW_KEY, SESSION_ID};

/// Longest user agent kept with a session.
const USER_AGENT_MAX_CHARS: usize = 512;

/// Create an account.
#[utoipa::path(
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 201, description = "The account was created.", body = AuthUser),
        (status = 409, description = "`email_taken`: the email has an account (in any letter case).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: each bad field is named.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/register")]
pub(crate) async fn register(
    state: web::Data<AppState>,
    body: ApiJson<CredentialsBody>,
) -> Result<HttpResponse, ApiError> {
    let user = state.auth.register(body.0.credentials()).await?;
    Ok(HttpResponse::Created().json(user))
}

/// Log in; sets the `session_id` cookie (a new one every time).
#[utoipa::path(
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 200, description = "Logged in; `Set-Cookie: session_id=...; HttpOnly; SameSite=Lax; Path=/`.", body = AuthUser),
        (status = 401, description = "`invalid_credentials`: unknown email or wrong password (the same answer for both).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a field is missing or not a string.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many failed logins for this email; see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the limit lifts."))),
    ),
)]
#[post("/auth/login")]
pub(crate) async fn login(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    body: ApiJson<CredentialsBody>,
) -> Result<HttpResponse, ApiError> {
    let user = state.auth.login(body.0.credentials()).await?;
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect::<String>());
    // The previous session of this browser, if any, goes away with the new
    // one's creation: a login never reuses a key (no session fixation).
    let previous = session.get::<SessionId>(SESSION_ID).ok().flatten();
    let key = state
        .sessions
        .create(
            &user.id,
            user_agent,
            state.auth.config().session_ttl,
            previous,
        )
        .await?;
    session
        .insert(NEW_KEY, key.into_string())
        .map_err(|e| ApiError::unexpected(e.to_string()))?;
    session.renew();
    Ok(HttpResponse::Ok().json(user))
}

/// The caller.
#[utoipa::path(
    tag = "auth",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The signed-in user.", body = AuthUser),
    ),
)]
#[get("/auth/me")]
pub(crate) async fn me(caller: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(caller.user())
}

/// Log out: deletes the server-side session and expires the cookie.
#[utoipa::path(
    tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Logged out; the old cookie no longer works anywhere.", body = MessageBody),
    ),
)]
#[post("/auth/logout")]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<HttpResponse, ApiError> {
    state.sessions.end(&caller.session_id).await?;
    caller.session.purge();
    tracing::info!(event = "logout", user_id = %caller.user.id, "logged out");
    Ok(HttpResponse::Ok().json(MessageBody::new("logged out")))
}

/// Change the password; every other session of the user is revoked.
#[utoipa::path(
    tag = "auth",
    security(("session_cookie" = [])),
    request_body = PasswordChangeBody,
    responses(
        (status = 200, description = "Changed; the user's other sessions are revoked.", body = MessageBody),
        (status = 401, description = "`invalid_credentials`: the current password is wrong; or `unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: e.g. the new password is too short.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many failed logins for this account's email (a wrong `current_password` counts as one); see `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the limit lifts."))),
    ),
)]
#[post("/auth/password")]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    caller: SessionUser,
    body: ApiJson<PasswordChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .auth
        .change_password(&caller.user.id, &caller.session_id, body.0.change())
        .await?;
    let others = if revoked == 1 { "session" } else { "sessions" };
    Ok(HttpResponse::Ok().json(MessageBody::new(format!(
        "password changed; {revoked} other {others} signed out"
    ))))
}

/// The caller's live sessions, newest first.
#[utoipa::path(
    tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The sessions; `current` marks this one.", body = [SessionInfo]),
    ),
)]
#[get("/auth/sessions")]
pub(crate) async fn list_sessions(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<HttpResponse, ApiError> {
    let sessions = state
        .auth
        .list_sessions(&caller.user.id, &caller.session_id)
        .await?;
    Ok(HttpResponse::Ok().json(sessions))
}

/// Revoke one of the caller's sessions (this one too, which logs out).
#[utoipa::path(
    tag = "auth",
    security(("session_cookie" = [])),
    params(("id" = String, Path, description = "A session id from `GET /api/v1/auth/sessions`.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`not_found`: no such session of the caller's.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/auth/sessions/{id}")]
pub(crate) async fn revoke_session(
    state: web::Data<AppState>,
    caller: SessionUser,
    id: web::Path<SessionPublicId>,
) -> Result<HttpResponse, ApiError> {
    let own = state
        .auth
        .revoke_session(&caller.user.id, &id, &caller.session_id)
        .await?;
    if own {
        caller.session.purge();
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests;
