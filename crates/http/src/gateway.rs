//! `/v1`: the OpenAI-compatible gateway, so existing OpenAI clients work
//! unchanged with a Promptyard API key as their API key.
//!
//! - `GET /v1/models`: OpenAI's list format;
//! - `POST /v1/chat/completions`: OpenAI's request, response and
//!   `chat.completion.chunk` stream formats (ending with `data: [DONE]`,
//!   with a usage chunk when `stream_options.include_usage` is set); usage
//!   is recorded for the key's owner;
//! - errors use OpenAI's shape, `{"error": {"message", "type", "param",
//!   "code"}}`: 401 for a missing or bad key (a session cookie is not
//!   enough), 404 `model_not_found`, 400 `invalid_request_error` for a bad
//!   body, 502 `provider_error`. A stream that fails after its first chunk
//!   sends one `data: {"error": {...}}` and ends without `[DONE]`; nothing
//!   of it is recorded.

mod error;
mod request;
pub mod wire;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_web::{get, post};
use futures_util::stream::{self, StreamExt};
use promptyard_services::providers::StreamEvent;
use promptyard_services::{AuthError, KeyCaller, LlmCaller};
use serde_json::{Map, Value};

pub use self::error::GatewayError;
use self::request::CompletionRequest;
use self::wire::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice,
    ChunkChoice, Delta, Envelope, ErrorBody, ModelList, WireModel, WireUsage,
};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Bearer, bearer};
use crate::json::{ApiJson, Fields, FromJsonObject};
use crate::sse;

/// The body limit of chat completions (long prompts fit).
pub const GATEWAY_BODY_LIMIT: usize = 1024 * 1024;

/// The gateway's answer for a request the route table has no handler
/// for: 405 `method_not_allowed` for one of its paths, else 404
/// `unknown_url`, in OpenAI's shape.
pub(crate) async fn no_route(req: HttpRequest) -> HttpResponse {
    if crate::routes::is_routed(req.path()) {
        error::method_not_allowed(req).await
    } else {
        error::unknown_url(req).await
    }
}

/// The API key in `Authorization: Bearer`, with its owner and limits;
/// nothing else authenticates here.
#[derive(Debug, Clone)]
pub struct GatewayCaller {
    pub key: KeyCaller,
}

impl GatewayCaller {
    /// The caller of an LLM request: the key's limits apply.
    pub fn llm_caller(&self) -> LlmCaller {
        self.key.llm_caller()
    }
}

impl FromRequest for GatewayCaller {
    type Error = GatewayError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, GatewayError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = match bearer(req) {
            Bearer::Key(key) => Some(key),
            Bearer::Absent | Bearer::Malformed => None,
        };
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let key = key.ok_or_else(GatewayError::unauthorized)?;
            let state =
                state.ok_or_else(|| GatewayError::from(ApiError::unexpected("no AppState")))?;
            match state.api_keys.authenticate(&key).await {
                Ok(key) => Ok(Self { key }),
                Err(AuthError::Unauthenticated) => Err(GatewayError::unauthorized()),
                Err(other) => Err(ApiError::from(other).into()),
            }
        })
    }
}

/// `GET /v1/models`.
#[utoipa::path(
    tag = "openai", operation_id = "openai_models",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "OpenAI's list format: every model, or those of the key's `limits.models`.", body = ModelList),
    ),
)]
#[get("/models")]
pub(crate) async fn models(state: web::Data<AppState>, caller: GatewayCaller) -> HttpResponse {
    let caller = caller.llm_caller();
    HttpResponse::Ok().json(ModelList {
        object: "list",
        data: state
            .playground
            .models_for(&caller)
            .map(|m| WireModel {
                id: m.id.clone(),
                object: "model",
                created: 0,
                owned_by: m.provider.clone(),
            })
            .collect(),
    })
}

/// The body as a JSON object, with the JSON extractor's checks.
struct RawObject(Map<String, Value>);

impl FromJsonObject for RawObject {
    const LIMIT: usize = GATEWAY_BODY_LIMIT;

    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self(fields.object().clone()))
    }
}

