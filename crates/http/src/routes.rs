//! The one route table. A handler's actix attribute (`#[get("/auth/me")]`)
//! is its method and path, its `#[utoipa::path]` its documentation; the
//! functions below list the handlers under each prefix once, and both the
//! application ([`configure`](crate::configure)) and the OpenAPI document
//! ([`document`](crate::openapi::document)) are built from them by
//! `utoipa-actix-web`, so neither can have an endpoint the other lacks.
//!
//! A path the table has, asked with another method, is 405; any other path
//! 404 (`no_route`; the gateway answers both in OpenAI's shape).

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{api_keys, auth, gateway, health, openapi, playground, problem};

/// The prefix of the API.
pub const API_V1: &str = "/api/v1";
/// The prefix of the OpenAI-compatible gateway.
pub const GATEWAY: &str = "/v1";

/// Health and readiness, at the root.
pub(crate) fn operations(cfg: &mut ServiceConfig<'_>) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(crate::metrics::metrics_page);
}

/// Everything under [`API_V1`].
pub(crate) fn api_v1(cfg: &mut ServiceConfig<'_>) {
    cfg.service(auth::register)
        .service(auth::login)
        .service(auth::me)
        .service(auth::logout)
        .service(auth::change_password)
        .service(auth::list_sessions)
        .service(auth::revoke_session)
        .service(api_keys::create)
        .service(api_keys::list)
        .service(api_keys::set_limits)
        .service(api_keys::revoke)
        .service(playground::models)
        .service(playground::create_conversation)
        .service(playground::list_conversations)
        .service(playground::get_conversation)
        .service(playground::delete_conversation)
        .service(playground::send_message)
        .service(playground::usage)
        .service(openapi::openapi_json);
}

/// Everything under [`GATEWAY`].
pub(crate) fn gateway(cfg: &mut ServiceConfig<'_>) {
    cfg.service(gateway::models)
        .service(gateway::chat_completions);
}

/// Whether the table has `path`, under any method.
pub(crate) fn is_routed(path: &str) -> bool {
    static TEMPLATES: OnceLock<Vec<ResourceDef>> = OnceLock::new();
    TEMPLATES
        .get_or_init(|| {
            openapi::document()
                .paths
                .paths
                .keys()
                .map(|template| ResourceDef::new(template.as_str()))
                .collect()
        })
        .iter()
        .any(|template| template.is_match(path))
}

/// 405 `method_not_allowed` for a path of the table, else 404 `not_found`.
pub(crate) async fn no_route(req: HttpRequest) -> HttpResponse {
    if is_routed(req.path()) {
        problem::method_not_allowed().await
    } else {
        problem::not_found().await
    }
}
