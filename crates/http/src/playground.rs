//! `/api/v1/playground`: models, conversations, messages (streamed or
//! not), usage. Every endpoint is **auth** (session cookie or API key).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{delete, get, post};
use futures_util::stream::{self, StreamExt};
use promptyard_services::playground::PageLimit;
use promptyard_services::{
    ConversationId, ConversationInfo, ConversationWithMessages, Exchange, ExchangeEvent,
    FieldError, Page, PageRequest, PlaygroundError, UsageSummary,
};
use serde_json::json;

use crate::AppState;
use crate::dto::{CreateConversationBody, ModelBody, ModelsBody, SendMessageBody};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::json::ApiJson;
use crate::problem::Problem;
use crate::sse;

/// The body limit of message posts (long prompts fit).
pub const MESSAGE_BODY_LIMIT: usize = 1024 * 1024;

/// The models conversations can use.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The models the caller may use: every model (`echo-1` is always there), or those of the API key's `limits.models`.", body = ModelsBody),
    ),
)]
#[get("/playground/models")]
pub(crate) async fn models(state: web::Data<AppState>, caller: CurrentUser) -> HttpResponse {
    let caller = caller.llm_caller();
    HttpResponse::Ok().json(ModelsBody {
        models: state
            .playground
            .models_for(&caller)
            .map(ModelBody::from)
            .collect(),
    })
}

/// Start a conversation.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateConversationBody,
    responses(
        (status = 201, description = "Created.", body = ConversationInfo),
        (status = 422, description = "`validation_failed`: an unknown model (or one outside the API key's `limits.models`), a title over 200 characters, ...", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/playground/conversations")]
pub(crate) async fn create_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ApiJson<CreateConversationBody>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .playground
        .create_conversation(&caller.llm_caller(), body.0.into())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// The caller's conversations, newest first, a page at a time.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20."),
        ("before" = Option<String>, Query, description = "The `next_before` of the previous page: the id of one of the caller's conversations."),
    ),
    responses(
        (status = 200, description = "A page; `next_before` is `null` on the last one.", body = Page),
        (status = 422, description = "`validation_failed`: a bad `limit`, or a `before` that is not one of the caller's conversations.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/playground/conversations")]
pub(crate) async fn list_conversations(
    state: web::Data<AppState>,
    caller: CurrentUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(req.query_string())?;
    let page = state
        .playground
        .list_conversations(caller.user_id(), page)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The query of a conversation list: `limit` and `before`, each at most
/// once (a repeated one is its last value).
fn page_request(query: &str) -> Result<PageRequest, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            "query",
            "is not a valid query string",
        )])
    })?;
    let (mut limit, mut before) = (None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => limit = Some(value),
            "before" => before = Some(ConversationId::from(value)),
            _ => {}
        }
    }
    let limit = match limit {
        Some(text) => PageLimit::parse(&text)
            .map_err(|message| ApiError::Validation(vec![FieldError::new("limit", message)]))?,
        None => PageLimit::default(),
    };
    let page = PageRequest { limit, before };
    Ok(page)
}

/// One conversation with its messages, oldest first.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    responses(
        (status = 200, description = "The conversation and its messages.", body = ConversationWithMessages),
        (status = 404, description = "`not_found` (another user's conversation too).", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/playground/conversations/{id}")]
pub(crate) async fn get_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .playground
        .get_conversation(caller.user_id(), &id)
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Delete a conversation and its messages (its usage stays).
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`not_found`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/playground/conversations/{id}")]
pub(crate) async fn delete_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    state
        .playground
        .delete_conversation(caller.user_id(), &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a message and get the answer, whole or streamed.
///
/// With `"stream": true` the answer is `text/event-stream`: `data:
/// {"delta": "..."}` events as text arrives, then one `data: {"done": true,
/// "assistant_message": {...}, "usage": {...}}`. A failure before the first
/// delta is a 502 problem; after it, one `event: error` with `data:
/// {"code": "provider_error", "detail": ...}` ends the stream. Nothing of a
/// failed exchange is stored.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    request_body = SendMessageBody,
    responses(
        (status = 201, description = "The stored exchange.", body = Exchange),
        (status = 200, description = "With `stream: true`: server-sent events.", content_type = "text/event-stream"),
        (status = 404, description = "`not_found`.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: over 1 MiB.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: content, temperature or max_tokens out of range, or a model the API key may not use.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "With an API key that has limits: `rate_limited` (a per-minute limit) or `insufficient_quota` (the budget of the period is spent), with `Retry-After`; nothing was sent or stored.", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`provider_error`: the provider failed or timed out; nothing was stored.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/playground/conversations/{id}/messages")]
pub(crate) async fn send_message(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<ConversationId>,
    body: ApiJson<SendMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let (stream, message) = body.0.into_message();
    if !stream {
        let exchange = state
            .playground
            .send_message(&caller.llm_caller(), &id, message)
            .await?;
        return Ok(HttpResponse::Created().json(exchange));
    }
    let mut events = state
        .playground
        .stream_message(&caller.llm_caller(), &id, message)
        .await?;
    // A failure before the first event is still an ordinary error answer.
    let first = match events.next().await {
        Some(Ok(event)) => event,
        Some(Err(err)) => return Err(err.into()),
        None => return Err(ApiError::Provider("the provider sent nothing".to_owned())),
    };
    let body = stream::once(async move { Ok(first) })
        .chain(events)
        .map(sse_event);
    Ok(sse::response(body, state.settings.sse_keep_alive))
}

fn sse_event(event: Result<ExchangeEvent, PlaygroundError>) -> Bytes {
    match event {
        Ok(ExchangeEvent::Delta(delta)) => sse::data(&json!({"delta": delta})),
        Ok(ExchangeEvent::Done(exchange)) => sse::data(
            &json!({"done": true, "assistant_message": exchange.assistant_message, "usage": exchange.usage}),
        ),
        Err(err) => {
            let err = ApiError::from(err);
            Bytes::from(format!(
                "event: error\ndata: {}\n\n",
                json!({"code": err.code(), "detail": err.to_string()})
            ))
        }
    }
}

/// The caller's token usage, total and per model.
#[utoipa::path(
    tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Totals; `by_model` lists only models with usage. Usage stays when conversations are deleted.", body = UsageSummary),
    ),
)]
#[get("/playground/usage")]
pub(crate) async fn usage(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let summary = state.playground.usage(caller.user_id()).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[cfg(test)]
mod tests;
