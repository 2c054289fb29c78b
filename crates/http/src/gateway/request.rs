//! A chat completion request, from OpenAI's wire format to the
//! [`ChatRequest`] the services take, with the playground's own parsers
//! (content length, temperature, `max_tokens`), so `/v1` and the
//! playground keep the same rules in the same words.

use promptyard_services::playground::{MaxTokens, MessageContent, Temperature};
use promptyard_services::providers::{ChatMessage, ChatRequest, Role};
use serde_json::{Map, Value};

use super::error::GatewayError;
use super::wire::{ChatCompletionRequest, RequestContent, RequestMessage};

/// A parsed chat completion request.
#[derive(Debug)]
pub(super) struct CompletionRequest {
    pub(super) chat: ChatRequest,
    pub(super) stream: bool,
    pub(super) include_usage: bool,
}

/// The request field a deserialisation error is about, as `param` names
/// it (`messages` for anything inside a message).
fn param_of(path: &serde_path_to_error::Path) -> Option<&'static str> {
    let Some(serde_path_to_error::Segment::Map { key }) = path.iter().next() else {
        return None;
    };
    Some(match key.as_str() {
        "model" => "model",
        "messages" => "messages",
        "temperature" => "temperature",
        "max_tokens" | "max_completion_tokens" => "max_tokens",
        "stream" => "stream",
        "stream_options" => "stream_options",
        "n" => "n",
        _ => return None,
    })
}

/// A rule of the playground's, broken in `param`: its message, prefixed
/// with the field as OpenAI's messages are.
fn broken(param: &'static str, message: &str) -> GatewayError {
    GatewayError::invalid(Some(param), format!("{param} {message}."))
}

fn role_of(role: Option<&str>) -> Result<Role, GatewayError> {
    match role {
        Some("system" | "developer") => Ok(Role::System),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some(other) => Err(GatewayError::invalid(
            Some("messages"),
            format!("The role {other:?} is not supported (system, developer, user, assistant)."),
        )),
        None => Err(GatewayError::invalid(
            Some("messages"),
            "Every message needs a role.",
        )),
    }
}

