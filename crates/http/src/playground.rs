//! `/api/v1/playground`: models, conversations, messages (streamed or
//! not), usage. Every endpoint is **auth** (session cookie or API key).

use std::collections::HashMap;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream::{self, StreamExt};
use promptyard_services::{ExchangeEvent, MessageOptions, PlaygroundError};
use serde_json::json;

use crate::AppState;
use crate::dto::{
    ConversationBody, ConversationPageBody, ConversationWithMessagesBody, CreateConversationBody,
    ExchangeBody, ModelBody, ModelsBody, SendMessageBody, UsageSummaryBody,
};
use crate::error::ApiError;
use crate::extract::CurrentUser;
use crate::json::ApiJson;
use crate::problem::Problem;
use crate::sse;

/// The body limit of message posts (long prompts fit).
pub const MESSAGE_BODY_LIMIT: usize = 1024 * 1024;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/playground")
            .service(crate::resource("/models").route(web::get().to(models)))
            .service(
                crate::resource("/conversations")
                    .route(web::post().to(create_conversation))
                    .route(web::get().to(list_conversations)),
            )
            .service(
                crate::resource("/conversations/{id}")
                    .route(web::get().to(get_conversation))
                    .route(web::delete().to(delete_conversation)),
            )
            .service(
                crate::resource("/conversations/{id}/messages")
                    .app_data(web::PayloadConfig::new(MESSAGE_BODY_LIMIT))
                    .route(web::post().to(send_message)),
            )
            .service(crate::resource("/usage").route(web::get().to(usage))),
    );
}

/// The models conversations can use.
#[utoipa::path(
    get, path = "/api/v1/playground/models", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every model; `echo-1` is always there.", body = ModelsBody),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn models(state: web::Data<AppState>, _caller: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(ModelsBody {
        models: state
            .playground
            .models()
            .iter()
            .map(ModelBody::from)
            .collect(),
    })
}

/// Start a conversation.
#[utoipa::path(
    post, path = "/api/v1/playground/conversations", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    request_body = CreateConversationBody,
    responses(
        (status = 201, description = "Created.", body = ConversationBody),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown model, a title over 200 characters, ...", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    body: ApiJson<CreateConversationBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let created = state
        .playground
        .create_conversation(
            &caller.user.id,
            &body.model,
            body.title.as_deref(),
            body.system_prompt.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(ConversationBody::from(created)))
}

/// The caller's conversations, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/playground/conversations", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20."),
        ("before" = Option<String>, Query, description = "The `next_before` of the previous page: the id of one of the caller's conversations."),
    ),
    responses(
        (status = 200, description = "A page; `next_before` is `null` on the last one.", body = ConversationPageBody),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad `limit`, or a `before` that is not one of the caller's conversations.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_conversations(
    state: web::Data<AppState>,
    caller: CurrentUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| {
            ApiError::Validation(vec![promptyard_services::FieldError::new(
                "query",
                "is not a valid query string",
            )])
        })?;
    let query: HashMap<String, String> = query.into_iter().collect();
    let limit = match query.get("limit") {
        None => None,
        Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
            ApiError::Validation(vec![promptyard_services::FieldError::new(
                "limit",
                "must be a whole number from 1 to 100",
            )])
        })?),
    };
    let page = state
        .playground
        .list_conversations(
            &caller.user.id,
            limit,
            query.get("before").map(String::as_str),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversationPageBody {
        items: page.items.into_iter().map(ConversationBody::from).collect(),
        next_before: page.next_before,
    }))
}

/// One conversation with its messages, oldest first.
#[utoipa::path(
    get, path = "/api/v1/playground/conversations/{id}", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    responses(
        (status = 200, description = "The conversation and its messages.", body = ConversationWithMessagesBody),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (another user's conversation too).", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (conversation, messages) = state
        .playground
        .get_conversation(&caller.user.id, &id)
        .await?;
    Ok(HttpResponse::Ok().json(ConversationWithMessagesBody {
        conversation: conversation.into(),
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a conversation and its messages (its usage stays).
#[utoipa::path(
    delete, path = "/api/v1/playground/conversations/{id}", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_conversation(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .playground
        .delete_conversation(&caller.user.id, &id)
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
    post, path = "/api/v1/playground/conversations/{id}/messages", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The conversation's id.")),
    request_body = SendMessageBody,
    responses(
        (status = 201, description = "The stored exchange.", body = ExchangeBody),
        (status = 200, description = "With `stream: true`: server-sent events.", content_type = "text/event-stream"),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: over 1 MiB.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: content, temperature or max_tokens out of range.", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`provider_error`: the provider failed or timed out; nothing was stored.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn send_message(
    state: web::Data<AppState>,
    caller: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<SendMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let options = MessageOptions {
        temperature: body.temperature,
        max_tokens: body.max_tokens.and_then(|m| u32::try_from(m).ok()),
    };
    if body.stream != Some(true) {
        let exchange = state
            .playground
            .send_message(&caller.user.id, &id, &body.content, options)
            .await?;
        return Ok(HttpResponse::Created().json(ExchangeBody::from(exchange)));
    }
    let mut events = state
        .playground
        .stream_message(&caller.user.id, &id, &body.content, options)
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
        Ok(ExchangeEvent::Done(exchange)) => {
            let exchange = ExchangeBody::from(exchange);
            sse::data(
                &json!({"done": true, "assistant_message": exchange.assistant_message, "usage": exchange.usage}),
            )
        }
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
    get, path = "/api/v1/playground/usage", tag = "playground",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Totals; `by_model` lists only models with usage. Usage stays when conversations are deleted.", body = UsageSummaryBody),
        (status = 401, description = "`unauthenticated`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn usage(
    state: web::Data<AppState>,
    caller: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let summary = state.playground.usage(&caller.user.id).await?;
    Ok(HttpResponse::Ok().json(UsageSummaryBody::from(summary)))
}

#[cfg(test)]
mod tests;
