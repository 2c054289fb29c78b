//! Exchanges: a message sent to a conversation's model, and its answer
//! stored with it (see the module docs of `playground` for what a
//! provider is sent).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::stream::StreamExt;
use promptyard_repositories::{
    ConversationId, ConversationRepository, Message, RepoError, UsageRepository, UserId,
};

use super::{
    Exchange, ExchangeEvent, ExchangeStream, NewMessage, PlaygroundError, PlaygroundService,
    UsageSource, stored,
};
use crate::limits::{Admission, LlmCaller};
use crate::providers::{
    ChatMessage, ChatProvider, ChatRequest, CompletionStream, ProviderError, Role, StreamEvent,
    Usage, count_tokens,
};
use crate::validation::FieldError;

/// Tokens each message adds to a prompt beyond its text (role and
/// separators), in the context window's arithmetic.
pub const MESSAGE_OVERHEAD_TOKENS: u32 = 4;

/// A message's size in the context window's arithmetic.
fn window_cost(tokens: u32) -> u64 {
    u64::from(tokens) + u64::from(MESSAGE_OVERHEAD_TOKENS)
}

/// A prepared exchange: what to store with the answer.
struct Prepared {
    model: String,
    provider: Arc<dyn ChatProvider>,
    conversation_id: ConversationId,
    user: UserId,
    content: String,
    /// The new message's own token count, stored with it.
    tokens: u32,
    asked_at: DateTime<Utc>,
}

