//! LLM metrics: every provider call counted by model and outcome, and its
//! tokens by kind, through the `metrics` facade (the server exports them
//! at `GET /metrics`). [`Metered`] wraps whichever provider serves the
//! model, so the playground and the gateway are counted in one place.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};

use super::{
    ChatProvider, ChatRequest, Completion, CompletionStream, ProviderError, StreamEvent, Usage,
};

/// Provider calls, by `model` and `outcome` (`ok`, `error`, `cancelled`:
/// a stream its caller dropped before it ended).
pub const LLM_REQUESTS: &str = "promptyard_llm_requests_total";
/// Tokens of the calls that completed, by `model` and `kind` (`prompt`,
/// `completion`).
pub const LLM_TOKENS: &str = "promptyard_llm_tokens_total";

/// A provider whose calls are counted.
#[derive(Debug)]
pub struct Metered(pub Arc<dyn ChatProvider>);

fn record(model: &str, outcome: &'static str, usage: Option<Usage>) {
    metrics::counter!(LLM_REQUESTS, "model" => model.to_owned(), "outcome" => outcome).increment(1);
    if let Some(usage) = usage {
        for (kind, tokens) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            metrics::counter!(LLM_TOKENS, "model" => model.to_owned(), "kind" => kind)
                .increment(u64::from(tokens));
        }
    }
}

impl ChatProvider for Metered {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn complete(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<Completion, ProviderError>> {
        let model = request.model.clone();
        let call = self.0.complete(request);
        Box::pin(async move {
            let result = call.await;
            match &result {
                Ok(completion) => record(&model, "ok", Some(completion.usage)),
                Err(_) => record(&model, "error", None),
            }
            result
        })
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxFuture<'static, Result<CompletionStream, ProviderError>> {
        let model = request.model.clone();
        let call = self.0.stream(request);
        Box::pin(async move {
            match call.await {
                Ok(upstream) => Ok(MeteredStream {
                    upstream,
                    model,
                    settled: false,
                }
                .boxed()),
                Err(err) => {
                    record(&model, "error", None);
                    Err(err)
                }
            }
        })
    }
}

/// A stream that records its outcome once: `ok` with its tokens at `Done`,
/// `error` at an error, `cancelled` if dropped before either.
struct MeteredStream {
    upstream: CompletionStream,
    model: String,
    settled: bool,
}

impl Stream for MeteredStream {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.upstream.poll_next_unpin(cx);
        if !self.settled {
            let outcome = match &polled {
                Poll::Ready(Some(Ok(StreamEvent::Done { usage, .. }))) => {
                    Some(("ok", Some(*usage)))
                }
                Poll::Ready(Some(Err(_)) | None) => Some(("error", None)),
                _ => None,
            };
            if let Some((outcome, usage)) = outcome {
                self.settled = true;
                record(&self.model, outcome, usage);
            }
        }
        polled
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        if !self.settled {
            record(&self.model, "cancelled", None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};

    use super::*;
    use crate::providers::{ChatMessage, EchoProvider, OpenAiProvider, Role};

    fn request(model: &str) -> ChatRequest {
        ChatRequest {
            model: model.to_owned(),
            messages: vec![ChatMessage::new(Role::User, "three words here")],
            temperature: None,
            max_tokens: None,
        }
    }

    /// Every counter recorded so far: (name, its labels as `k=v`, value).
    fn counters(snapshotter: &Snapshotter) -> Vec<(String, Vec<String>, u64)> {
        let mut counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => {
                    let key = key.key();
                    let labels = key.labels().map(|l| format!("{}={}", l.key(), l.value()));
                    Some((key.name().to_owned(), labels.collect(), n))
                }
                _ => None,
            })
            .collect();
        counted.sort();
        counted
    }

    /// Every event of a stream of `model` from `provider`, to its end.
    async fn all_events(
        provider: &Metered,
        model: &str,
    ) -> Vec<Result<StreamEvent, ProviderError>> {
        let stream = provider.stream(request(model)).await.expect("stream");
        stream.collect().await
    }

    fn counter(name: &str, labels: &[&str], n: u64) -> (String, Vec<String>, u64) {
        let labels = labels.iter().map(|l| (*l).to_owned()).collect();
        (name.to_owned(), labels, n)
    }

    #[tokio::test]
    async fn each_call_is_counted_by_model_and_outcome_with_the_tokens_of_those_that_ended() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // This test's runtime polls every future on this thread.
        let _local = metrics::set_default_local_recorder(&recorder);
        let echo = Metered(Arc::new(EchoProvider));
        let nowhere = OpenAiProvider::new(
            "down",
            "http://127.0.0.1:9/v1",
            None,
            Duration::from_secs(5),
        )
        .expect("provider");
        let down = Metered(Arc::new(nowhere));

        echo.complete(request("echo-1")).await.expect("echo");
        let streamed = all_events(&echo, "echo-1").await;
        assert!(streamed.iter().all(Result::is_ok), "{streamed:?}");
        let mut cut = echo.stream(request("echo-1")).await.expect("stream");
        cut.next().await.expect("a first word").expect("ok");
        drop(cut);
        assert!(down.complete(request("gpt-down")).await.is_err());
        assert!(down.stream(request("gpt-down")).await.is_err());
        let fake = FakeOpenAi::start();
        fake.push(Reply::Stream {
            deltas: vec!["half".to_owned()],
            usage: None,
            end: StreamEnd::Error("overloaded".to_owned()),
        });
        let upstream = OpenAiProvider::new("local", &fake.base_url(), None, Duration::from_secs(5))
            .expect("provider");
        let failing = Metered(Arc::new(upstream));
        let events = all_events(&failing, "fake-1").await;
        assert!(events.last().is_some_and(Result::is_err), "{events:?}");

        assert_eq!(
            counters(&snapshotter),
            [
                counter(LLM_REQUESTS, &["model=echo-1", "outcome=cancelled"], 1),
                counter(LLM_REQUESTS, &["model=echo-1", "outcome=ok"], 2),
                counter(LLM_REQUESTS, &["model=fake-1", "outcome=error"], 1),
                counter(LLM_REQUESTS, &["model=gpt-down", "outcome=error"], 2),
                counter(LLM_TOKENS, &["model=echo-1", "kind=completion"], 6),
                counter(LLM_TOKENS, &["model=echo-1", "kind=prompt"], 6),
            ]
        );
    }
}
