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

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::stream::{self, StreamExt};
use promptyard_services::playground::{CONTENT_MAX_CHARS, MAX_TOKENS_MAX, TEMPERATURE_MAX};
use promptyard_services::providers::{ChatMessage, ChatRequest, Role, StreamEvent, Usage};
use promptyard_services::{AuthError, PlaygroundError, UserId};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Bearer, bearer};
use crate::json::{ApiJson, Fields, FromJsonObject};
use crate::sse;

/// The body limit of chat completions (long prompts fit).
pub const GATEWAY_BODY_LIMIT: usize = 1024 * 1024;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .app_data(web::PayloadConfig::new(GATEWAY_BODY_LIMIT))
            .service(
                web::resource("/models")
                    .route(web::get().to(models))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/chat/completions")
                    .route(web::post().to(chat_completions))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(unknown_url)),
    );
}

/// An error in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl GatewayError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
        }
    }

    /// 400 `invalid_request_error` about `param`.
    pub fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            param,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                message,
            )
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

impl From<ApiError> for GatewayError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::PayloadTooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                None,
                "The request body is larger than 1 MiB.",
            ),
            ApiError::Validation(errors) => Self::invalid(
                None,
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::MalformedBody(message) => Self::invalid(None, message),
            ApiError::UnsupportedMediaType => {
                Self::invalid(None, "The body must be sent as application/json.")
            }
            ApiError::Unauthenticated => unauthorized(),
            ApiError::Unavailable(source) => {
                tracing::warn!(cause = %crate::error::cause_chain(source.as_ref()), "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("unavailable"),
                    "The service is temporarily unavailable; retry later.",
                )
            }
            other => {
                if let ApiError::Unexpected(source) = &other {
                    tracing::error!(cause = %crate::error::cause_chain(source.as_ref()), "unexpected error");
                }
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    None,
                    "The server had an error while processing your request.",
                )
            }
        }
    }
}

impl From<PlaygroundError> for GatewayError {
    fn from(err: PlaygroundError) -> Self {
        match err {
            PlaygroundError::UnknownModel(model) => Self {
                param: Some("model"),
                ..Self::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("The model `{model}` does not exist or you do not have access to it."),
                )
            },
            PlaygroundError::Provider(err) => {
                tracing::warn!(error = %err, "provider failed");
                provider_error(&err.to_string())
            }
            other => ApiError::from(other).into(),
        }
    }
}

fn provider_error(message: &str) -> GatewayError {
    GatewayError::new(
        StatusCode::BAD_GATEWAY,
        "provider_error",
        Some("provider_error"),
        message,
    )
}

fn unauthorized() -> GatewayError {
    GatewayError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        Some("invalid_api_key"),
        "Incorrect or missing API key. Send a Promptyard API key as `Authorization: Bearer pyk_...`.",
    )
}

async fn unknown_url(req: HttpRequest) -> HttpResponse {
    GatewayError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        format!("Unknown request URL: {} {}.", req.method(), req.path()),
    )
    .error_response()
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    GatewayError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!("{} is not allowed on {}.", req.method(), req.path()),
    )
    .error_response()
}

/// The owner of the API key in `Authorization: Bearer`; nothing else
/// authenticates here.
#[derive(Debug, Clone)]
pub struct GatewayCaller {
    pub user_id: UserId,
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
            let key = key.ok_or_else(unauthorized)?;
            let state =
                state.ok_or_else(|| GatewayError::from(ApiError::unexpected("no AppState")))?;
            match state.api_keys.authenticate(&key).await {
                Ok(caller) => Ok(Self {
                    user_id: caller.user.id,
                }),
                Err(AuthError::Unauthenticated) => Err(unauthorized()),
                Err(other) => Err(ApiError::from(other).into()),
            }
        })
    }
}

/// `GET /v1/models`.
#[utoipa::path(
    get, path = "/v1/models", tag = "openai",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "OpenAI's list format: `{\"object\": \"list\", \"data\": [{\"id\", \"object\": \"model\", \"created\", \"owned_by\"}]}`.", content_type = "application/json"),
        (status = 401, description = "OpenAI error shape, code `invalid_api_key`.", content_type = "application/json"),
    ),
)]
pub async fn models(state: web::Data<AppState>, _caller: GatewayCaller) -> HttpResponse {
    let data: Vec<Value> = state
        .playground
        .models()
        .iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.provider}))
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

/// The body as a JSON object, with the JSON extractor's checks.
struct RawObject(Map<String, Value>);

impl FromJsonObject for RawObject {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        Some(Self(fields.object().clone()))
    }
}

/// A parsed chat completion request.
#[derive(Debug)]
struct CompletionRequest {
    chat: ChatRequest,
    stream: bool,
    include_usage: bool,
}

fn text_of(content: &Value) -> Result<String, GatewayError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => parts
            .iter()
            .map(
                |part| match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(text))) => Ok(text.as_str()),
                    _ => Err(GatewayError::invalid(
                        Some("messages"),
                        "Only text content parts are supported.",
                    )),
                },
            )
            .collect::<Result<Vec<&str>, _>>()
            .map(|texts| texts.concat()),
        _ => Err(GatewayError::invalid(
            Some("messages"),
            "A message's content must be a string or an array of text parts.",
        )),
    }
}