/// `POST /v1/chat/completions`.
#[utoipa::path(
    tag = "openai",
    security(("api_key" = [])),
    request_body(content = ChatCompletionRequest, description = "OpenAI's chat completion request, with the playground's limits; the body itself at most 1 MiB.", content_type = "application/json"),
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream: true` `chat.completion.chunk` server-sent events (`ChatCompletionChunk`) ending with `data: [DONE]`.", body = ChatCompletion),
        (status = 404, description = "OpenAI error shape, code `model_not_found` (also for a model outside the key's `limits.models`).", body = ErrorBody),
        (status = 429, description = "OpenAI error shape, with `Retry-After`: type `rate_limit_error`, code `rate_limit_exceeded` (a per-minute limit of the key); or type and code `insufficient_quota` (its budget of the period is spent).", body = ErrorBody),
        (status = 502, description = "OpenAI error shape, type and code `provider_error`.", body = ErrorBody),
    ),
)]
#[post("/chat/completions")]
pub(crate) async fn chat_completions(
    state: web::Data<AppState>,
    caller: GatewayCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, GatewayError> {
    let body = ApiJson::<RawObject>::from_request(&req, &mut payload.into_inner()).await?;
    let request = CompletionRequest::parse(body.0.0)?;
    let envelope = Envelope {
        id: format!("chatcmpl-{}", state.ids().new_id().replace('-', "")),
        created: state.clock().now().timestamp(),
        model: request.chat.model.clone(),
        system_fingerprint: None,
    };
    if !request.stream {
        let completion = state
            .playground
            .gateway_complete(&caller.llm_caller(), request.chat)
            .await?;
        return Ok(HttpResponse::Ok().json(ChatCompletion {
            object: "chat.completion",
            envelope,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: completion.content,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: completion.finish_reason,
            }],
            usage: completion.usage.into(),
        }));
    }
    let mut events = state
        .playground
        .gateway_stream(&caller.llm_caller(), request.chat)
        .await?;
    // A failure before the first chunk is an ordinary error answer.
    let first = match events.next().await {
        Some(Ok(event)) => event,
        Some(Err(err)) => return Err(err.into()),
        None => return Err(GatewayError::provider("The provider sent nothing.")),
    };
    let chunks = Chunks {
        envelope,
        include_usage: request.include_usage,
    };
    let role = chunks.delta(
        Delta {
            role: Some("assistant"),
            content: Some(String::new()),
        },
        None,
    );
    let frames = stream::once(async move { Ok(first) })
        .chain(events)
        .map(move |event| chunks.frames(event))
        .flat_map(stream::iter);
    let body = stream::once(async move { sse::json(&role) }).chain(frames);
    Ok(sse::response(body, state.settings.sse_keep_alive))
}

/// The chunks of one streamed answer.
struct Chunks {
    envelope: Envelope,
    include_usage: bool,
}

impl Chunks {
    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<WireUsage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            object: "chat.completion.chunk",
            envelope: self.envelope.clone(),
            choices,
            usage: self.include_usage.then_some(usage),
        }
    }

    fn delta(&self, delta: Delta, finish_reason: Option<String>) -> ChatCompletionChunk {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        };
        self.chunk(vec![choice], None)
    }

    /// The frames of one provider event: a content chunk; or the finish
    /// chunk, the usage chunk if asked for, and `[DONE]`; or, for a
    /// failure, one error (and no `[DONE]`).
    fn frames(
        &self,
        event: Result<StreamEvent, promptyard_services::PlaygroundError>,
    ) -> Vec<actix_web::web::Bytes> {
        match event {
            Ok(StreamEvent::Delta(text)) => {
                let content = Delta {
                    role: None,
                    content: Some(text),
                };
                vec![sse::json(&self.delta(content, None))]
            }
            Ok(StreamEvent::Done {
                usage,
                finish_reason,
            }) => {
                let mut frames = vec![sse::json(
                    &self.delta(Delta::default(), Some(finish_reason)),
                )];
                if self.include_usage {
                    frames.push(sse::json(&self.chunk(vec![], Some(usage.into()))));
                }
                frames.push(sse::data(&"[DONE]"));
                frames
            }
            Err(err) => {
                let mut err = GatewayError::from(err);
                // Mid-stream, whatever failed is the provider's stream.
                err.detail.kind = "provider_error";
                err.detail.code = Some("provider_error");
                err.detail.param = None;
                vec![sse::json(&err.body())]
            }
        }
    }
}

#[cfg(test)]
mod tests;
