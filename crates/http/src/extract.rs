//! Who is calling: [`CurrentUser`] for endpoints marked **auth**,
//! [`SessionUser`] for those marked **session**. The one place that decides.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

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

/// The caller of an **auth** endpoint. Sessions only, so far; API keys
/// will be accepted here too.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: UserBody,
    /// The caller's session id, when authenticated by a session.
    pub session_id: Option<String>,
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

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_session(req))
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_session(req).map(|s| CurrentUser {
            user: s.user,
            session_id: Some(s.session_id),
        }))
    }
}
