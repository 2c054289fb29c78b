//! The OpenAPI 3.1 document of the API, served at
//! `GET /api/v1/openapi.json`. A test keeps it and the routes in step.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use promptyard_services::playground::ModelUsage;
use promptyard_services::{
    ApiKeyInfo, AuthUser, ConversationInfo, ConversationWithMessages, Exchange, MessageInfo, Page,
    SessionInfo, Tokens, UsageSummary,
};

use crate::dto::{CreatedApiKeyBody, MessageBody, ModelBody, ModelsBody};
use crate::problem::{FieldErrorSchema, Problem};

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Promptyard API",
        description = "The backend of an LLM playground: accounts and sessions, personal API keys, saved conversations and an OpenAI-compatible gateway. Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.",
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::auth::register,
        crate::auth::login,
        crate::auth::me,
        crate::auth::logout,
        crate::auth::change_password,
        crate::auth::list_sessions,
        crate::auth::revoke_session,
        crate::api_keys::create,
        crate::api_keys::list,
        crate::api_keys::revoke,
        crate::playground::models,
        crate::playground::create_conversation,
        crate::playground::list_conversations,
        crate::playground::get_conversation,
        crate::playground::delete_conversation,
        crate::playground::send_message,
        crate::playground::usage,
        crate::gateway::models,
        crate::gateway::chat_completions,
        openapi_json,
    ),
    components(schemas(
        AuthUser, MessageBody, SessionInfo, ApiKeyInfo, CreatedApiKeyBody, ModelBody, ModelsBody,
        ConversationInfo, Page, ConversationWithMessages, MessageInfo, Exchange, Tokens,
        ModelUsage, UsageSummary, Problem, FieldErrorSchema,
    )),
    modifiers(&SecuritySchemes, &JsonBodyErrors),
    tags(
        (name = "auth", description = "Accounts, login sessions and passwords."),
        (name = "api-keys", description = "Personal API keys, for scripts and OpenAI clients. Managed with a browser session only."),
        (name = "playground", description = "Conversations with LLMs: models, conversations, messages (streamed or not), usage."),
        (name = "openai", description = "The OpenAI-compatible gateway: point any OpenAI client at /v1 with a Promptyard API key. Errors use OpenAI's shape."),
        (name = "operations", description = "Health, readiness and this document."),
    ),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::SESSION_COOKIE,
                "The session cookie set by `POST /api/v1/auth/login`.",
            ))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pyk_<public id>_<secret>")
                    .description(Some("A personal API key from `POST /api/v1/api-keys`."))
                    .build(),
            ),
        );
    }
}

/// Every operation that takes a JSON body can answer what the JSON
/// extractor answers before the handler runs: 400 (not JSON, or not an
/// object), 413 (over the body limit) and, under `/api/v1`, 415 (not sent
/// as JSON); the gateway answers in OpenAI's shape (a body that is not
/// JSON is its 400 `invalid_request_error`). Added here once rather than
/// restated on each operation.
struct JsonBodyErrors;

impl Modify for JsonBodyErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for (path, item) in &mut openapi.paths.paths {
            let gateway = path.starts_with("/v1/");
            for operation in [item.post.as_mut(), item.put.as_mut(), item.patch.as_mut()]
                .into_iter()
                .flatten()
            {
                if operation.request_body.is_none() {
                    continue;
                }
                let answers: &[(&str, &str)] = if gateway {
                    &[
                        (
                            "400",
                            "OpenAI error shape, type `invalid_request_error`: a body that is not JSON, or not an object, or sent without a JSON content type.",
                        ),
                        (
                            "413",
                            "OpenAI error shape, type `invalid_request_error`: the body is over 1 MiB.",
                        ),
                    ]
                } else {
                    &[
                        (
                            "400",
                            "`malformed_body`: no body, a body that is not JSON, or JSON that is not an object.",
                        ),
                        (
                            "413",
                            "`payload_too_large`: the body is over the endpoint's limit (64 KiB; 1 MiB for messages).",
                        ),
                        (
                            "415",
                            "`unsupported_media_type`: the body was not sent as `application/json`.",
                        ),
                    ]
                };
                for (status, description) in answers {
                    if operation.responses.responses.contains_key(*status) {
                        continue;
                    }
                    let response = if gateway {
                        ResponseBuilder::new()
                            .description(*description)
                            .content("application/json", ContentBuilder::new().build())
                    } else {
                        ResponseBuilder::new().description(*description).content(
                            "application/problem+json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                    };
                    operation
                        .responses
                        .responses
                        .insert((*status).to_owned(), response.build().into());
                }
            }
        }
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::resource("/openapi.json").route(web::get().to(openapi_json)));
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

#[cfg(test)]
mod tests;
