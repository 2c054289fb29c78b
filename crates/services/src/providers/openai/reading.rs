//! Reading an upstream's event stream: lines bounded before they are
//! buffered ([`LineGuard`]), events turned into [`StreamEvent`]s with the
//! gap timeout, the whole-stream deadline and the answer-size cap
//! ([`Reading`]).

use std::fmt;
use std::sync::Arc;

use eventsource_stream::EventStreamError;
use futures_util::stream::{BoxStream, StreamExt};
use serde_json::Value;

use super::{Inner, MAX_ANSWER_BYTES, MAX_SSE_LINE_BYTES};
use crate::providers::{ProviderError, StreamEvent, Usage, count_tokens};

/// What can interrupt the bytes of an event stream before it is parsed.
#[derive(Debug)]
pub(super) enum Feed {
    Transport(String),
    /// A line longer than [`MAX_SSE_LINE_BYTES`].
    LineTooLong,
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(reason) => f.write_str(reason),
            Self::LineTooLong => write!(f, "a line longer than {MAX_SSE_LINE_BYTES} bytes"),
        }
    }
}

/// Tracks the length of the line a stream of bytes is in, and refuses one
/// longer than [`MAX_SSE_LINE_BYTES`] before it is ever buffered whole.
#[derive(Debug, Default)]
pub(super) struct LineGuard {
    current: usize,
}

impl LineGuard {
    pub(super) fn check(&mut self, chunk: &[u8]) -> Result<(), Feed> {
        let mut pieces = chunk.split(|b| *b == b'\n');
        if let Some(first) = pieces.next() {
            self.current += first.len();
        }
        for piece in pieces {
            if self.current > MAX_SSE_LINE_BYTES {
                break;
            }
            self.current = piece.len();
        }
        if self.current > MAX_SSE_LINE_BYTES {
            Err(Feed::LineTooLong)
        } else {
            Ok(())
        }
    }
}

/// The state of a stream being read.
pub(super) struct Reading {
    pub(super) inner: Arc<Inner>,
    pub(super) events:
        BoxStream<'static, Result<eventsource_stream::Event, EventStreamError<Feed>>>,
    /// When the whole stream must be over.
    pub(super) deadline: tokio::time::Instant,
    pub(super) prompt_tokens: u32,
    pub(super) text: String,
    pub(super) usage: Option<Usage>,
    pub(super) finish_reason: Option<String>,
    pub(super) finished: bool,
}

impl Reading {
    /// The next event to hand out, or `None` when the stream is over.
    pub(super) async fn next(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        if self.finished {
            return None;
        }
        loop {
            let gap = tokio::time::Instant::now() + self.inner.timeout;
            let next = tokio::time::timeout_at(gap.min(self.deadline), self.events.next()).await;
            let event = match next {
                Err(_) if gap >= self.deadline => {
                    let error = self.inner.deadline_error();
                    return self.fail(error);
                }
                Err(_) => {
                    let error = self.inner.timeout_error();
                    return self.fail(error);
                }
                Ok(None) => {
                    let cut = ProviderError::StreamCut {
                        provider: self.inner.name.clone(),
                    };
                    return self.fail(cut);
                }
                Ok(Some(Err(EventStreamError::Transport(Feed::LineTooLong)))) => {
                    let error = self.inner.malformed(Feed::LineTooLong.to_string());
                    return self.fail(error);
                }
                Ok(Some(Err(err))) => {
                    let error = ProviderError::Transport {
                        provider: self.inner.name.clone(),
                        reason: err.to_string(),
                    };
                    return self.fail(error);
                }
                Ok(Some(Ok(event))) => event,
            };
            let data = event.data.trim();
            if data == "[DONE]" {
                self.finished = true;
                let usage = self.usage.unwrap_or_else(|| Usage {
                    prompt_tokens: self.prompt_tokens,
                    completion_tokens: count_tokens(&self.text),
                });
                let finish_reason = self
                    .finish_reason
                    .clone()
                    .unwrap_or_else(|| "stop".to_owned());
                return Some((
                    Ok(StreamEvent::Done {
                        usage,
                        finish_reason,
                    }),
                    self,
                ));
            }
            if data.is_empty() {
                continue;
            }
            let value: Value = match serde_json::from_str(data) {
                Ok(value) => value,
                Err(e) => {
                    let error = self.inner.malformed(format!("a chunk is not JSON: {e}"));
                    return self.fail(error);
                }
            };
            if let Some(error) = value.get("error") {
                let error = self.inner.upstream(error);
                return self.fail(error);
            }
            if let Some(usage) = Inner::usage(&value) {
                self.usage = Some(usage);
            }
            let choice = value
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first());
            if let Some(reason) = choice
                .and_then(|c| c.get("finish_reason"))
                .and_then(Value::as_str)
            {
                self.finish_reason = Some(reason.to_owned());
            }
            match choice.and_then(|c| c.pointer("/delta/content")) {
                Some(Value::String(text)) if !text.is_empty() => {
                    if self.text.len() + text.len() > MAX_ANSWER_BYTES {
                        let error = self.inner.malformed(format!(
                            "the answer is longer than {MAX_ANSWER_BYTES} bytes"
                        ));
                        return self.fail(error);
                    }
                    self.text.push_str(text);
                    let delta = StreamEvent::Delta(text.clone());
                    return Some((Ok(delta), self));
                }
                _ => {}
            }
        }
    }

    fn fail(mut self, error: ProviderError) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        self.finished = true;
        Some((Err(error), self))
    }
}
