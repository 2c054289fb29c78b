//! The built-in `echo` provider: model `echo-1` answers with the text of
//! the last user message, so a fresh install works with no network and no
//! key. Deterministic; tokens are counted with
//! [`count_tokens`](super::count_tokens) (whitespace-separated words):
//! prompt tokens over every message sent, completion tokens over the
//! answer. It needs no history ([`ECHO_CONTEXT_TOKENS`] is 0), so the
//! playground sends it the system prompt and the new message only.
//! Streamed, the answer comes one word (with its following whitespace) per
//! delta.

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, stream};

use super::{
    ChatProvider, ChatRequest, Completion, CompletionStream, ProviderError, Role, StreamEvent,
    Usage, count_prompt_tokens, count_tokens,
};

/// The echo provider's name.
pub const ECHO_PROVIDER: &str = "echo";
/// Its one model.
pub const ECHO_MODEL: &str = "echo-1";
/// `echo-1`'s context window: none. It answers with the last user message,
/// so it is sent no history, only the system prompt and the new message.
pub const ECHO_CONTEXT_TOKENS: u32 = 0;

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoProvider;

fn answer(request: &ChatRequest) -> Completion {
    let content = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default();
    Completion {
        usage: Usage {
            prompt_tokens: count_prompt_tokens(&request.messages),
            completion_tokens: count_tokens(&content),
        },
        content,
        finish_reason: "stop".to_owned(),
    }
}

/// `"hello big  world"` → `["hello ", "big  ", "world"]`: every character
/// is kept, so the deltas concatenate to the answer.
fn words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if !c.is_whitespace() && in_space {
            pieces.push(std::mem::take(&mut current));
            in_space = false;
        }
        if c.is_whitespace() {
            in_space = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

impl ChatProvider for EchoProvider {
    fn name(&self) -> &str {
        ECHO_PROVIDER
    }

    fn complete(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<Completion, ProviderError>> {
        let completion = answer(&request);
        async move { Ok(completion) }.boxed()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<CompletionStream, ProviderError>> {
        let completion = answer(&request);
        let mut events: Vec<Result<StreamEvent, ProviderError>> = words(&completion.content)
            .into_iter()
            .map(|w| Ok(StreamEvent::Delta(w)))
            .collect();
        events.push(Ok(StreamEvent::Done {
            usage: completion.usage,
            finish_reason: completion.finish_reason,
        }));
        async move { Ok(stream::iter(events).boxed()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use super::*;
    use crate::providers::ChatMessage;

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: ECHO_MODEL.into(),
            messages,
            temperature: None,
            max_tokens: None,
        }
    }

    #[tokio::test]
    async fn echo_answers_the_last_user_message_and_counts_words() {
        let request = request(vec![
            ChatMessage::new(Role::System, "You are terse."),
            ChatMessage::new(Role::User, "first question"),
            ChatMessage::new(Role::Assistant, "first question"),
            ChatMessage::new(Role::User, "second  question, please"),
        ]);

        let completion = EchoProvider.complete(request).await.expect("complete");

        assert_eq!(completion.content, "second  question, please");
        assert_eq!(
            completion.usage,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 3
            }
        );
        assert_eq!(completion.finish_reason, "stop");
    }

    #[tokio::test]
    async fn echo_streams_the_same_answer_word_by_word_then_done() {
        let messages = vec![ChatMessage::new(Role::User, "hello big  world ")];
        let whole = EchoProvider
            .complete(request(messages.clone()))
            .await
            .expect("complete");

        let events: Vec<StreamEvent> = EchoProvider
            .stream(request(messages))
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("events");

        assert_eq!(
            events,
            [
                StreamEvent::Delta("hello ".into()),
                StreamEvent::Delta("big  ".into()),
                StreamEvent::Delta("world ".into()),
                StreamEvent::Done {
                    usage: whole.usage,
                    finish_reason: "stop".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn with_no_user_message_echo_answers_nothing() {
        let completion = EchoProvider
            .complete(request(vec![ChatMessage::new(Role::System, "sys")]))
            .await
            .expect("complete");
        assert_eq!(completion.content, "");
        assert_eq!(completion.usage.completion_tokens, 0);
        let events: Vec<StreamEvent> = EchoProvider
            .stream(request(vec![]))
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("events");
        assert_eq!(events.len(), 1, "just Done");
    }

    #[test]
    fn words_keep_every_character() {
        for text in ["", "one", "  leading", "a b  c\n", "tab\tand\nnewline"] {
            assert_eq!(words(text).concat(), text);
        }
    }
}