fn text_of(content: Option<RequestContent>) -> Result<String, GatewayError> {
    let text = match content {
        None => String::new(),
        Some(RequestContent::Text(text)) => text,
        Some(RequestContent::Parts(parts)) => parts
            .into_iter()
            .map(|part| match (part.kind.as_str(), part.text) {
                ("text", Some(text)) => Ok(text),
                _ => Err(GatewayError::invalid(
                    Some("messages"),
                    "Only text content parts are supported.",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
    };
    MessageContent::check_history(&text)
        .map_err(|message| broken("messages", &format!("content {message}")))?;
    Ok(text)
}

fn message_of(message: RequestMessage) -> Result<ChatMessage, GatewayError> {
    let role = role_of(message.role.as_deref())?;
    Ok(ChatMessage::new(role, text_of(message.content)?))
}

impl CompletionRequest {
    /// The request in `body`, or 400 `invalid_request_error` naming the
    /// field at fault.
    pub(super) fn parse(body: Map<String, Value>) -> Result<Self, GatewayError> {
        let wire: ChatCompletionRequest = serde_path_to_error::deserialize(Value::Object(body))
            .map_err(|err| GatewayError::invalid(param_of(err.path()), err.inner().to_string()))?;
        let model = wire.model.filter(|m| !m.is_empty()).ok_or_else(|| {
            GatewayError::invalid(
                Some("model"),
                "You must provide a model parameter (a string).",
            )
        })?;
        let messages = wire.messages.ok_or_else(|| {
            GatewayError::invalid(Some("messages"), "You must provide messages (an array).")
        })?;
        if messages.is_empty() {
            return Err(GatewayError::invalid(
                Some("messages"),
                "messages must not be empty.",
            ));
        }
        let messages = messages
            .into_iter()
            .map(message_of)
            .collect::<Result<Vec<_>, _>>()?;
        let temperature = wire
            .temperature
            .map(Temperature::parse)
            .transpose()
            .map_err(|message| broken("temperature", &message))?;
        let max_tokens = wire
            .max_completion_tokens
            .or(wire.max_tokens)
            .map(MaxTokens::parse)
            .transpose()
            .map_err(|message| broken("max_tokens", &message))?;
        if wire.n.is_some_and(|n| n != 1.0) {
            return Err(GatewayError::invalid(Some("n"), "Only n = 1 is supported."));
        }
        Ok(Self {
            chat: ChatRequest {
                model,
                messages,
                temperature: temperature.map(Temperature::get),
                max_tokens: max_tokens.map(MaxTokens::get),
            },
            stream: wire.stream.unwrap_or(false),
            include_usage: wire
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<CompletionRequest, GatewayError> {
        let Value::Object(map) = body else {
            panic!("an object")
        };
        CompletionRequest::parse(map)
    }

    fn param(body: Value) -> Option<&'static str> {
        parse(body).expect_err("invalid").detail.param
    }

    #[test]
    fn a_request_becomes_the_services_chat_request() {
        let request = parse(json!({
            "model": "echo-1", "temperature": 0.5, "max_tokens": 9, "max_completion_tokens": 7,
            "stream": true, "stream_options": {"include_usage": true}, "n": 1,
            "messages": [{"role": "developer", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": null}],
        }))
        .expect("valid");
        assert_eq!(
            request.chat,
            ChatRequest {
                model: "echo-1".into(),
                messages: vec![
                    ChatMessage::new(Role::System, "be terse"),
                    ChatMessage::new(Role::User, "ab"),
                    ChatMessage::new(Role::Assistant, ""),
                ],
                temperature: Some(0.5),
                max_tokens: Some(7),
            }
        );
        assert!(request.stream && request.include_usage);
    }

    #[test]
    fn each_bad_field_is_named_in_param() {
        let user = json!([{"role": "user", "content": "hi"}]);
        for (body, expected) in [
            (json!({"messages": user}), Some("model")),
            (json!({"model": "", "messages": user}), Some("model")),
            (json!({"model": 5, "messages": user}), Some("model")),
            (json!({"model": "m"}), Some("messages")),
            (json!({"model": "m", "messages": []}), Some("messages")),
            (json!({"model": "m", "messages": "hi"}), Some("messages")),
            (
                json!({"model": "m", "messages": [{"content": "x"}]}),
                Some("messages"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                Some("messages"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                Some("messages"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(100_001)}]}),
                Some("messages"),
            ),
            (
                json!({"model": "m", "messages": user, "temperature": 2.5}),
                Some("temperature"),
            ),
            (
                json!({"model": "m", "messages": user, "temperature": "hot"}),
                Some("temperature"),
            ),
            (
                json!({"model": "m", "messages": user, "max_tokens": 0}),
                Some("max_tokens"),
            ),
            (
                json!({"model": "m", "messages": user, "max_completion_tokens": 32_769}),
                Some("max_tokens"),
            ),
            (
                json!({"model": "m", "messages": user, "stream": "yes"}),
                Some("stream"),
            ),
            (json!({"model": "m", "messages": user, "n": 2}), Some("n")),
        ] {
            assert_eq!(param(body.clone()), expected, "{body}");
        }
    }

    #[test]
    fn the_playgrounds_words_are_used_for_its_rules() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let err =
            parse(json!({"model": "m", "messages": user, "max_tokens": 1.5})).expect_err("bad");
        assert_eq!(
            err.detail.message,
            format!(
                "max_tokens {}.",
                MaxTokens::parse(1.5).expect_err("fractional")
            )
        );
        let err =
            parse(json!({"model": "m", "messages": user, "temperature": -1})).expect_err("bad");
        assert_eq!(
            err.detail.message,
            format!(
                "temperature {}.",
                Temperature::parse(-1.0).expect_err("negative")
            )
        );
    }
}
