//! The request bodies of the API, and the few answers that are not a
//! service's view. What handlers return is the services' own view types
//! ([`AuthUser`], [`ConversationInfo`], ...), which serialise as the
//! contract spells them; a request body is parsed straight into the values
//! the services take, so each rule is stated once, by its parser, and one
//! 422 names every bad field, type and rule alike.
//!
//! [`AuthUser`]: promptyard_services::AuthUser
//! [`ConversationInfo`]: promptyard_services::ConversationInfo

use promptyard_services::api_keys::{ExpiresInDays, KeyName};
use promptyard_services::limits::{
    BudgetPeriod, KeyLimits, REQUESTS_PER_MINUTE_MAX, TOKEN_BUDGET_MAX, TOKENS_PER_MINUTE_MAX,
    parse_count,
};
use promptyard_services::playground::{
    MaxTokens, MessageContent, SystemPrompt, Temperature, Title,
};
use promptyard_services::providers::ModelInfo;
use promptyard_services::{
    ApiKeyInfo, Credentials, NewConversation, NewKey, NewMessage, PasswordChange, Sampling,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::json::{Fields, FromJsonObject};

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
        debug_with_secret(f, "CredentialsBody", ("email", &self.email), "password")
    }
}

impl CredentialsBody {
    /// The credentials, as the auth service takes them.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            email: &self.email,
            password: &self.password,
        }
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

impl PasswordChangeBody {
    /// The change, as the auth service takes it.
    pub fn change(&self) -> PasswordChange<'_> {
        PasswordChange {
            current_password: &self.current_password,
            new_password: &self.new_password,
        }
    }
}

/// `FromJsonObject` for bodies of required strings, each field named as
/// in the JSON object (every missing or mistyped one is reported).
macro_rules! from_required_strings {
    ($($type:ident { $($field:ident),+ }),+ $(,)?) => {$(
        impl FromJsonObject for $type {
            fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
                $(let $field = fields.required_str(stringify!($field));)+
                Some(Self {
                    $($field: $field?.to_owned(),)+
                })
            }
        }
    )+};
}

from_required_strings! {
    CredentialsBody { email, password },
    PasswordChangeBody { current_password, new_password },
}

/// A key just created: the key object and, this once, the whole key.
#[derive(Clone, Serialize, ToSchema)]
pub struct CreatedApiKeyBody {
    #[serde(flatten)]
    pub api_key: ApiKeyInfo,
    /// The whole key, `pyk_<public id>_<secret>`. Shown only in this
    /// answer; only a hash of its secret is kept.
    #[schema(
        example = "pyk_01JD3X8K4M2Q_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub key: String,
}

impl std::fmt::Debug for CreatedApiKeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_with_secret(f, "CreatedApiKeyBody", ("api_key", &self.api_key), "key")
    }
}

/// Formats `name { shown, secret: "[redacted]" }`: a body's `Debug` that
/// never shows its secret field.
fn debug_with_secret(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    (shown, value): (&str, &dyn std::fmt::Debug),
    secret: &str,
) -> std::fmt::Result {
    f.debug_struct(name)
        .field(shown, value)
        .field(secret, &"[redacted]")
        .finish()
}

/// `POST /api/v1/api-keys`, parsed.
#[derive(Debug, Clone, ToSchema)]
pub struct CreateApiKeyBody {
    /// 1 to 100 characters (surrounding whitespace is trimmed).
    #[schema(value_type = String, example = "laptop", min_length = 1)]
    pub name: KeyName,
    /// 1 to 3650; absent or `null` for a key that never expires.
    #[schema(value_type = Option<i64>, example = 90, minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<ExpiresInDays>,
    /// What the key may spend; absent or `null` for no limits.
    #[schema(value_type = Option<KeyLimits>)]
    pub limits: KeyLimits,
}

impl FromJsonObject for CreateApiKeyBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required_str_with("name", KeyName::parse);
        let expires = fields.optional_number_with("expires_in_days", ExpiresInDays::parse);
        let limits = limits_field(fields, false);
        Some(Self {
            name: name?,
            expires_in_days: expires?,
            limits: limits?,
        })
    }
}

impl From<CreateApiKeyBody> for NewKey {
    fn from(body: CreateApiKeyBody) -> Self {
        Self {
            name: body.name,
            expires_in_days: body.expires_in_days,
            limits: body.limits,
        }
    }
}

/// `PATCH /api/v1/api-keys/{id}`, parsed: the key's new limits, which
/// replace the old ones whole (a field left out or `null` is no limit;
/// `"limits": null` lifts them all).
#[derive(Debug, Clone, ToSchema)]
pub struct SetLimitsBody {
    #[schema(value_type = Option<KeyLimits>)]
    pub limits: KeyLimits,
}

impl FromJsonObject for SetLimitsBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let limits = limits_field(fields, true);
        Some(Self { limits: limits? })
    }
}

/// The fields a `limits` object may have.
const LIMIT_FIELDS: [&str; 5] = [
    "requests_per_minute",
    "tokens_per_minute",
    "token_budget",
    "budget_period",
    "models",
];

