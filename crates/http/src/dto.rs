//! The JSON shapes of the API: what handlers return and what they accept.
//! Timestamps are RFC 3339 in UTC with milliseconds
//! (`2026-11-25T17:00:00.123Z`).

use chrono::{DateTime, Utc};
use promptyard_services::api_keys::MAX_EXPIRES_IN_DAYS;
use promptyard_services::playground::{CONTENT_MAX_CHARS, MAX_TOKENS_MAX, TEMPERATURE_MAX};
use promptyard_services::providers::{ModelInfo, Usage};
use promptyard_services::{
    ApiKeyInfo, AuthUser, ConversationInfo, Exchange, MessageInfo, SessionInfo, Tokens,
    UsageSummary,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::json::{Fields, FromJsonObject};

/// Serde for `DateTime<Utc>` as RFC 3339 with milliseconds and `Z`.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as `2026-11-25T17:00:00.123Z`.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Parses any RFC 3339 timestamp into UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.to_utc())
            .map_err(serde::de::Error::custom)
    }
}

/// A user. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserBody {
    #[schema(example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub is_active: bool,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-25T17:00:00.123Z")]
    pub created_at: DateTime<Utc>,
}

impl From<AuthUser> for UserBody {
    fn from(user: AuthUser) -> Self {
        Self {
            id: user.id,
            email: user.email,
            is_active: user.is_active,
            created_at: user.created_at,
        }
    }
}

/// A confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessageBody {
    #[schema(example = "logged out")]
    pub message: String,
}

impl MessageBody {
    /// A message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// One of the caller's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionBody {
    /// The session's id, a UUIDv7 (never derived from its key, which is
    /// never shown); `DELETE /api/v1/auth/sessions/{id}` takes it.
    #[schema(example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    pub id: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl From<SessionInfo> for SessionBody {
    fn from(s: SessionInfo) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

/// `POST /api/v1/auth/register` and `/login`.
#[derive(Clone, ToSchema)]
pub struct CredentialsBody {
    /// Trimmed and compared case-insensitively; must look like
    /// `local@domain.tld`, at most 254 characters.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8 to 1024 characters.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

impl std::fmt::Debug for CredentialsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsBody")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl FromJsonObject for CredentialsBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required_str("email");
        let password = fields.required_str("password");
        Some(Self {
            email: email?.to_owned(),
            password: password?.to_owned(),
        })
    }
}

/// `POST /api/v1/auth/password`.
#[derive(Clone, ToSchema)]
pub struct PasswordChangeBody {
    #[schema(format = Password)]
    pub current_password: String,
    /// 8 to 1024 characters.
    #[schema(format = Password)]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChangeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChangeBody([redacted])")
    }
}

impl FromJsonObject for PasswordChangeBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let current = fields.required_str("current_password");
        let new = fields.required_str("new_password");
        Some(Self {
            current_password: current?.to_owned(),
            new_password: new?.to_owned(),
        })
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: String,
    #[schema(example = "laptop")]
    pub name: String,
    /// The non-secret start of the key (`pyk_` and its public id), to
    /// recognise it by.
    #[schema(example = "pyk_01JD3X8K4M2Q")]
    pub prefix: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// `null` for a key that never expires.
    #[serde(with = "rfc3339_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key last authenticated a request (to the minute), or `null`.
    #[serde(with = "rfc3339_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for ApiKeyBody {
    fn from(key: ApiKeyInfo) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A key just created: the key object and, this once, the whole key.
#[derive(Clone, Serialize, ToSchema)]
pub struct CreatedApiKeyBody {
    #[serde(flatten)]
    pub api_key: ApiKeyBody,
    /// The whole key, `pyk_<public id>_<secret>`. Shown only in this
    /// answer; only a hash of its secret is kept.
    #[schema(
        example = "pyk_01JD3X8K4M2Q_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub key: String,
}

impl std::fmt::Debug for CreatedApiKeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKeyBody")
            .field("api_key", &self.api_key)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Clone, ToSchema)]
pub struct CreateApiKeyBody {
    /// 1 to 100 characters (surrounding whitespace is trimmed).
    #[schema(example = "laptop")]
    pub name: String,
    /// 1 to 3650; absent or `null` for a key that never expires.
    #[schema(example = 90, minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

impl FromJsonObject for CreateApiKeyBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required_str("name");
        let expires = fields.optional_int_in("expires_in_days", 1..=MAX_EXPIRES_IN_DAYS);
        Some(Self {
            name: name?.to_owned(),
            expires_in_days: expires?,
        })
    }
}

/// A model of `GET /api/v1/playground/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelBody {
    #[schema(example = "echo-1")]
    pub id: String,
    #[schema(example = "echo")]
    pub provider: String,
    pub description: String,
}

impl From<&ModelInfo> for ModelBody {
    fn from(m: &ModelInfo) -> Self {
        Self {
            id: m.id.clone(),
            provider: m.provider.clone(),
            description: m.description.clone(),
        }
    }
}

/// `GET /api/v1/playground/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelsBody {
    pub models: Vec<ModelBody>,
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationBody {
    pub id: String,
    /// `null` when none was given.
    pub title: Option<String>,
    #[schema(example = "echo-1")]
    pub model: String,
    /// Sent to the provider first; not stored as a message.
    pub system_prompt: Option<String>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl From<ConversationInfo> for ConversationBody {
    fn from(c: ConversationInfo) -> Self {
        Self {
            id: c.id,
            title: c.title,
            model: c.model,
            system_prompt: c.system_prompt,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatMessageBody {
    pub id: String,
    /// `user` or `assistant`.
    #[schema(example = "user")]
    pub role: String,
    pub content: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<MessageInfo> for ChatMessageBody {
    fn from(m: MessageInfo) -> Self {
        Self {
            id: m.id,
            role: m.role,
            content: m.content,
            created_at: m.created_at,
        }
    }
}

/// A conversation with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationWithMessagesBody {
    #[serde(flatten)]
    pub conversation: ConversationBody,
    pub messages: Vec<ChatMessageBody>,
}

/// A page of conversations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationPageBody {
    pub items: Vec<ConversationBody>,
    /// The `before` of the next page, or `null` at the end.
    pub next_before: Option<String>,
}

/// Tokens spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageBody {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl From<Usage> for UsageBody {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u64::from(u.prompt_tokens),
            completion_tokens: u64::from(u.completion_tokens),
            total_tokens: u64::from(u.total_tokens()),
        }
    }
}

