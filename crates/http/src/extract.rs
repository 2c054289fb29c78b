//! Who is calling: [`CurrentUser`] for endpoints marked **auth** (a session
//! cookie or `Authorization: Bearer <api key>`), [`SessionUser`] for those
//! marked **session** (the cookie only; a key gets 403 `session_required`,
//! so a leaked key cannot mint more keys). The one place that decides.
//!
//! When a request carries both, an `Authorization` header wins on **auth**
//! endpoints: a bad key is 401 even next to a good cookie.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use crate::AppState;
use crate::dto::UserBody;
use crate::error::ApiError;
use crate::session_store::{FAILURE, SESSION_ID, USER};

/// The caller, signed in with a browser session.
#[derive(Clone)]
pub struct SessionUser {
    pub user: UserBody,
    /// The stored id of the caller's session.
    pub session_id: String,
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

/// The caller of an **auth** endpoint.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: UserBody,
    /// The caller's session id, when authenticated by a session.
    pub session_id: Option<String>,
    /// The id of the API key, when authenticated by one.
    pub key_id: Option<String>,
}

impl std::fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
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
    let user = session.get::<UserBody>(USER).ok().flatten();
    let session_id = session.get::<String>(SESSION_ID).ok().flatten();
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

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match from_session(req) {
            Err(ApiError::Unauthenticated) if !matches!(bearer(req), Bearer::Absent) => {
                Err(ApiError::SessionRequired)
            }
            other => other,
        })
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        match bearer(req) {
            Bearer::Absent => Box::pin(ready(from_session(req).map(|s| CurrentUser {
                user: s.user,
                session_id: Some(s.session_id),
                key_id: None,
            }))),
            Bearer::Malformed => Box::pin(ready(Err(ApiError::Unauthenticated))),
            Bearer::Key(key) => {
                let state = req.app_data::<web::Data<AppState>>().cloned();
                Box::pin(async move {
                    let state = state.ok_or_else(|| ApiError::unexpected("no AppState"))?;
                    let caller = state.api_keys.authenticate(&key).await?;
                    Ok(CurrentUser {
                        user: caller.user.into(),
                        session_id: None,
                        key_id: Some(caller.key_id),
                    })
                })
            }
        }
    }
}