fn parse_request(body: &Map<String, Value>) -> Result<CompletionRequest, GatewayError> {
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        _ => {
            return Err(GatewayError::invalid(
                Some("model"),
                "You must provide a model parameter (a string).",
            ));
        }
    };
    let Some(Value::Array(raw_messages)) = body.get("messages") else {
        return Err(GatewayError::invalid(
            Some("messages"),
            "You must provide messages (an array).",
        ));
    };
    if raw_messages.is_empty() {
        return Err(GatewayError::invalid(
            Some("messages"),
            "messages must not be empty.",
        ));
    }
    let mut messages = Vec::with_capacity(raw_messages.len());
    for message in raw_messages {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => {
                return Err(GatewayError::invalid(
                    Some("messages"),
                    format!(
                        "The role {other:?} is not supported (system, developer, user, assistant)."
                    ),
                ));
            }
            None => {
                return Err(GatewayError::invalid(
                    Some("messages"),
                    "Every message needs a role.",
                ));
            }
        };
        let content = text_of(message.get("content").unwrap_or(&Value::Null))?;
        if content.chars().count() > CONTENT_MAX_CHARS {
            return Err(GatewayError::invalid(
                Some("messages"),
                format!("A message's content must be at most {CONTENT_MAX_CHARS} characters."),
            ));
        }
        messages.push(ChatMessage::new(role, content));
    }
    let temperature = match body.get("temperature") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_f64() {
            Some(t) if (0.0..=TEMPERATURE_MAX).contains(&t) => Some(t),
            _ => {
                return Err(GatewayError::invalid(
                    Some("temperature"),
                    format!("temperature must be a number from 0 to {TEMPERATURE_MAX}."),
                ));
            }
        },
    };
    let max_tokens = match body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
    {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=MAX_TOKENS_MAX).contains(&n) => Some(n),
            _ => {
                return Err(GatewayError::invalid(
                    Some("max_tokens"),
                    format!("max_tokens must be a whole number from 1 to {MAX_TOKENS_MAX}."),
                ));
            }
        },
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(GatewayError::invalid(
                Some("stream"),
                "stream must be true or false.",
            ));
        }
    };
    if body
        .get("n")
        .is_some_and(|n| !n.is_null() && n.as_u64() != Some(1))
    {
        return Err(GatewayError::invalid(Some("n"), "Only n = 1 is supported."));
    }
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(CompletionRequest {
        chat: ChatRequest {
            model,
            messages,
            temperature,
            max_tokens,
        },
        stream,
        include_usage,
    })
}

fn usage_json(usage: Usage) -> Value {
    json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens()})
}

/// `POST /v1/chat/completions`.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    security(("api_key" = [])),
    request_body(content = Object, description = "OpenAI's chat completion request: `model`, `messages` (`role` system/developer/user/assistant, `content` text or text parts, at most 100000 characters each), optional `temperature` (0 to 2), `max_tokens`/`max_completion_tokens` (1 to 32768), `stream`, `stream_options.include_usage`. The playground's limits; the body itself at most 1 MiB.", content_type = "application/json"),
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream: true` `chat.completion.chunk` server-sent events ending with `data: [DONE]`.", content_type = "application/json"),
        (status = 400, description = "OpenAI error shape, type `invalid_request_error`: a bad body.", content_type = "application/json"),
        (status = 401, description = "OpenAI error shape, code `invalid_api_key`.", content_type = "application/json"),
        (status = 404, description = "OpenAI error shape, code `model_not_found`.", content_type = "application/json"),
        (status = 502, description = "OpenAI error shape, type and code `provider_error`.", content_type = "application/json"),
    ),
)]
pub async fn chat_completions(
    state: web::Data<AppState>,
    caller: GatewayCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, GatewayError> {
    let body = ApiJson::<RawObject>::from_request(&req, &mut payload.into_inner()).await?;
    let request = parse_request(&body.0.0)?;
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = chrono::Utc::now().timestamp();
    let model = request.chat.model.clone();
    if !request.stream {
        let completion = state
            .playground
            .gateway_complete(&caller.user_id, request.chat)
            .await?;
        return Ok(HttpResponse::Ok().json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": completion.content, "refusal": null},
                "logprobs": null,
                "finish_reason": completion.finish_reason,
            }],
            "usage": usage_json(completion.usage),
            "system_fingerprint": null,
        })));
    }
    let mut events = state
        .playground
        .gateway_stream(&caller.user_id, request.chat)
        .await?;
    // A failure before the first chunk is an ordinary error answer.
    let first = match events.next().await {
        Some(Ok(event)) => event,
        Some(Err(err)) => return Err(err.into()),
        None => return Err(provider_error("The provider sent nothing.")),
    };
    let include_usage = request.include_usage;
    let chunk = move |delta: Value, finish: Value| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let role = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    let frames = stream::once(async move { Ok(first) })
        .chain(events)
        .map(move |event| match event {
            Ok(StreamEvent::Delta(text)) => vec![sse::data(&chunk(json!({"content": text}), Value::Null))],
            Ok(StreamEvent::Done { usage, finish_reason }) => {
                let mut frames = vec![sse::data(&chunk(json!({}), json!(finish_reason)))];
                if include_usage {
                    let mut last = chunk(json!({}), Value::Null);
                    last["choices"] = json!([]);
                    last["usage"] = usage_json(usage);
                    frames.push(sse::data(&last));
                }
                frames.push(sse::data(&"[DONE]"));
                frames
            }
            Err(err) => {
                let err = GatewayError::from(err);
                vec![sse::data(&json!({"error": {"message": err.message, "type": "provider_error", "param": null, "code": "provider_error"}}))]
            }
        })
        .flat_map(stream::iter);
    let body = stream::once(async move { sse::data(&role) }).chain(frames);
    Ok(sse::response(body, state.settings.sse_keep_alive))
}

#[cfg(test)]
mod tests;