impl From<Tokens> for UsageBody {
    fn from(t: Tokens) -> Self {
        Self {
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            total_tokens: t.total_tokens(),
        }
    }
}

/// One question and its answer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExchangeBody {
    pub user_message: ChatMessageBody,
    pub assistant_message: ChatMessageBody,
    pub usage: UsageBody,
}

impl From<Exchange> for ExchangeBody {
    fn from(e: Exchange) -> Self {
        Self {
            user_message: e.user_message.into(),
            assistant_message: e.assistant_message.into(),
            usage: e.usage.into(),
        }
    }
}

/// One model's usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelUsageBody {
    pub model: String,
    #[serde(flatten)]
    pub usage: UsageBody,
}

/// `GET /api/v1/playground/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageSummaryBody {
    pub total: UsageBody,
    /// Only models with usage.
    pub by_model: Vec<ModelUsageBody>,
}

impl From<UsageSummary> for UsageSummaryBody {
    fn from(s: UsageSummary) -> Self {
        Self {
            total: s.total.into(),
            by_model: s
                .by_model
                .into_iter()
                .map(|(model, tokens)| ModelUsageBody {
                    model,
                    usage: tokens.into(),
                })
                .collect(),
        }
    }
}

/// `POST /api/v1/playground/conversations`.
#[derive(Debug, Clone, ToSchema)]
pub struct CreateConversationBody {
    /// One of `GET /api/v1/playground/models`.
    #[schema(example = "echo-1")]
    pub model: String,
    /// At most 200 characters.
    pub title: Option<String>,
    /// At most 100,000 characters.
    pub system_prompt: Option<String>,
}

impl FromJsonObject for CreateConversationBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let model = fields.required_str("model");
        let title = fields.optional_str("title");
        let system_prompt = fields.optional_str("system_prompt");
        Some(Self {
            model: model?.to_owned(),
            title: title?.map(str::to_owned),
            system_prompt: system_prompt?.map(str::to_owned),
        })
    }
}

/// `POST /api/v1/playground/conversations/{id}/messages`.
#[derive(Debug, Clone, ToSchema)]
pub struct SendMessageBody {
    /// 1 to 100,000 characters.
    pub content: String,
    /// 0 to 2.
    pub temperature: Option<f64>,
    /// 1 to 32768.
    pub max_tokens: Option<i64>,
    /// Answer as `text/event-stream`.
    pub stream: Option<bool>,
}

impl FromJsonObject for SendMessageBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let content = fields.required_str("content");
        // The service's own limits, checked here too so that one 422 names
        // every bad field, type and range alike.
        let temperature = fields.optional_f64_in("temperature", 0.0..=TEMPERATURE_MAX);
        let max_tokens = fields.optional_int_in("max_tokens", 1..=i64::from(MAX_TOKENS_MAX));
        let stream = fields.optional_bool("stream");
        let content = content?;
        let chars = content.chars().count();
        if chars == 0 || chars > CONTENT_MAX_CHARS {
            let message = format!("must be from 1 to {CONTENT_MAX_CHARS} characters");
            fields.reject("content", &message);
        }
        Some(Self {
            content: content.to_owned(),
            temperature: temperature?,
            max_tokens: max_tokens?,
            stream: stream?,
        })
    }
}

/// Serde for `Option<DateTime<Utc>>` as RFC 3339 or `null`.
pub mod rfc3339_option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `null` or `2026-11-25T17:00:00.123Z`.
    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    /// `null` or any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|at| at.to_utc())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let user = UserBody {
            id: "u".into(),
            email: "a@b.co".into(),
            is_active: true,
            created_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 18, 7, 6, 40)
                .single()
                .expect("valid")
                + chrono::TimeDelta::milliseconds(120),
        };
        let json = serde_json::to_value(&user).expect("json");
        assert_eq!(json["created_at"], "2026-11-18T07:06:40.120Z");
        let back: UserBody = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, user);
        let offset = serde_json::json!({"id": "u", "email": "a@b.co", "is_active": true,
            "created_at": "2026-11-18T09:06:40.120+02:00"});
        let parsed: UserBody = serde_json::from_value(offset).expect("offsets are read as UTC");
        assert_eq!(parsed.created_at, user.created_at);
    }

    #[test]
    fn a_non_rfc3339_timestamp_is_refused() {
        let json = serde_json::json!({"id": "u", "email": "a@b.co", "is_active": true, "created_at": "yesterday"});
        assert!(serde_json::from_value::<UserBody>(json).is_err());
    }

    #[test]
    fn request_bodies_never_show_passwords() {
        let creds = CredentialsBody {
            email: "a@b.co".into(),
            password: "hunter22hunter22".into(),
        };
        let change = PasswordChangeBody {
            current_password: "hunter22hunter22".into(),
            new_password: "swordfish-swordfish".into(),
        };
        let shown = format!("{creds:?} {change:?}");
        assert!(
            !shown.contains("hunter22") && !shown.contains("swordfish"),
            "{shown}"
        );
    }
}
