//! LLM providers: the [`ChatProvider`] trait (a complete call and a
//! streaming call), the built-in [`EchoProvider`], the OpenAI-compatible
//! [`OpenAiProvider`], and the [`ProviderRegistry`] that maps model ids to
//! providers, built from the providers file ([`config`]).
//!
//! No HTTP framework types here; the OpenAI-compatible provider uses an
//! HTTP *client* (reqwest with rustls).

pub mod config;
mod echo;
mod openai;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

pub use config::{ProvidersFileError, load_providers_file, parse_providers_file};
pub use echo::{ECHO_MODEL, ECHO_PROVIDER, EchoProvider};
pub use openai::OpenAiProvider;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// `system`, `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "system" => Some(Self::System),
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// One message sent to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A chat request: the whole conversation so far, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// Tokens spent by one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    /// Prompt plus completion.
    pub fn total_tokens(self) -> u32 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub content: String,
    pub usage: Usage,
    /// `stop`, `length`, ... as the provider says.
    pub finish_reason: String,
}

/// What a streaming call yields: text as it arrives, then one `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Delta(String),
    Done { usage: Usage, finish_reason: String },
}

/// A streamed answer. It ends after `Done`, or with an error.
pub type CompletionStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// Why a provider call failed. Every case is answered 502
/// `provider_error`; nothing of the exchange is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider {provider} did not answer within {seconds} s")]
    Timeout { provider: String, seconds: f64 },
    #[error("the provider {provider} answered HTTP {status}")]
    Status { provider: String, status: u16 },
    #[error("the provider {provider} could not be reached: {reason}")]
    Transport { provider: String, reason: String },
    #[error("the provider {provider} sent an answer that is not a chat completion: {reason}")]
    Malformed { provider: String, reason: String },
    #[error("the provider {provider} ended its stream before the answer was complete")]
    StreamCut { provider: String },
    #[error("the provider {provider} reported an error: {message}")]
    Upstream { provider: String, message: String },
}

/// A source of chat completions.
pub trait ChatProvider: Send + Sync + fmt::Debug {
    /// The provider's name, as `/models` shows it.
    fn name(&self) -> &str;

    /// The whole answer at once.
    fn complete(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<Completion, ProviderError>>;

    /// The answer as it arrives. The future fails if the call cannot start
    /// (so a caller can still answer with an error status); the stream
    /// yields deltas, then `Done`, or an error.
    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<CompletionStream, ProviderError>>;
}

/// Tokens as Promptyard counts them when a provider does not say: words
/// separated by whitespace. The echo provider always counts this way.
pub fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// [`count_tokens`] over every message of a request.
pub fn count_prompt_tokens(messages: &[ChatMessage]) -> u32 {
    messages
        .iter()
        .map(|m| count_tokens(&m.content))
        .fold(0, u32::saturating_add)
}

/// A model as `/models` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub provider: String,
    pub description: String,
}

/// Model ids → providers. Always holds `echo-1`.
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    models: Vec<ModelInfo>,
    providers: HashMap<String, Arc<dyn ChatProvider>>,
}

impl Default for ProviderRegistry {
    fn default() -> Self {
        Self::with_echo()
    }
}

impl ProviderRegistry {
    /// A registry with the built-in `echo` provider only.
    pub fn with_echo() -> Self {
        let mut registry = Self {
            models: Vec::new(),
            providers: HashMap::new(),
        };
        let echo: Arc<dyn ChatProvider> = Arc::new(EchoProvider);
        // The registry is empty: the echo model cannot clash.
        let _ = registry.add(
            echo,
            &[ECHO_MODEL.to_owned()],
            "Built in: answers with your last message. No network, no key.",
        );
        registry
    }

    /// Adds `models`, served by `provider`. Fails with the first model id
    /// the registry already has.
    pub fn add(
        &mut self,
        provider: Arc<dyn ChatProvider>,
        models: &[String],
        description: &str,
    ) -> Result<(), String> {
        if let Some(clash) = models.iter().find(|m| self.providers.contains_key(*m)) {
            return Err(clash.clone());
        }
        for model in models {
            self.models.push(ModelInfo {
                id: model.clone(),
                provider: provider.name().to_owned(),
                description: description.to_owned(),
            });
            self.providers.insert(model.clone(), Arc::clone(&provider));
        }
        Ok(())
    }

    /// Every model, in the order they were added (`echo-1` first).
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The provider of `model`, if the model is known.
    pub fn provider(&self, model: &str) -> Option<Arc<dyn ChatProvider>> {
        self.providers.get(model).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_whitespace_separated_words() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("  hello   world\n"), 2);
        assert_eq!(count_tokens("naïve café, déjà vu"), 4);
        let messages = [
            ChatMessage::new(Role::System, "be brief"),
            ChatMessage::new(Role::User, "hi there you"),
        ];
        assert_eq!(count_prompt_tokens(&messages), 5);
    }

    #[test]
    fn the_registry_always_has_echo_and_refuses_a_model_twice() {
        let mut registry = ProviderRegistry::with_echo();
        assert_eq!(registry.models()[0].id, "echo-1");
        assert_eq!(registry.models()[0].provider, "echo");
        assert!(registry.provider("echo-1").is_some());
        assert!(registry.provider("gpt-9").is_none());

        let clash = registry.add(
            Arc::new(EchoProvider),
            &["x".into(), "echo-1".into()],
            "again",
        );
        assert_eq!(clash, Err("echo-1".to_owned()));
        assert!(registry.provider("x").is_none(), "nothing added on a clash");
    }

    #[test]
    fn roles_round_trip_by_name() {
        for role in [Role::System, Role::User, Role::Assistant] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("tool"), None);
        assert_eq!(
            Usage {
                prompt_tokens: 2,
                completion_tokens: 3
            }
            .total_tokens(),
            5
        );
    }
}
