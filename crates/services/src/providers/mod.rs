//! LLM providers: the [`ChatProvider`] trait (a complete call and a
//! streaming call), the built-in [`EchoProvider`], the OpenAI-compatible
//! [`OpenAiProvider`], and the [`ProviderRegistry`] that maps model ids to
//! providers, built from the providers file ([`config`]).
//!
//! No HTTP framework types here; the OpenAI-compatible provider uses an
//! HTTP *client* (reqwest with rustls).

pub mod config;
mod echo;
mod metered;
mod openai;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

pub use config::{ProvidersFileError, load_providers_file, parse_providers_file};
pub use echo::{ECHO_CONTEXT_TOKENS, ECHO_MODEL, ECHO_PROVIDER, EchoProvider};
pub use metered::{LLM_REQUESTS, LLM_TOKENS, Metered};
pub use openai::{
    DEFAULT_DEADLINE, MAX_ANSWER_BYTES, MAX_BODY_BYTES, MAX_SSE_LINE_BYTES, OpenAiProvider,
};

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
    #[error("the provider {provider} did not finish its answer within {seconds} s")]
    Deadline { provider: String, seconds: f64 },
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

/// The context window of a configured model whose providers file entry
/// names none, in tokens.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 8192;
/// The largest context window a providers file may declare, in tokens.
pub const MAX_CONTEXT_TOKENS: u32 = 10_000_000;

/// A model a provider serves, with its context window: how many tokens of
/// system prompt, history, new message and answer it takes. The playground
/// sends a model only the newest history that fits (see
/// [`PlaygroundService`](crate::PlaygroundService)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub id: String,
    pub context_tokens: u32,
}

impl ModelSpec {
    /// Model `id` with a context window of `context_tokens`.
    pub fn new(id: impl Into<String>, context_tokens: u32) -> Self {
        Self {
            id: id.into(),
            context_tokens,
        }
    }
}

/// A model as `/models` lists it, with its context window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub provider: String,
    pub description: String,
    /// See [`ModelSpec`].
    pub context_tokens: u32,
}

/// A known model: who serves it, and its context window.
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<dyn ChatProvider>,
    pub context_tokens: u32,
}

/// Model ids → providers. Always holds `echo-1`.
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    models: Vec<ModelInfo>,
    routes: HashMap<String, Route>,
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
            routes: HashMap::new(),
        };
        let echo: Arc<dyn ChatProvider> = Arc::new(EchoProvider);
        // The registry is empty: the echo model cannot clash.
        let _ = registry.add(
            echo,
            &[ModelSpec::new(ECHO_MODEL, ECHO_CONTEXT_TOKENS)],
            "Built in: answers with your last message. No network, no key.",
        );
        registry
    }

    /// Adds `models`, served by `provider`. Fails with the first model id
    /// the registry already has (or that `models` names twice).
    pub fn add(
        &mut self,
        provider: Arc<dyn ChatProvider>,
        models: &[ModelSpec],
        description: &str,
    ) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        if let Some(clash) = models
            .iter()
            .find(|m| self.routes.contains_key(&m.id) || !seen.insert(&m.id))
        {
            return Err(clash.id.clone());
        }
        // Every call through the registry is counted (`metered`).
        let provider: Arc<dyn ChatProvider> = Arc::new(Metered(provider));
        for model in models {
            self.models.push(ModelInfo {
                id: model.id.clone(),
                provider: provider.name().to_owned(),
                description: description.to_owned(),
                context_tokens: model.context_tokens,
            });
            self.routes.insert(
                model.id.clone(),
                Route {
                    provider: Arc::clone(&provider),
                    context_tokens: model.context_tokens,
                },
            );
        }
        Ok(())
    }

    /// The echo provider and an OpenAI-compatible server without a key
    /// (a local Ollama, a test's fake) serving `models` with the default
    /// context window, under the provider name `local`.
    pub fn with_local_openai(
        base_url: &str,
        models: &[&str],
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut registry = Self::with_echo();
        let provider = OpenAiProvider::new("local", base_url, None, timeout)?;
        let specs: Vec<ModelSpec> = models
            .iter()
            .map(|id| ModelSpec::new(*id, DEFAULT_CONTEXT_TOKENS))
            .collect();
        registry
            .add(
                Arc::new(provider),
                &specs,
                &format!("Served by {base_url}."),
            )
            .map_err(|clash| format!("the model {clash:?} is there twice"))?;
        Ok(registry)
    }

    /// Every model, in the order they were added (`echo-1` first).
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// Who serves `model`, and its context window, if the model is known.
    pub fn route(&self, model: &str) -> Option<Route> {
        self.routes.get(model).cloned()
    }

    /// The provider of `model`, if the model is known.
    pub fn provider(&self, model: &str) -> Option<Arc<dyn ChatProvider>> {
        self.routes
            .get(model)
            .map(|route| Arc::clone(&route.provider))
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

        // A model the registry has, then one that the same call names twice.
        for (models, clash, new) in [
            ([("x", 10), ("echo-1", 10)], "echo-1", "x"),
            ([("y", 10), ("y", 20)], "y", "y"),
        ] {
            let specs = models.map(|(id, window)| ModelSpec::new(id, window));
            let added = registry.add(Arc::new(EchoProvider), &specs, "a clash");
            assert_eq!(added, Err(clash.to_owned()));
            assert!(registry.provider(new).is_none(), "nothing added on a clash");
            assert!(registry.route(new).is_none(), "nothing added on a clash");
        }
    }

    #[test]
    fn each_model_keeps_its_own_context_window() {
        let mut registry = ProviderRegistry::with_echo();
        registry
            .add(
                Arc::new(EchoProvider),
                &[
                    ModelSpec::new("small", 512),
                    ModelSpec::new("large", 128_000),
                ],
                "two windows",
            )
            .expect("add");

        let window = |model: &str| registry.route(model).map(|r| r.context_tokens);
        assert_eq!(window("echo-1"), Some(ECHO_CONTEXT_TOKENS));
        assert_eq!(window("small"), Some(512));
        assert_eq!(window("large"), Some(128_000));
        assert_eq!(window("none"), None);
        assert_eq!(registry.models()[2].context_tokens, 128_000);
    }

    #[test]
    fn a_local_openai_server_serves_its_models_beside_echo() {
        let registry = ProviderRegistry::with_local_openai(
            "http://127.0.0.1:9/v1",
            &["llama", "qwen"],
            Duration::from_secs(5),
        )
        .expect("registry");

        let listed: Vec<(&str, &str, u32)> = registry
            .models()
            .iter()
            .map(|m| (m.id.as_str(), m.provider.as_str(), m.context_tokens))
            .collect();
        assert_eq!(
            listed,
            [
                ("echo-1", "echo", ECHO_CONTEXT_TOKENS),
                ("llama", "local", DEFAULT_CONTEXT_TOKENS),
                ("qwen", "local", DEFAULT_CONTEXT_TOKENS),
            ]
        );
        let twice = ProviderRegistry::with_local_openai(
            "http://127.0.0.1:9/v1",
            &["a", "a"],
            Duration::from_secs(5),
        );
        assert!(twice.is_err_and(|e| e.contains("\"a\" is there twice")));
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
