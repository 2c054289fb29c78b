//! The LLM playground: [`PlaygroundService`] keeps conversations, sends
//! them to providers, stores the answers, and counts the tokens; it also
//! serves the OpenAI-compatible gateway's calls (usage only, no
//! conversation).
//!
//! - [`values`]: what it takes, parsed ([`NewConversation`], [`NewMessage`],
//!   [`PageRequest`], ...);
//! - [`views`]: what it returns, as the API shows it;
//! - `conversations.rs`, `exchanges.rs`, `gateway.rs`: its methods, by
//!   what they serve.
//!
//! Rules (the contract's Playground section):
//! - a conversation is created with a known model only;
//! - sending a message sends the system prompt first, then the newest
//!   history that fits the model's context window, oldest first, then the
//!   new message (see *What a provider is sent* below); once the answer is
//!   complete, the user message, the answer and the usage are written in
//!   ONE transaction, each message with its own token count;
//! - a provider failure, a timeout, a malformed answer or a stream cut in
//!   the middle stores nothing of that exchange;
//! - usage is accounting: it stays when a conversation is deleted.
//!
//! # What a provider is sent
//!
//! Every model declares a context window, `context_tokens` (the providers
//! file; `echo-1` declares 0, it needs only the last user message). A
//! message post sends:
//!
//! 1. the conversation's system prompt, if it has one;
//! 2. the newest stored messages that fit in what is left of the window
//!    after the system prompt, the new message and `max_tokens` (when
//!    given), oldest first, starting with a user message (an answer is
//!    never sent without its question). A message that does not fit ends
//!    the history: older ones are not sent, so the model never sees a gap;
//! 3. the new message, always, however long: the provider decides what it
//!    accepts.
//!
//! Sizes are each message's stored `tokens` (the provider's
//! `completion_tokens` for an answer, whitespace-separated words for a user
//! message, counted once when stored) plus [`MESSAGE_OVERHEAD_TOKENS`] per
//! message for its role and separators. So a post reads the conversation
//! row and one bounded query of its newest messages: its cost follows the
//! window, not the length of the conversation, and older messages stay
//! stored and listed but are no longer sent.

use std::sync::Arc;

use chrono::NaiveDateTime;
use promptyard_repositories::{BoxError, Db, RepoError, UsageRecord, UserId};

use crate::clock::Clock;
use crate::ids::IdGenerator;
use crate::limits::{
    Admission, AdmissionError, DEFAULT_RESERVED_COMPLETION_TOKENS, LlmCaller, Refusal,
    prompt_estimate, reservation_tokens,
};
use crate::providers::{
    ChatProvider, ChatRequest, ModelInfo, ProviderError, ProviderRegistry, Usage,
};
use crate::validation::FieldError;

mod conversations;
mod exchanges;
mod gateway;
pub mod values;
pub mod views;

pub use exchanges::MESSAGE_OVERHEAD_TOKENS;
pub use gateway::GatewayStream;
pub use values::{
    CONTENT_MAX_CHARS, MAX_TOKENS_MAX, MaxTokens, MessageContent, NewConversation, NewMessage,
    PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PageLimit, PageRequest, SYSTEM_PROMPT_MAX_CHARS, Sampling,
    SystemPrompt, TEMPERATURE_MAX, TITLE_MAX_CHARS, Temperature, Title,
};
pub use views::{
    ConversationInfo, ConversationWithMessages, Exchange, ExchangeEvent, ExchangeStream,
    MessageInfo, ModelUsage, Page, Tokens, UsageSummary,
};

