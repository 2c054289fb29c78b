//! The LLM playground: [`PlaygroundService`] keeps conversations, sends
//! them to providers, stores the answers, and counts the tokens; it also
//! serves the OpenAI-compatible gateway's calls (usage only, no
//! conversation).
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

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use promptyard_repositories::{
    BoxError, Conversation, ConversationRepository, Db, Message, OptionalExt, RepoError,
    UsageRecord, UsageRepository,
};

use crate::clock::Clock;
use crate::ids::IdGenerator;
use crate::providers::{
    ChatMessage, ChatRequest, Completion, CompletionStream, ModelInfo, ProviderError,
    ProviderRegistry, Role, StreamEvent, Usage, count_tokens,
};
use crate::validation::FieldError;

/// Longest message content, in characters.
pub const CONTENT_MAX_CHARS: usize = 100_000;
/// Longest conversation title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest system prompt, in characters.
pub const SYSTEM_PROMPT_MAX_CHARS: usize = 100_000;
/// Page size bounds and default of conversation lists.
pub const PAGE_LIMIT_MAX: i64 = 100;
pub const PAGE_LIMIT_DEFAULT: i64 = 20;
/// Bounds of `temperature` and `max_tokens`.
pub const TEMPERATURE_MAX: f64 = 2.0;
pub const MAX_TOKENS_MAX: u32 = 32_768;
/// Tokens each message adds to a prompt beyond its text (role and
/// separators), in the context window's arithmetic.
pub const MESSAGE_OVERHEAD_TOKENS: u32 = 4;

/// What can go wrong in the playground.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// No such conversation of the caller's.
    #[error("not found")]
    NotFound,
    /// A model no provider serves (the gateway's 404 `model_not_found`).
    #[error("the model {0:?} does not exist")]
    UnknownModel(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("database unavailable")]
    Unavailable(#[source] RepoError),
    #[error("unexpected error")]
    Unexpected(#[source] BoxError),
}

impl From<RepoError> for PlaygroundError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => Self::NotFound,
            RepoError::Unavailable { .. } => Self::Unavailable(err),
            other => Self::Unexpected(Box::new(other)),
        }
    }
}

fn invalid(field: &str, message: &str) -> PlaygroundError {
    PlaygroundError::Validation(vec![FieldError::new(field, message)])
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationInfo {
    pub id: String,
    pub title: Option<String>,
    pub model: String,
    pub system_prompt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for ConversationInfo {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            title: c.title,
            model: c.model,
            system_prompt: c.system_prompt,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageInfo {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            role: m.role,
            content: m.content,
            created_at: m.created_at.and_utc(),
        }
    }
}

/// One stored question and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub user_message: MessageInfo,
    pub assistant_message: MessageInfo,
    pub usage: Usage,
}

/// A page of conversations, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<ConversationInfo>,
    /// The `before` of the next page, or `None` at the end.
    pub next_before: Option<String>,
}

/// Token totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Tokens {
    /// Prompt plus completion.
    pub fn total_tokens(self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// A user's usage: the total and one line per model with usage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageSummary {
    pub total: Tokens,
    pub by_model: Vec<(String, Tokens)>,
}

/// Optional sampling settings of a message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MessageOptions {
    /// 0 to 2.
    pub temperature: Option<f64>,
    /// 1 to 32768.
    pub max_tokens: Option<u32>,
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

/// See the module docs.
#[derive(Debug, Clone)]
pub struct PlaygroundService {
    db: Db,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    providers: Arc<ProviderRegistry>,
}

