//! Who is calling: [`CurrentUser`] for endpoints marked **auth** (a session
//! cookie or `Authorization: Bearer <api key>`), [`SessionUser`] for those
//! marked **session** (the cookie only; a key gets 403 `session_required`,
//! so a leaked key cannot mint more keys). The one place that decides.
//!
//! Authentication comes before authorization: an `Authorization` header is
//! always checked first, so a bad key is 401 even next to a good cookie,
//! on **auth** and **session** endpoints alike; only a valid key is told
//! 403 `session_required`.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use promptyard_services::{AuthError, AuthUser, KeyCaller, LlmCaller, SessionId, UserId};

use crate::AppState;
use crate::error::ApiError;
use crate::session_store::{FAILURE, SESSION_ID, USER};

/// The caller, signed in with a browser session.
#[derive(Clone)]
pub struct SessionUser {
    pub user: AuthUser,
    /// The stored id of the caller's session.
    pub session_id: SessionId,
    /// The session, to purge or renew.
    pub session: Session,
}

impl std::fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The caller of an **auth** endpoint: one of the two ways to
/// authenticate, never both, never neither.
#[derive(Debug, Clone)]
pub enum CurrentUser {
    /// A browser session (its id is redacted from `Debug`).
    Session {
        user: AuthUser,
        session_id: SessionId,
    },
    /// An API key (a valid `Authorization` header wins over a cookie),
    /// with its limits.
    Key(KeyCaller),
}

impl CurrentUser {
    /// The signed-in user.
    pub fn user(&self) -> &AuthUser {
        match self {
            Self::Session { user, .. } | Self::Key(KeyCaller { user, .. }) => user,
        }
    }

    /// The caller of an LLM request: a key's limits apply, a session has
    /// none.
    pub fn llm_caller(&self) -> LlmCaller {
        match self {
            Self::Session { user, .. } => LlmCaller::session(user.id.clone()),
            Self::Key(key) => key.llm_caller(),
        }
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> &UserId {
        &self.user().id
    }

    /// The signed-in user, owned.
    pub fn into_user(self) -> AuthUser {
        match self {
            Self::Session { user, .. } | Self::Key(KeyCaller { user, .. }) => user,
        }
    }
}

fn from_session(req: &HttpRequest) -> Result<SessionUser, ApiError> {
    let session = req.get_session();
    if let Some(failure) = session
        .get::<String>(FAILURE)
        .map_err(|e| ApiError::unexpected(e.to_string()))?
    {
        return Err(match failure.as_str() {
            "unavailable" => ApiError::Unavailable("the session store is unavailable".into()),
            _ => ApiError::unexpected("the session could not be loaded"),
        });
    }
    let user = session.get::<AuthUser>(USER).ok().flatten();
    let session_id = session.get::<SessionId>(SESSION_ID).ok().flatten();
    match (user, session_id) {
        (Some(user), Some(session_id)) => Ok(SessionUser {
            user,
            session_id,
            session,
        }),
        _ => Err(ApiError::Unauthenticated),
    }
}

/// What the `Authorization` header holds.
pub(crate) enum Bearer {
    Absent,
    Key(String),
    /// Present but not `Bearer <token>`.
    Malformed,
}

pub(crate) fn bearer(req: &HttpRequest) -> Bearer {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Bearer::Key(token.trim().to_owned())
        }
        _ => Bearer::Malformed,
    }
}

/// What [`authenticate_key`] found in the `Authorization` header, kept in
/// the request's extensions for the extractors.
#[derive(Clone)]
enum KeyAuth {
    Valid(KeyCaller),
    /// Malformed, unknown, revoked, expired, or a disabled user's key.
    Invalid,
    /// The database could not say.
    Unavailable,
}

/// Middleware of `/api/v1`: checks an `Authorization` header, if there is
/// one, before anything else of the request runs (body parsing included),
/// so that a bad credential is 401 before any 4xx about the body, and the
/// extractors below decide at once.
pub(crate) async fn authenticate_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let found = match bearer(req.request()) {
        Bearer::Absent => None,
        Bearer::Malformed => Some(KeyAuth::Invalid),
        Bearer::Key(key) => Some(match req.app_data::<web::Data<AppState>>() {
            Some(state) => match state.api_keys.authenticate(&key).await {
                Ok(caller) => KeyAuth::Valid(caller),
                Err(AuthError::Unavailable(_)) => KeyAuth::Unavailable,
                Err(_) => KeyAuth::Invalid,
            },
            None => KeyAuth::Unavailable,
        }),
    };
    if let Some(found) = found {
        req.extensions_mut().insert(found);
    }
    next.call(req).await
}

/// The key [`authenticate_key`] checked: `None` without an `Authorization`
/// header; 401 for a bad one; 503 if the database could not say.
fn key_caller(req: &HttpRequest) -> Result<Option<KeyCaller>, ApiError> {
    if matches!(bearer(req), Bearer::Absent) {
        return Ok(None);
    }
    match req.extensions().get::<KeyAuth>() {
        Some(KeyAuth::Valid(caller)) => Ok(Some(caller.clone())),
        Some(KeyAuth::Invalid) => Err(ApiError::Unauthenticated),
        Some(KeyAuth::Unavailable) => Err(ApiError::Unavailable(
            "the API key could not be checked".into(),
        )),
        None => Err(ApiError::unexpected(
            "an Authorization header the key middleware did not see",
        )),
    }
}

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// Authentication before authorization: an `Authorization` header is
    /// checked first (malformed, unknown, revoked, expired or a disabled
    /// user's key: 401 `unauthenticated`); a valid key without a session
    /// is then 403 `session_required`.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            key_caller(req).and_then(|key| match (from_session(req), key) {
                (Err(ApiError::Unauthenticated), Some(_)) => Err(ApiError::SessionRequired),
                (session, _) => session,
            }),
        )
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match key_caller(req) {
            Ok(Some(caller)) => Ok(CurrentUser::Key(caller)),
            Ok(None) => from_session(req).map(|s| CurrentUser::Session {
                user: s.user,
                session_id: s.session_id,
            }),
            Err(err) => Err(err),
        })
    }
}