/// The `limits` field: an object of [`LIMIT_FIELDS`] (each absent or
/// `null` for no limit), or `null`; absent too unless `required`. Its
/// errors are named `limits.<field>`: a field it does not know is one (a
/// misspelt limit must not go unnoticed), as are the rules across fields
/// ([`KeyLimits::check`]; whether models exist is the service's to say).
fn limits_field(fields: &mut Fields<'_>, required: bool) -> Option<KeyLimits> {
    let map = match fields.object().get("limits") {
        None if required => {
            fields.reject("limits", "is required (an object, or null for no limits)");
            return None;
        }
        None | Some(Value::Null) => return Some(KeyLimits::none()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            fields.reject("limits", "must be an object or null");
            return None;
        }
    };
    let mut inner = Fields::new(map);
    for name in map.keys() {
        if !LIMIT_FIELDS.contains(&name.as_str()) {
            inner.reject(name, "is not a limit");
        }
    }
    let requests = inner.optional_number_with("requests_per_minute", |v| {
        parse_count(v, REQUESTS_PER_MINUTE_MAX)
    });
    let tokens = inner.optional_number_with("tokens_per_minute", |v| {
        parse_count(v, TOKENS_PER_MINUTE_MAX)
    });
    let budget = inner.optional_number_with("token_budget", |v| parse_count(v, TOKEN_BUDGET_MAX));
    let period = inner.optional_str_with("budget_period", BudgetPeriod::parse);
    let models = model_list(&mut inner, map.get("models"));
    let failed = inner.has_errors();
    fields.absorb("limits", inner);
    if failed {
        return None;
    }
    let limits = KeyLimits {
        requests_per_minute: requests?,
        tokens_per_minute: tokens?,
        token_budget: budget?,
        budget_period: period?,
        models: models?,
    };
    match limits.check(|_| true) {
        Ok(limits) => Some(limits),
        Err(errors) => {
            fields.extend(errors);
            None
        }
    }
}

/// `limits.models`: `null`, or a list of model ids (non-empty strings,
/// trimmed).
fn model_list(fields: &mut Fields<'_>, value: Option<&Value>) -> Option<Option<Vec<String>>> {
    let items = match value {
        None | Some(Value::Null) => return Some(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            fields.reject("models", "must be a list of model ids or null");
            return None;
        }
    };
    let mut models: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(str::trim) {
            // Kept in place (a 422 names the index the client sent);
            // repeats are dropped once the list is checked.
            Some(id) if !id.is_empty() => models.push(id.to_owned()),
            _ => {
                fields.reject(
                    &format!("models[{i}]"),
                    "must be a model id (a non-empty string)",
                );
                ok = false;
            }
        }
    }
    ok.then_some(Some(models))
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

/// `POST /api/v1/playground/conversations`, parsed.
#[derive(Debug, Clone, ToSchema)]
pub struct CreateConversationBody {
    /// One of `GET /api/v1/playground/models`.
    #[schema(example = "echo-1")]
    pub model: String,
    /// At most 200 characters.
    #[schema(value_type = Option<String>, max_length = 200)]
    pub title: Option<Title>,
    /// At most 100,000 characters.
    #[schema(value_type = Option<String>, max_length = 100_000)]
    pub system_prompt: Option<SystemPrompt>,
}

impl FromJsonObject for CreateConversationBody {
    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let model = fields.required_str("model");
        let title = fields.optional_str_with("title", Title::parse);
        let system_prompt = fields.optional_str_with("system_prompt", SystemPrompt::parse);
        Some(Self {
            model: model?.to_owned(),
            title: title?,
            system_prompt: system_prompt?,
        })
    }
}

impl From<CreateConversationBody> for NewConversation {
    fn from(body: CreateConversationBody) -> Self {
        Self {
            model: body.model,
            title: body.title,
            system_prompt: body.system_prompt,
        }
    }
}

/// `POST /api/v1/playground/conversations/{id}/messages`, parsed.
#[derive(Debug, Clone, ToSchema)]
pub struct SendMessageBody {
    /// 1 to 100,000 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100_000)]
    pub content: MessageContent,
    /// 0 to 2.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 2)]
    pub temperature: Option<Temperature>,
    /// 1 to 32768.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 32768)]
    pub max_tokens: Option<MaxTokens>,
    /// Answer as `text/event-stream`.
    pub stream: Option<bool>,
}

impl FromJsonObject for SendMessageBody {
    /// Long prompts fit.
    const LIMIT: usize = crate::playground::MESSAGE_BODY_LIMIT;

    fn from_json(fields: &mut Fields<'_>) -> Option<Self> {
        let content = fields.required_str_with("content", MessageContent::parse);
        let temperature = fields.optional_number_with("temperature", Temperature::parse);
        let max_tokens = fields.optional_number_with("max_tokens", MaxTokens::parse);
        let stream = fields.optional_bool("stream");
        Some(Self {
            content: content?,
            temperature: temperature?,
            max_tokens: max_tokens?,
            stream: stream?,
        })
    }
}

impl SendMessageBody {
    /// Whether the answer is to be streamed, and the message.
    pub fn into_message(self) -> (bool, NewMessage) {
        let message = NewMessage {
            content: self.content,
            sampling: Sampling {
                temperature: self.temperature,
                max_tokens: self.max_tokens,
            },
        };
        (self.stream == Some(true), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