fn checked_length(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) {
    if value.is_some_and(|v| v.chars().count() > max) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

/// A prepared exchange: what to send, and what to store with the answer.
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
fn tokens(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

struct Prepared {
    model: String,
    provider: Arc<dyn crate::providers::ChatProvider>,
    conversation_id: String,
    user_id: String,
    content: String,
    /// The new message's own token count, stored with it.
    tokens: u32,
    asked_at: DateTime<Utc>,
}

/// A message's size in the context window's arithmetic.
fn window_cost(tokens: u32) -> u64 {
    u64::from(tokens) + u64::from(MESSAGE_OVERHEAD_TOKENS)
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
        }
    }

    /// Every model, `echo-1` first.
    pub fn models(&self) -> &[ModelInfo] {
        self.providers.models()
    }

    /// Creates a conversation with a known `model`.
    pub async fn create_conversation(
        &self,
        user_id: &str,
        model: &str,
        title: Option<&str>,
        system_prompt: Option<&str>,
    ) -> Result<ConversationInfo, PlaygroundError> {
        let mut errors = Vec::new();
        if self.providers.provider(model).is_none() {
            errors.push(FieldError::new(
                "model",
                "is not a known model (see GET /api/v1/playground/models)",
            ));
        }
        checked_length(&mut errors, "title", title, TITLE_MAX_CHARS);
        checked_length(
            &mut errors,
            "system_prompt",
            system_prompt,
            SYSTEM_PROMPT_MAX_CHARS,
        );
        if !errors.is_empty() {
            return Err(PlaygroundError::Validation(errors));
        }
        let now = self.clock.now().naive_utc();
        let new = Conversation {
            id: self.ids.new_id(),
            user_id: user_id.to_owned(),
            model: model.to_owned(),
            title: title.map(str::to_owned),
            system_prompt: system_prompt.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        let created = self
            .db
            .write(move |conn| ConversationRepository::create(conn, &new))
            .await?;
        Ok(created.into())
    }

    /// A page of the user's conversations, newest first: `limit` (1 to 100,
    /// default 20) of them, strictly older than the conversation `before`
    /// (which must be one of the user's, if given at all).
    pub async fn list_conversations(
        &self,
        user_id: &str,
        limit: Option<i64>,
        before: Option<&str>,
    ) -> Result<Page, PlaygroundError> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(invalid("limit", "must be a whole number from 1 to 100"));
        }
        let user = user_id.to_owned();
        let before = before.map(str::to_owned);
        let (mut items, cursor_found) = self
            .db
            .read(move |conn| {
                let cursor = match &before {
                    Some(id) => {
                        match ConversationRepository::get_for_user(conn, &user, id).optional()? {
                            Some(cursor) => Some(cursor),
                            None => return Ok((Vec::new(), false)),
                        }
                    }
                    None => None,
                };
                let page =
                    ConversationRepository::list_page(conn, &user, cursor.as_ref(), limit + 1)?;
                Ok::<_, RepoError>((page, true))
            })
            .await?;
        if !cursor_found {
            return Err(invalid(
                "before",
                "must be the id of one of your conversations",
            ));
        }
        let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_before = if more {
            items.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(ConversationInfo::from).collect(),
            next_before,
        })
    }

    /// One of the user's conversations with its messages, oldest first.
    pub async fn get_conversation(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<(ConversationInfo, Vec<MessageInfo>), PlaygroundError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        let (conversation, messages) = self
            .db
            .read(move |conn| {
                let conversation = ConversationRepository::get_for_user(conn, &user_id, &id)?;
                let messages = ConversationRepository::messages(conn, &id)?;
                Ok::<_, RepoError>((conversation, messages))
            })
            .await?;
        Ok((
            conversation.into(),
            messages.into_iter().map(MessageInfo::from).collect(),
        ))
    }

    /// Deletes one of the user's conversations and its messages (not its
    /// usage).
    pub async fn delete_conversation(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<(), PlaygroundError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .write(move |conn| ConversationRepository::delete_for_user(conn, &user_id, &id))
            .await?;
        Ok(())
    }

    fn validate_message(content: &str, options: MessageOptions) -> Result<(), PlaygroundError> {
        let mut errors = Vec::new();
        let chars = content.chars().count();
        if chars == 0 {
            errors.push(FieldError::new("content", "must not be empty"));
        } else if chars > CONTENT_MAX_CHARS {
            errors.push(FieldError::new(
                "content",
                "must be at most 100000 characters",
            ));
        }
        if options
            .temperature
            .is_some_and(|t| !(0.0..=TEMPERATURE_MAX).contains(&t))
        {
            errors.push(FieldError::new("temperature", "must be from 0 to 2"));
        }
        if options
            .max_tokens
            .is_some_and(|m| !(1..=MAX_TOKENS_MAX).contains(&m))
        {
            errors.push(FieldError::new(
                "max_tokens",
                "must be a whole number from 1 to 32768",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PlaygroundError::Validation(errors))
        }
    }

    async fn prepare(
        &self,
        user_id: &str,
        conversation_id: &str,
        content: &str,
        options: MessageOptions,
    ) -> Result<(Prepared, ChatRequest), PlaygroundError> {
        Self::validate_message(content, options)?;
        let asked_at = self.clock.now();
        let tokens = count_tokens(content);
        let (user, id, providers) = (
            user_id.to_owned(),
            conversation_id.to_owned(),
            Arc::clone(&self.providers),
        );
        // The conversation, then the newest history that fits its model's
        // window: one trip to a reader, one snapshot.
        let (conversation, route, history) = self
            .db
            .read(move |conn| {
                let conversation = ConversationRepository::get_for_user(conn, &user, &id)?;
                let route = providers.route(&conversation.model);
                let history = match &route {
                    Some(route) => {
                        let system = conversation.system_prompt.as_deref().unwrap_or_default();
                        let budget = u64::from(route.context_tokens)
                            .saturating_sub(window_cost(count_tokens(system)))
                            .saturating_sub(window_cost(tokens))
                            .saturating_sub(u64::from(options.max_tokens.unwrap_or(0)));
                        ConversationRepository::recent_within(
                            conn,
                            &id,
                            budget,
                            u64::from(MESSAGE_OVERHEAD_TOKENS),
                        )?
                    }
                    None => Vec::new(),
                };
                Ok::<_, RepoError>((conversation, route, history))
            })
            .await?;
        let route = route.ok_or_else(|| {
            // The model was known at creation; the providers file changed since.
            invalid("model", "the conversation's model is no longer configured")
        })?;
        // An answer is never sent without its question.
        let first_question = history
            .iter()
            .position(|m| m.role == Role::User.as_str())
            .unwrap_or(history.len());
        let mut messages = Vec::with_capacity(history.len() - first_question + 2);
        if let Some(system) = conversation
            .system_prompt
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            messages.push(ChatMessage::new(Role::System, system));
        }
        messages.extend(
            history
                .into_iter()
                .skip(first_question)
                .filter_map(|m| Role::parse(&m.role).map(|role| ChatMessage::new(role, m.content))),
        );
        messages.push(ChatMessage::new(Role::User, content));
        let prepared = Prepared {
            model: conversation.model.clone(),
            provider: route.provider,
            conversation_id: conversation.id,
            user_id: user_id.to_owned(),
            content: content.to_owned(),
            tokens,
            asked_at,
        };
        let request = ChatRequest {
            model: conversation.model,
            messages,
            temperature: options.temperature,
            max_tokens: options.max_tokens,
        };
        Ok((prepared, request))
    }

    /// Writes the user message, the answer and the usage in one
    /// transaction.
    async fn store(
        &self,
        prepared: &Prepared,
        answer: String,
        usage: Usage,
    ) -> Result<Exchange, PlaygroundError> {
        let answered_at = self.clock.now().naive_utc();
        let user_message = Message {
            id: self.ids.new_id(),
            conversation_id: prepared.conversation_id.clone(),
            role: Role::User.as_str().to_owned(),
            content: prepared.content.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            created_at: prepared.asked_at.naive_utc(),
            tokens: tokens(prepared.tokens),
        };
        let assistant_message = Message {
            id: self.ids.new_id(),
            conversation_id: prepared.conversation_id.clone(),
            role: Role::Assistant.as_str().to_owned(),
            content: answer,
            prompt_tokens: tokens(usage.prompt_tokens),
            completion_tokens: tokens(usage.completion_tokens),
            created_at: answered_at,
            // The provider's own count of the answer.
            tokens: tokens(usage.completion_tokens),
        };
        let record = self.usage_record(
            &prepared.user_id,
            &prepared.model,
            UsageSource::Playground,
            usage,
            answered_at,
        );
        let conversation_id = prepared.conversation_id.clone();
        let (user_message, assistant_message) = self
            .db
            .write(move |conn| {
                // The conversation may have been deleted while the provider
                // answered: then nothing is stored (the foreign key refuses).
                ConversationRepository::add_message(conn, &user_message)?;
                ConversationRepository::add_message(conn, &assistant_message)?;
                UsageRepository::record(conn, &record)?;
                ConversationRepository::touch(conn, &conversation_id, answered_at)?;
                Ok::<_, RepoError>((user_message, assistant_message))
            })
            .await
            .map_err(|err| match err {
                RepoError::ForeignKeyViolation => PlaygroundError::NotFound,
                other => other.into(),
            })?;
        Ok(Exchange {
            user_message: user_message.into(),
            assistant_message: assistant_message.into(),
            usage,
        })
    }

    /// Sends `content` to the conversation's model and stores the exchange
    /// once the answer is complete.
    pub async fn send_message(
        &self,
        user_id: &str,
        conversation_id: &str,
        content: &str,
        options: MessageOptions,
    ) -> Result<Exchange, PlaygroundError> {
        let (prepared, request) = self
            .prepare(user_id, conversation_id, content, options)
            .await?;
        let completion = prepared.provider.complete(request).await?;
        self.store(&prepared, completion.content, completion.usage)
            .await
    }

    /// Like [`send_message`](Self::send_message), streamed: deltas as they
    /// arrive, then the stored exchange. An error ends the stream and
    /// nothing is stored.
    pub async fn stream_message(
        &self,
        user_id: &str,
        conversation_id: &str,
        content: &str,
        options: MessageOptions,
    ) -> Result<ExchangeStream, PlaygroundError> {
        let (prepared, request) = self
            .prepare(user_id, conversation_id, content, options)
            .await?;
        let upstream = prepared.provider.stream(request).await?;
        let state = StreamState {
            service: self.clone(),
            prepared,
            upstream,
            text: String::new(),
            over: false,
        };
        Ok(futures_util::stream::unfold(state, StreamState::next).boxed())
    }

    /// The user's token totals, overall and per model (models with usage
    /// only, by name).
    pub async fn usage(&self, user_id: &str) -> Result<UsageSummary, PlaygroundError> {
        let user_id = user_id.to_owned();
        let rows = self
            .db
            .read(move |conn| UsageRepository::totals_by_model(conn, &user_id))
            .await?;
        let mut summary = UsageSummary::default();
        for (model, totals) in rows {
            let tokens = Tokens {
                prompt_tokens: u64::try_from(totals.prompt_tokens).unwrap_or(0),
                completion_tokens: u64::try_from(totals.completion_tokens).unwrap_or(0),
            };
            summary.total.prompt_tokens += tokens.prompt_tokens;
            summary.total.completion_tokens += tokens.completion_tokens;
            summary.by_model.push((model, tokens));
        }
        Ok(summary)
    }

    fn provider_for(
        &self,
        model: &str,
    ) -> Result<Arc<dyn crate::providers::ChatProvider>, PlaygroundError> {
        self.providers
            .provider(model)
            .ok_or_else(|| PlaygroundError::UnknownModel(model.to_owned()))
    }

    fn usage_record(
        &self,
        user_id: &str,
        model: &str,
        source: UsageSource,
        usage: Usage,
        at: NaiveDateTime,
    ) -> UsageRecord {
        UsageRecord {
            id: self.ids.new_id(),
            user_id: user_id.to_owned(),
            model: model.to_owned(),
            source: source.as_str().to_owned(),
            prompt_tokens: tokens(usage.prompt_tokens),
            completion_tokens: tokens(usage.completion_tokens),
            created_at: at,
        }
    }

    async fn record_gateway_usage(
        &self,
        user_id: &str,
        model: &str,
        usage: Usage,
    ) -> Result<(), PlaygroundError> {
        let record = self.usage_record(
            user_id,
            model,
            UsageSource::Gateway,
            usage,
            self.clock.now().naive_utc(),
        );
        self.db
            .write(move |conn| UsageRepository::record(conn, &record))
            .await?;
        Ok(())
    }

    /// The gateway's chat completion: the request as the client sent it,
    /// usage recorded for `user_id`.
    pub async fn gateway_complete(
        &self,
        user_id: &str,
        request: ChatRequest,
    ) -> Result<Completion, PlaygroundError> {
        let provider = self.provider_for(&request.model)?;
        let model = request.model.clone();
        let completion = provider.complete(request).await?;
        self.record_gateway_usage(user_id, &model, completion.usage)
            .await?;
        Ok(completion)
    }

    /// The gateway's streamed chat completion; usage is recorded for
    /// `user_id` when the stream completes, before `Done` is handed on.
    pub async fn gateway_stream(
        &self,
        user_id: &str,
        request: ChatRequest,
    ) -> Result<BoxStream<'static, Result<StreamEvent, PlaygroundError>>, PlaygroundError> {
        let provider = self.provider_for(&request.model)?;
        let model = request.model.clone();
        let upstream = provider.stream(request).await?;
        let service = self.clone();
        let user_id = user_id.to_owned();
        Ok(upstream
            .then(move |event| {
                let (service, user_id, model) = (service.clone(), user_id.clone(), model.clone());
                async move {
                    match event {
                        Ok(StreamEvent::Done {
                            usage,
                            finish_reason,
                        }) => {
                            service
                                .record_gateway_usage(&user_id, &model, usage)
                                .await?;
                            Ok(StreamEvent::Done {
                                usage,
                                finish_reason,
                            })
                        }
                        Ok(delta) => Ok(delta),
                        Err(err) => Err(PlaygroundError::Provider(err)),
                    }
                }
            })
            .boxed())
    }
}

/// A streamed exchange in progress.
struct StreamState {
    service: PlaygroundService,
    prepared: Prepared,
    upstream: CompletionStream,
    text: String,
    over: bool,
}

impl StreamState {
    async fn next(mut self) -> Option<(Result<ExchangeEvent, PlaygroundError>, Self)> {
        if self.over {
            return None;
        }
        match self.upstream.next().await {
            Some(Ok(StreamEvent::Delta(text))) => {
                self.text.push_str(&text);
                Some((Ok(ExchangeEvent::Delta(text)), self))
            }
            Some(Ok(StreamEvent::Done { usage, .. })) => {
                self.over = true;
                let answer = std::mem::take(&mut self.text);
                let stored = self.service.store(&self.prepared, answer, usage).await;
                Some((stored.map(ExchangeEvent::Done), self))
            }
            Some(Err(err)) => {
                self.over = true;
                Some((Err(PlaygroundError::Provider(err)), self))
            }
            None => {
                self.over = true;
                let cut = ProviderError::StreamCut {
                    provider: self.prepared.provider.name().to_owned(),
                };
                Some((Err(PlaygroundError::Provider(cut)), self))
            }
        }
    }
}

#[cfg(test)]
mod tests;
