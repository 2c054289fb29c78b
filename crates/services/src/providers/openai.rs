//! An OpenAI-compatible chat completions endpoint (OpenAI, Ollama, vLLM,
//! LM Studio, ...): `POST {base_url}/chat/completions`, with
//! `Authorization: Bearer <key>` when a key is configured.
//!
//! - The whole call (connect, answer, body) is bounded by the provider's
//!   timeout; a stream by the same timeout for its first answer and between
//!   any two chunks, and as a whole by the provider's deadline (a stream
//!   that keeps trickling never runs longer).
//! - What an upstream sends is bounded: a JSON answer at
//!   [`MAX_BODY_BYTES`], a line of an event stream at
//!   [`MAX_SSE_LINE_BYTES`], a streamed answer's text at
//!   [`MAX_ANSWER_BYTES`]; beyond them the call fails, so a broken or
//!   hostile upstream cannot exhaust the server's memory.
//! - Streams ask for `stream_options.include_usage`, so streamed calls are
//!   counted; when a server still reports no usage, it is estimated with
//!   [`count_tokens`](super::count_tokens).
//! - A status other than 2xx, a timeout, a body that is not a chat
//!   completion, an error event, or a stream that ends before `data: [DONE]`
//!   is a [`ProviderError`].
//! - SSE is parsed by `eventsource-stream`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

mod reading;

use self::reading::{Feed, LineGuard, Reading};
use super::{
    ChatProvider, ChatRequest, Completion, CompletionStream, ProviderError, Usage,
    count_prompt_tokens, count_tokens,
};

/// The most a non-streamed JSON answer of an upstream may weigh.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The longest line an upstream's event stream may send.
pub const MAX_SSE_LINE_BYTES: usize = 1024 * 1024;
/// The most text a streamed answer may add up to.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// A stream's deadline when none is configured.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// See the module docs.
#[derive(Clone)]
pub struct OpenAiProvider {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    base_url: String,
    api_key: Option<SecretString>,
    timeout: Duration,
    deadline: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("name", &self.inner.name)
            .field("base_url", &self.inner.base_url)
            .field(
                "api_key",
                &self.inner.api_key.as_ref().map(|_| "[redacted]"),
            )
            .field("timeout", &self.inner.timeout)
            .field("deadline", &self.inner.deadline)
            .finish()
    }
}

impl OpenAiProvider {
    /// A provider named `name` at `base_url` (e.g. `https://api.openai.com/v1`),
    /// with a stream deadline of [`DEFAULT_DEADLINE`] (or `timeout`, if
    /// longer).
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                base_url: base_url.trim_end_matches('/').to_owned(),
                api_key: api_key.map(SecretString::from),
                timeout,
                deadline: DEFAULT_DEADLINE.max(timeout),
                client,
            }),
        })
    }

    /// The same provider with this deadline for a whole stream (at least
    /// its timeout).
    #[must_use]
    pub fn with_deadline(self, deadline: Duration) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                name: inner.name.clone(),
                base_url: inner.base_url.clone(),
                api_key: inner.api_key.clone(),
                timeout: inner.timeout,
                deadline: deadline.max(inner.timeout),
                client: inner.client.clone(),
            }),
        }
    }
}

impl Inner {
    fn timeout_error(&self) -> ProviderError {
        ProviderError::Timeout {
            provider: self.name.clone(),
            seconds: self.timeout.as_secs_f64(),
        }
    }

    fn deadline_error(&self) -> ProviderError {
        ProviderError::Deadline {
            provider: self.name.clone(),
            seconds: self.deadline.as_secs_f64(),
        }
    }

    /// The answer's body, refused past [`MAX_BODY_BYTES`].
    async fn body_of(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
        let too_big =
            || self.malformed(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ProviderError::Transport {
                provider: self.name.clone(),
                reason: e.without_url().to_string(),
            })?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn malformed(&self, reason: impl Into<String>) -> ProviderError {
        ProviderError::Malformed {
            provider: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn body(request: &ChatRequest, stream: bool) -> Value {
        let mut body = json!({
            "model": request.model,
            "messages": request.messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect::<Vec<_>>(),
            "stream": stream,
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// Sends the request; a 2xx answer's headers within the timeout, or an
    /// error.
    async fn send(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut call = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .json(&Self::body(request, stream));
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key.expose_secret());
        }
        let response = tokio::time::timeout(self.timeout, call.send())
            .await
            .map_err(|_| self.timeout_error())?
            .map_err(|e| ProviderError::Transport {
                provider: self.name.clone(),
                reason: e.without_url().to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            tracing::warn!(provider = %self.name, status = status.as_u16(), "provider answered an error");
            return Err(ProviderError::Status {
                provider: self.name.clone(),
                status: status.as_u16(),
            });
        }
        Ok(response)
    }

    fn usage(value: &Value) -> Option<Usage> {
        let usage = value.get("usage")?;
        let field = |name: &str| {
            usage
                .get(name)
                .and_then(Value::as_u64)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        Some(Usage {
            prompt_tokens: field("prompt_tokens")?,
            completion_tokens: field("completion_tokens")?,
        })
    }

    fn completion(
        &self,
        request: &ChatRequest,
        value: &Value,
    ) -> Result<Completion, ProviderError> {
        if let Some(error) = value.get("error") {
            return Err(self.upstream(error));
        }
        let choice = value
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
            .ok_or_else(|| self.malformed("no choices"))?;
        let content = match choice.pointer("/message/content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(_) => return Err(self.malformed("message.content is not text")),
        };
        let usage = Self::usage(value).unwrap_or_else(|| Usage {
            prompt_tokens: count_prompt_tokens(&request.messages),
            completion_tokens: count_tokens(&content),
        });
        Ok(Completion {
            content,
            usage,
            finish_reason: choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop")
                .to_owned(),
        })
    }

    fn upstream(&self, error: &Value) -> ProviderError {
        ProviderError::Upstream {
            provider: self.name.clone(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .chars()
                .take(200)
                .collect(),
        }
    }
}

impl ChatProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn complete(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<Completion, ProviderError>> {
        let inner = Arc::clone(&self.inner);
        async move {
            let call = async {
                let response = inner.send(&request, false).await?;
                let body = inner.body_of(response).await?;
                let value: Value = serde_json::from_slice(&body)
                    .map_err(|e| inner.malformed(format!("the body is not JSON: {e}")))?;
                inner.completion(&request, &value)
            };
            tokio::time::timeout(inner.timeout, call)
                .await
                .map_err(|_| inner.timeout_error())?
        }
        .boxed()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<CompletionStream, ProviderError>> {
        let inner = Arc::clone(&self.inner);
        async move {
            let deadline = tokio::time::Instant::now() + inner.deadline;
            let response = inner.send(&request, true).await?;
            let mut lines = LineGuard::default();
            let events = response
                .bytes_stream()
                .map(move |chunk| {
                    let chunk = chunk.map_err(|e| Feed::Transport(e.without_url().to_string()))?;
                    lines.check(&chunk).map(|()| chunk)
                })
                .eventsource()
                .boxed();
            let reading = Reading {
                deadline,
                prompt_tokens: count_prompt_tokens(&request.messages),
                inner,
                events,
                text: String::new(),
                usage: None,
                finish_reason: None,
                finished: false,
            };
            Ok(stream::unfold(reading, Reading::next).boxed())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