/// What can go wrong in the playground.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// No such conversation of the caller's.
    #[error("not found")]
    NotFound,
    /// A model no provider serves.
    #[error("the model {0:?} does not exist")]
    UnknownModel(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The key's limits refuse the request (429).
    #[error(transparent)]
    Limited(Refusal),
    #[error("database unavailable")]
    Unavailable(#[source] RepoError),
    #[error("unexpected error")]
    Unexpected(#[source] BoxError),
}

from_repo_error!(PlaygroundError);

impl From<AdmissionError> for PlaygroundError {
    fn from(err: AdmissionError) -> Self {
        match err {
            AdmissionError::Refused(refusal) => Self::Limited(refusal),
            AdmissionError::Repo(err) => err.into(),
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct PlaygroundService {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    providers: Arc<ProviderRegistry>,
    /// Completion tokens a limited key's request without `max_tokens`
    /// reserves.
    default_reserve: u32,
}

/// Where usage came from: the `usage_records.source` values the schema
/// allows.
#[derive(Debug, Clone, Copy)]
enum UsageSource {
    Playground,
    Gateway,
}

impl UsageSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Playground => "playground",
            Self::Gateway => "gateway",
        }
    }
}

/// A token count as stored (SQLite INTEGER, saturating).
fn stored(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl PlaygroundService {
    /// The playground over `db`, with these providers.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        providers: Arc<ProviderRegistry>,
    ) -> Self {
        Self {
            db,
            clock,
            ids,
            providers,
            default_reserve: DEFAULT_RESERVED_COMPLETION_TOKENS,
        }
    }

    /// The same service, reserving `tokens` completion tokens for a limited
    /// key's request that sets no `max_tokens`.
    #[must_use]
    pub fn with_default_reserve(mut self, tokens: u32) -> Self {
        self.default_reserve = tokens;
        self
    }

    /// What a limited key's request without `max_tokens` reserves.
    pub fn default_reserve(&self) -> u32 {
        self.default_reserve
    }

    /// Every model, `echo-1` first.
    pub fn models(&self) -> &[ModelInfo] {
        self.providers.models()
    }

    /// The models `caller` may use (a key's allow-list narrows them),
    /// `echo-1` first when allowed.
    pub fn models_for<'a>(&'a self, caller: &'a LlmCaller) -> impl Iterator<Item = &'a ModelInfo> {
        self.models().iter().filter(|m| caller.allows(&m.id))
    }

    /// Whether some provider serves `model`.
    pub fn knows_model(&self, model: &str) -> bool {
        self.providers.provider(model).is_some()
    }

    /// The provider of `model`, if `caller` may use it: a model outside a
    /// key's allow-list is unknown to that key.
    fn provider_for(
        &self,
        caller: &LlmCaller,
        model: &str,
    ) -> Result<Arc<dyn ChatProvider>, PlaygroundError> {
        self.providers
            .provider(model)
            .filter(|_| caller.allows(model))
            .ok_or_else(|| PlaygroundError::UnknownModel(model.to_owned()))
    }

    /// Admits `request` on the caller's key, if a limited one: its tokens
    /// and one request reserved, or [`PlaygroundError::Limited`]. `None`
    /// when nothing is metered (a session, a key without numeric limits).
    ///
    /// A metered request without `max_tokens` is sent with the completion
    /// tokens it reserves as its `max_tokens`, so that its answer cannot
    /// spend more than was reserved for it.
    async fn admit(
        &self,
        caller: &LlmCaller,
        request: &mut ChatRequest,
    ) -> Result<Option<Admission>, PlaygroundError> {
        let Some(key) = caller.key.as_ref().filter(|key| key.limits.is_metered()) else {
            return Ok(None);
        };
        request.max_tokens.get_or_insert(self.default_reserve);
        let tokens = reservation_tokens(request, self.default_reserve);
        let prompt = prompt_estimate(request);
        Ok(Admission::reserve(&self.db, &self.clock, key, prompt, tokens).await?)
    }

    fn usage_record(
        &self,
        user: &UserId,
        model: &str,
        source: UsageSource,
        usage: Usage,
        at: NaiveDateTime,
    ) -> UsageRecord {
        UsageRecord {
            id: self.ids.new_id().into(),
            user_id: user.clone(),
            model: model.to_owned(),
            source: source.as_str().to_owned(),
            prompt_tokens: stored(usage.prompt_tokens),
            completion_tokens: stored(usage.completion_tokens),
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests;
