//! What the playground returns, as the API shows it: each type is both the
//! service's answer and the JSON (and OpenAPI schema) of the HTTP layer.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use promptyard_repositories::{Conversation, ConversationId, Message, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PlaygroundError;
use crate::providers::Usage;

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConversationInfo {
    #[schema(value_type = String, example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    pub id: ConversationId,
    /// `null` when none was given.
    pub title: Option<String>,
    #[schema(example = "echo-1")]
    pub model: String,
    /// Sent to the provider first; not stored as a message.
    pub system_prompt: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

view_from_row!(Conversation => ConversationInfo {
    same: [id, title, model, system_prompt],
    utc: [created_at, updated_at],
});

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageInfo {
    #[schema(value_type = String)]
    pub id: MessageId,
    /// `user` or `assistant`.
    #[schema(example = "user")]
    pub role: String,
    pub content: String,
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
}

view_from_row!(Message => MessageInfo {
    same: [id, role, content],
    utc: [created_at],
});

/// A conversation with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationWithMessages {
    #[serde(flatten)]
    pub conversation: ConversationInfo,
    pub messages: Vec<MessageInfo>,
}

/// Tokens spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Tokens {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt plus completion.
    pub total_tokens: u64,
}

impl Tokens {
    /// `prompt` and `completion` tokens, and their total.
    pub fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }

    /// These tokens and `other`'s.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self::new(
            self.prompt_tokens.saturating_add(other.prompt_tokens),
            self.completion_tokens
                .saturating_add(other.completion_tokens),
        )
    }
}

impl From<Usage> for Tokens {
    fn from(u: Usage) -> Self {
        Self::new(u64::from(u.prompt_tokens), u64::from(u.completion_tokens))
    }
}

/// One stored question and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Exchange {
    pub user_message: MessageInfo,
    pub assistant_message: MessageInfo,
    pub usage: Tokens,
}

/// A page of conversations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Page {
    pub items: Vec<ConversationInfo>,
    /// The `before` of the next page, or `null` at the end.
    #[schema(value_type = Option<String>)]
    pub next_before: Option<ConversationId>,
}

/// One model's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelUsage {
    pub model: String,
    #[serde(flatten)]
    pub usage: Tokens,
}

/// A user's usage: the total and one line per model with usage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct UsageSummary {
    pub total: Tokens,
    /// Only models with usage, by name.
    pub by_model: Vec<ModelUsage>,
}

/// What a streamed exchange yields: text as it arrives, then the stored
/// exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeEvent {
    Delta(String),
    Done(Exchange),
}

/// A streamed exchange. Dropping it drops the provider's stream (and its
/// HTTP request); nothing is stored unless it reaches `Done`.
pub type ExchangeStream = BoxStream<'static, Result<ExchangeEvent, PlaygroundError>>;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn views_serialise_as_the_contract_spells_them() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 18, 7, 6, 40)
            .single()
            .expect("valid")
            + chrono::TimeDelta::milliseconds(120);
        let message = MessageInfo {
            id: "m1".into(),
            role: "user".into(),
            content: "hi".into(),
            created_at: at,
        };
        let exchange = Exchange {
            user_message: message.clone(),
            assistant_message: message,
            usage: Tokens::new(2, 3),
        };

        let json = serde_json::to_value(&exchange).expect("json");

        assert_eq!(
            json["usage"],
            serde_json::json!({"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})
        );
        assert_eq!(
            json["user_message"],
            serde_json::json!({"id": "m1", "role": "user", "content": "hi", "created_at": "2026-11-18T07:06:40.120Z"})
        );
        let summary = UsageSummary {
            total: Tokens::default(),
            by_model: vec![ModelUsage {
                model: "echo-1".into(),
                usage: Tokens::default(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&summary).expect("json")["by_model"][0],
            serde_json::json!({"model": "echo-1", "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
        );
    }
}