impl PlaygroundService {
    /// Reads the conversation and the newest history that fits its model's
    /// window, in one trip to a reader; returns what to send and what to
    /// store.
    async fn prepare(
        &self,
        caller: &LlmCaller,
        conversation: &ConversationId,
        message: NewMessage,
    ) -> Result<(Prepared, ChatRequest), PlaygroundError> {
        let user = &caller.user;
        let asked_at = self.clock.now();
        let content = message.content.into_string();
        let tokens = count_tokens(&content);
        let max_tokens = message.sampling.max_tokens.map(super::MaxTokens::get);
        let (owner, id, providers) = (
            user.clone(),
            conversation.clone(),
            Arc::clone(&self.providers),
        );
        let (conversation, route, history) = self
            .db
            .read(move |conn| {
                let conversation = ConversationRepository::get_for_user(conn, &owner, &id)?;
                let route = providers.route(&conversation.model);
                let history = match &route {
                    Some(route) => {
                        let system = conversation.system_prompt.as_deref().unwrap_or_default();
                        let budget = u64::from(route.context_tokens)
                            .saturating_sub(window_cost(count_tokens(system)))
                            .saturating_sub(window_cost(tokens))
                            .saturating_sub(u64::from(max_tokens.unwrap_or(0)));
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
            PlaygroundError::Validation(vec![FieldError::new(
                "model",
                "the conversation's model is no longer configured",
            )])
        })?;
        if !caller.allows(&conversation.model) {
            return Err(PlaygroundError::Validation(vec![FieldError::new(
                "model",
                "the conversation's model is not one this API key may use",
            )]));
        }
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
        messages.push(ChatMessage::new(Role::User, content.clone()));
        let request = ChatRequest {
            model: conversation.model.clone(),
            messages,
            temperature: message.sampling.temperature.map(super::Temperature::get),
            max_tokens,
        };
        let prepared = Prepared {
            model: conversation.model,
            provider: route.provider,
            conversation_id: conversation.id,
            user: user.clone(),
            content,
            tokens,
            asked_at,
        };
        Ok((prepared, request))
    }

    /// Writes the user message, the answer and the usage in one
    /// transaction, with the settlement of the key's admission if there is
    /// one.
    async fn store(
        &self,
        prepared: &Prepared,
        answer: String,
        usage: Usage,
        admission: Option<Admission>,
    ) -> Result<Exchange, PlaygroundError> {
        let settlement = admission.as_ref().map(|a| a.settlement(usage));
        let answered_at = self.clock.now().naive_utc();
        let question = Message {
            id: self.ids.new_id().into(),
            conversation_id: prepared.conversation_id.clone(),
            role: Role::User.as_str().to_owned(),
            content: prepared.content.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            created_at: prepared.asked_at.naive_utc(),
            tokens: stored(prepared.tokens),
        };
        let answer = Message {
            id: self.ids.new_id().into(),
            conversation_id: prepared.conversation_id.clone(),
            role: Role::Assistant.as_str().to_owned(),
            content: answer,
            prompt_tokens: stored(usage.prompt_tokens),
            completion_tokens: stored(usage.completion_tokens),
            created_at: answered_at,
            // The provider's own count of the answer.
            tokens: stored(usage.completion_tokens),
        };
        let record = self.usage_record(
            &prepared.user,
            &prepared.model,
            UsageSource::Playground,
            usage,
            answered_at,
        );
        let conversation = prepared.conversation_id.clone();
        let (question, answer) = self
            .db
            .write(move |conn| {
                // The conversation may have been deleted while the provider
                // answered: then nothing is stored (the foreign key refuses).
                ConversationRepository::add_message(conn, &question)?;
                ConversationRepository::add_message(conn, &answer)?;
                UsageRepository::record(conn, &record)?;
                ConversationRepository::touch(conn, &conversation, answered_at)?;
                if let Some(settlement) = &settlement {
                    settlement.apply(conn)?;
                }
                Ok::<_, RepoError>((question, answer))
            })
            .await
            .map_err(|err| match err {
                RepoError::ForeignKeyViolation => PlaygroundError::NotFound,
                other => other.into(),
            })?;
        if let Some(admission) = admission {
            admission.settled();
        }
        Ok(Exchange {
            user_message: question.into(),
            assistant_message: answer.into(),
            usage: usage.into(),
        })
    }

    /// Sends `message` to the conversation's model and stores the exchange
    /// once the answer is complete.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user, conversation_id = %conversation))]
    pub async fn send_message(
        &self,
        caller: &LlmCaller,
        conversation: &ConversationId,
        message: NewMessage,
    ) -> Result<Exchange, PlaygroundError> {
        let (prepared, mut request) = self.prepare(caller, conversation, message).await?;
        let mut admission = self.admit(caller, &mut request).await?;
        let completion = prepared.provider.complete(request).await?;
        if let Some(admission) = admission.as_mut() {
            admission.answered(completion.usage);
        }
        self.store(&prepared, completion.content, completion.usage, admission)
            .await
    }

    /// Like [`send_message`](Self::send_message), streamed: deltas as they
    /// arrive, then the stored exchange. An error ends the stream and
    /// nothing is stored.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user, conversation_id = %conversation))]
    pub async fn stream_message(
        &self,
        caller: &LlmCaller,
        conversation: &ConversationId,
        message: NewMessage,
    ) -> Result<ExchangeStream, PlaygroundError> {
        let (prepared, mut request) = self.prepare(caller, conversation, message).await?;
        let admission = self.admit(caller, &mut request).await?;
        let upstream = prepared.provider.stream(request).await?;
        let state = StreamState {
            service: self.clone(),
            prepared,
            admission,
            upstream,
            text: String::new(),
            over: false,
        };
        Ok(futures_util::stream::unfold(state, StreamState::next).boxed())
    }
}

/// A streamed exchange in progress.
struct StreamState {
    service: PlaygroundService,
    prepared: Prepared,
    /// The key's reservation, settled with the answer; if the stream fails
    /// or is dropped, settled to what it streamed (given back if nothing).
    admission: Option<Admission>,
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
                if let Some(admission) = self.admission.as_mut() {
                    admission.streamed(&text);
                }
                self.text.push_str(&text);
                Some((Ok(ExchangeEvent::Delta(text)), self))
            }
            Some(Ok(StreamEvent::Done { usage, .. })) => {
                self.over = true;
                let answer = std::mem::take(&mut self.text);
                let admission = self.admission.take();
                let stored = self
                    .service
                    .store(&self.prepared, answer, usage, admission)
                    .await;
                Some((stored.map(ExchangeEvent::Done), self))
            }
            Some(Err(err)) => {
                self.over = true;
                self.admission.take();
                Some((Err(PlaygroundError::Provider(err)), self))
            }
            None => {
                self.over = true;
                self.admission.take();
                let cut = ProviderError::StreamCut {
                    provider: self.prepared.provider.name().to_owned(),
                };
                Some((Err(PlaygroundError::Provider(cut)), self))
            }
        }
    }
}
