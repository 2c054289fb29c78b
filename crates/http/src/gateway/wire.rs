//! OpenAI's wire format, as the gateway reads and writes it: the chat
//! completion request, the completion, the stream's chunks, the model list
//! and the error shape. Serde structs with their OpenAPI schemas; nothing
//! here knows where ids, timestamps or answers come from.

use promptyard_services::providers::Usage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/chat/completions`. Fields OpenAI clients send that the
/// gateway does not use (`top_p`, `user`, ...) are ignored. Absent and
/// `null` are the same.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// One of `GET /v1/models`.
    #[schema(example = "echo-1")]
    pub model: Option<String>,
    /// At least one.
    pub messages: Option<Vec<RequestMessage>>,
    /// 0 to 2.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// 1 to 32768 (`max_completion_tokens` wins when both are sent).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 32768)]
    pub max_tokens: Option<f64>,
    /// 1 to 32768.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 32768)]
    pub max_completion_tokens: Option<f64>,
    /// Answer as `chat.completion.chunk` server-sent events.
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    /// Only 1.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1)]
    pub n: Option<f64>,
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and `"usage": null` on the others).
    pub include_usage: Option<bool>,
}

/// A message of the request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RequestMessage {
    /// `system`, `developer`, `user` or `assistant`.
    #[schema(example = "user")]
    pub role: Option<String>,
    /// At most 100000 characters; `null` is empty.
    #[serde(default)]
    pub content: Option<RequestContent>,
}

/// A message's content: text, or text parts (concatenated).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged, expecting = "a string or an array of text parts")]
pub enum RequestContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// A content part; only `{"type": "text", "text": ...}` is supported.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ContentPart {
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// Tokens, as OpenAI counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WireUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl From<Usage> for WireUsage {
    fn from(usage: Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens(),
        }
    }
}

/// What every completion and chunk of one answer shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Envelope {
    /// `chatcmpl-` and a new id.
    #[schema(example = "chatcmpl-0193a1b27c4d7e8f9a0b1c2d3e4f5a6b")]
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    #[schema(example = "echo-1")]
    pub model: String,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub system_fingerprint: Option<()>,
}

/// A whole answer (`"object": "chat.completion"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatCompletion {
    #[schema(value_type = String, example = "chat.completion")]
    pub object: &'static str,
    #[serde(flatten)]
    pub envelope: Envelope,
    pub choices: Vec<Choice>,
    pub usage: WireUsage,
}

/// The one choice of a completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub logprobs: Option<()>,
    #[schema(example = "stop")]
    pub finish_reason: String,
}

/// The answer's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AssistantMessage {
    #[schema(value_type = String, example = "assistant")]
    pub role: &'static str,
    pub content: String,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub refusal: Option<()>,
}

/// One server-sent event of a streamed answer
/// (`"object": "chat.completion.chunk"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatCompletionChunk {
    #[schema(value_type = String, example = "chat.completion.chunk")]
    pub object: &'static str,
    #[serde(flatten)]
    pub envelope: Envelope,
    /// One choice; none in the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Only with `stream_options.include_usage`: `null`, except in the
    /// last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<WireUsage>)]
    pub usage: Option<Option<WireUsage>>,
}

/// The one choice of a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub logprobs: Option<()>,
    /// `null` until the last content chunk.
    pub finish_reason: Option<String>,
}

/// What a chunk adds: the role (first chunk), text, or nothing (the
/// chunk that carries the finish reason).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "assistant")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `GET /v1/models` (`"object": "list"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelList {
    #[schema(value_type = String, example = "list")]
    pub object: &'static str,
    pub data: Vec<WireModel>,
}

/// A model (`"object": "model"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WireModel {
    #[schema(example = "echo-1")]
    pub id: String,
    #[schema(value_type = String, example = "model")]
    pub object: &'static str,
    /// Always 0.
    pub created: i64,
    /// The provider's name.
    #[schema(example = "echo")]
    pub owned_by: String,
}

/// OpenAI's error shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `provider_error`, `server_error`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "invalid_request_error")]
    pub kind: &'static str,
    /// The request field at fault, or `null`.
    #[schema(value_type = Option<String>, example = "model")]
    pub param: Option<&'static str>,
    /// `invalid_api_key`, `model_not_found`, `provider_error`, ... or `null`.
    #[schema(value_type = Option<String>, example = "model_not_found")]
    pub code: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "echo-1".into(),
            system_fingerprint: None,
        }
    }

    #[test]
    fn a_completion_is_spelled_as_openai_spells_it() {
        let completion = ChatCompletion {
            object: "chat.completion",
            envelope: envelope(),
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: "hi".into(),
                    refusal: None,
                },
                logprobs: None,
                finish_reason: "stop".into(),
            }],
            usage: Usage {
                prompt_tokens: 2,
                completion_tokens: 1,
            }
            .into(),
        };
        assert_eq!(
            serde_json::to_value(&completion).expect("json"),
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "echo-1",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null},
                    "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
                "system_fingerprint": null,
            })
        );
    }

    #[test]
    fn chunks_carry_usage_only_when_asked() {
        let chunk = |usage| ChatCompletionChunk {
            object: "chat.completion.chunk",
            envelope: envelope(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: None,
                    content: Some("x".into()),
                },
                logprobs: None,
                finish_reason: None,
            }],
            usage,
        };
        let plain = serde_json::to_value(chunk(None)).expect("json");
        assert!(plain.get("usage").is_none(), "{plain}");
        assert_eq!(plain["choices"][0]["delta"], json!({"content": "x"}));
        let asked = serde_json::to_value(chunk(Some(None))).expect("json");
        assert_eq!(asked["usage"], serde_json::Value::Null);
        assert_eq!(
            serde_json::to_value(Delta::default()).expect("json"),
            json!({})
        );
    }

    #[test]
    fn requests_read_text_or_parts_and_ignore_unknown_fields() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "echo-1", "top_p": 1, "user": "u",
            "messages": [{"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": null}],
            "stream_options": {"include_usage": true}
        }))
        .expect("request");
        let messages = request.messages.expect("messages");
        assert!(matches!(&messages[0].content, Some(RequestContent::Text(t)) if t == "a"));
        assert!(
            matches!(&messages[1].content, Some(RequestContent::Parts(p)) if p[0].kind == "text")
        );
        assert!(messages[2].content.is_none());
        assert_eq!(
            request.stream_options.and_then(|o| o.include_usage),
            Some(true)
        );

        let err = serde_json::from_value::<ChatCompletionRequest>(
            json!({"messages": [{"role": "user", "content": 5}]}),
        )
        .expect_err("a number is no content");
        assert!(
            err.to_string()
                .contains("a string or an array of text parts"),
            "{err}"
        );
    }
}
