//! The OpenAPI 3.1 document of the API, served at
//! `GET /api/v1/openapi.json`. A test keeps it and the routes in step.

use std::sync::OnceLock;

use actix_web::get;
use actix_web::{App, HttpResponse};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};

use promptyard_services::playground::ModelUsage;
use promptyard_services::{
    ApiKeyInfo, AuthUser, ConversationInfo, ConversationWithMessages, Exchange, MessageInfo, Page,
    SessionInfo, Tokens, UsageSummary,
};

use crate::dto::{CreatedApiKeyBody, MessageBody, ModelBody, ModelsBody};
use crate::gateway::wire::{ChatCompletionChunk, ErrorBody};
use crate::problem::{FieldErrorSchema, Problem};
use crate::routes;

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Promptyard API",
        description = "The backend of an LLM playground: accounts and sessions, personal API keys, saved conversations and an OpenAI-compatible gateway. Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.",
    ),
    components(schemas(
        AuthUser, MessageBody, SessionInfo, ApiKeyInfo, CreatedApiKeyBody, ModelBody, ModelsBody,
        ConversationInfo, Page, ConversationWithMessages, MessageInfo, Exchange, Tokens,
        ModelUsage, UsageSummary, Problem, FieldErrorSchema, ErrorBody,
        ChatCompletionChunk,
    )),
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

/// An answer many operations share, declared once: the operations it
/// applies to, its status and its description. An operation that states
/// its own answer for the status keeps it.
struct Shared {
    applies: fn(&Operation) -> bool,
    status: &'static str,
    description: &'static str,
}

fn has_body(op: &Operation) -> bool {
    op.request_body.is_some()
}

fn schemes(op: &Operation) -> Vec<String> {
    let json = serde_json::to_value(&op.security).unwrap_or_default();
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|requirement| requirement.as_object())
        .flat_map(|requirement| requirement.keys().cloned())
        .collect()
}

fn authenticated(op: &Operation) -> bool {
    !schemes(op).is_empty()
}

fn session_only(op: &Operation) -> bool {
    let schemes = schemes(op);
    schemes.iter().any(|s| s == "session_cookie") && !schemes.iter().any(|s| s == "api_key")
}

fn any(_: &Operation) -> bool {
    true
}

/// The answers shared under `/api/v1` (as problem+json).
const API_ANSWERS: &[Shared] = &[
    Shared {
        applies: has_body,
        status: "400",
        description: "`malformed_body`: no body, a body that is not JSON, or JSON that is not an object.",
    },
    Shared {
        applies: has_body,
        status: "413",
        description: "`payload_too_large`: the body is over the endpoint's limit (64 KiB; 1 MiB for messages).",
    },
    Shared {
        applies: has_body,
        status: "415",
        description: "`unsupported_media_type`: the body was not sent as `application/json`.",
    },
    Shared {
        applies: authenticated,
        status: "401",
        description: "`unauthenticated`: no valid session cookie or API key (a bad `Authorization` header is refused even next to a good cookie).",
    },
    Shared {
        applies: session_only,
        status: "403",
        description: "`session_required`: a browser session only; an API key is refused here.",
    },
    Shared {
        applies: any,
        status: "503",
        description: "`unavailable`: the database could not answer, or too many passwords are being checked at once (a storm of logins); nothing was done. See `Retry-After` when present.",
    },
];

/// The answers shared under `/v1` (OpenAI's error shape).
const GATEWAY_ANSWERS: &[Shared] = &[
    Shared {
        applies: has_body,
        status: "400",
        description: "OpenAI error shape, type `invalid_request_error`: a body that is not JSON, or not an object, or sent without a JSON content type; or a bad field, named in `param`.",
    },
    Shared {
        applies: has_body,
        status: "413",
        description: "OpenAI error shape, type `invalid_request_error`: the body is over 1 MiB.",
    },
    Shared {
        applies: any,
        status: "401",
        description: "OpenAI error shape, code `invalid_api_key`: no valid API key (a session cookie is not one).",
    },
];

/// Adds [`API_ANSWERS`] and [`GATEWAY_ANSWERS`] where they apply.
struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for (path, item) in &mut openapi.paths.paths {
            let (answers, content_type, schema) = if path.starts_with(routes::GATEWAY) {
                (GATEWAY_ANSWERS, "application/json", "ErrorBody")
            } else if path.starts_with(routes::API_V1) {
                (API_ANSWERS, "application/problem+json", "Problem")
            } else {
                continue;
            };
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                if path.ends_with("/openapi.json") {
                    continue;
                }
                for answer in answers {
                    if !(answer.applies)(operation)
                        || operation.responses.responses.contains_key(answer.status)
                    {
                        continue;
                    }
                    let response = ResponseBuilder::new()
                        .description(answer.description)
                        .content(
                            content_type,
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name(schema)))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .insert(answer.status.to_owned(), response.into());
                }
            }
        }
    }
}

/// The document: what the route table registers
/// (the [`crate::routes`] module), with the API's description, tags, shared
/// schemas, security schemes and the error answers every operation of a
/// kind shares.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, routed) = App::new()
            .into_utoipa_app()
            .configure(routes::operations)
            .service(scope(routes::API_V1).configure(routes::api_v1))
            .service(scope(routes::GATEWAY).configure(routes::gateway))
            .split_for_parts();
        let mut document = ApiDoc::openapi();
        document.merge(routed);
        SecuritySchemes.modify(&mut document);
        SharedAnswers.modify(&mut document);
        document
    })
}

/// This document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
#[get("/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".to_owned()));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

#[cfg(test)]
mod tests;
