//! Against a real local HTTP server ([`FakeOpenAi`]), never a mock.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};

use super::*;
use crate::providers::StreamEvent;
use crate::providers::{ChatMessage, Role};
use crate::test_helpers::assert_matches;

fn provider(fake: &FakeOpenAi, key: Option<&str>, timeout: Duration) -> OpenAiProvider {
    OpenAiProvider::new("local", &fake.base_url(), key.map(str::to_owned), timeout)
        .expect("provider")
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "llama3.2:1b".into(),
        messages: vec![
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "What is Rust?"),
            ChatMessage::new(Role::Assistant, "A language."),
            ChatMessage::new(Role::User, "Tell me more"),
        ],
        temperature: Some(0.5),
        max_tokens: Some(64),
    }
}

/// Collects a stream: the deltas and the final event or error.
async fn drain(stream: CompletionStream) -> (Vec<String>, Result<StreamEvent, ProviderError>) {
    let mut deltas = Vec::new();
    let mut stream = stream;
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Delta(text)) => deltas.push(text),
            other => {
                assert!(stream.next().await.is_none(), "nothing after the end");
                return (deltas, other);
            }
        }
    }
    panic!("the stream ended without Done or an error");
}

/// Queues a streamed reply of these deltas, then `end`.
fn push_stream(fake: &FakeOpenAi, deltas: &[&str], usage: Option<(u32, u32)>, end: StreamEnd) {
    fake.push(Reply::Stream {
        deltas: deltas.iter().map(|d| (*d).to_owned()).collect(),
        usage,
        end,
    });
}

/// Streams [`request`] through a keyless provider with this timeout, and
/// drains the stream.
async fn streamed(
    fake: &FakeOpenAi,
    timeout: Duration,
) -> (Vec<String>, Result<StreamEvent, ProviderError>) {
    let stream = provider(fake, None, timeout).stream(request()).await;
    drain(stream.expect("started")).await
}

/// Asks a keyless provider with a 5 s timeout for a whole answer.
async fn completed(fake: &FakeOpenAi) -> Result<Completion, ProviderError> {
    let provider = provider(fake, None, Duration::from_secs(5));
    provider.complete(request()).await
}

/// Asserts that `result` is refused as malformed, for a reason that
/// contains `part`.
fn assert_malformed<T: std::fmt::Debug>(result: Result<T, ProviderError>, part: &str) {
    assert_matches!(
        result,
        Err(ProviderError::Malformed { reason, .. }) if reason.contains(part),
        "not malformed for {part:?}:"
    );
}

/// Token counts.
fn usage(prompt_tokens: u32, completion_tokens: u32) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
    }
}

/// A stream's end that stopped normally with this usage.
fn done(prompt_tokens: u32, completion_tokens: u32) -> Result<StreamEvent, ProviderError> {
    Ok(StreamEvent::Done {
        usage: usage(prompt_tokens, completion_tokens),
        finish_reason: "stop".into(),
    })
}

#[tokio::test]
async fn a_completion_sends_the_whole_conversation_and_reads_the_answer() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Complete {
        content: "It is safe and fast.".into(),
        usage: Some((12, 5)),
    });

    let completion = provider(&fake, Some("sk-test"), Duration::from_secs(5))
        .complete(request())
        .await
        .expect("complete");

    assert_eq!(completion.content, "It is safe and fast.");
    assert_eq!(completion.usage, usage(12, 5));
    assert_eq!(completion.finish_reason, "stop");
    let sent = &fake.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        sent.body,
        json!({
            "model": "llama3.2:1b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is Rust?"},
                {"role": "assistant", "content": "A language."},
                {"role": "user", "content": "Tell me more"},
            ],
            "stream": false, "temperature": 0.5, "max_tokens": 64,
        })
    );
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent_and_missing_usage_is_estimated() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Complete {
        content: "three words here".into(),
        usage: None,
    });

    let completion = completed(&fake).await.expect("complete");

    assert_eq!(fake.requests()[0].header("authorization"), None);
    assert_eq!(completion.usage, usage(10, 3));
}

#[tokio::test]
async fn a_stream_asks_for_usage_and_yields_deltas_then_done() {
    let fake = FakeOpenAi::start();
    let deltas = ["Safe ", "and ", "fast."];
    push_stream(&fake, &deltas, Some((12, 3)), StreamEnd::Done);

    let (got, end) = streamed(&fake, Duration::from_secs(5)).await;

    assert_eq!(got, deltas);
    assert_eq!(end, done(12, 3));
    let sent = &fake.requests()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn a_stream_without_usage_is_estimated_rather_than_zero() {
    let fake = FakeOpenAi::start();
    push_stream(&fake, &["one ", "two"], None, StreamEnd::Done);

    let (_, end) = streamed(&fake, Duration::from_secs(5)).await;

    assert_eq!(end, done(10, 2));
}

#[tokio::test]
async fn error_statuses_are_provider_errors() {
    let fake = FakeOpenAi::start();
    let status_error = |status| ProviderError::Status {
        provider: "local".into(),
        status,
    };
    for status in [500, 401, 429, 404] {
        fake.push(Reply::Status(
            status,
            r#"{"error": {"message": "nope"}}"#.into(),
        ));
        assert_eq!(completed(&fake).await, Err(status_error(status)));
    }
    fake.push(Reply::Status(503, "{}".into()));
    let stream = provider(&fake, None, Duration::from_secs(5))
        .stream(request())
        .await;
    assert_eq!(stream.map(drop), Err(status_error(503)), "stream refused");
}

#[tokio::test]
async fn a_hanging_provider_times_out() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Hang).push(Reply::Hang);
    let provider = provider(&fake, None, Duration::from_millis(200));

    let start = Instant::now();
    let complete = provider.complete(request()).await;
    let stream = provider.stream(request()).await.map(drop);

    assert_matches!(complete, Err(ProviderError::Timeout { .. }));
    assert_matches!(stream, Err(ProviderError::Timeout { .. }));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_stream_that_stalls_after_its_first_delta_times_out() {
    let fake = FakeOpenAi::start();
    push_stream(&fake, &["partial "], None, StreamEnd::Hang);

    let (deltas, end) = streamed(&fake, Duration::from_millis(200)).await;

    assert_eq!(deltas, ["partial "]);
    assert_matches!(end, Err(ProviderError::Timeout { .. }));
}

#[tokio::test]
async fn dropping_a_stream_closes_the_upstream_connection() {
    let fake = FakeOpenAi::start();
    push_stream(&fake, &["partial "], None, StreamEnd::Hang);
    let mut stream = provider(&fake, None, Duration::from_secs(30))
        .stream(request())
        .await
        .expect("started");
    stream.next().await.expect("a first delta").expect("ok");
    assert_eq!(fake.disconnects(), 0, "still streaming");

    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.disconnects() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.disconnects(), 1);
}

#[tokio::test]
async fn bodies_that_are_not_completions_are_malformed() {
    let fake = FakeOpenAi::start();
    for body in [
        "not json",
        r#"{"choices": []}"#,
        r#"{"object": "list"}"#,
        r#"{"choices": [{"message": {"content": 5}}]}"#,
    ] {
        fake.push(Reply::Raw(body.into()));
        let result = completed(&fake).await;
        assert_matches!(result, Err(ProviderError::Malformed { .. }), "{body}:");
    }
    fake.push(Reply::Raw(
        r#"{"error": {"message": "model overloaded"}}"#.into(),
    ));
    assert_eq!(
        completed(&fake).await,
        Err(ProviderError::Upstream {
            provider: "local".into(),
            message: "model overloaded".into()
        })
    );
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_or_ended_early_is_an_error_after_its_deltas() {
    for (end, expect_cut) in [(StreamEnd::Cut, false), (StreamEnd::NoDone, true)] {
        let fake = FakeOpenAi::start();
        push_stream(&fake, &["half ", "an "], None, end);

        let (deltas, result) = streamed(&fake, Duration::from_secs(5)).await;

        assert_eq!(deltas, ["half ", "an "]);
        let err = result.expect_err("not a complete answer");
        if expect_cut {
            assert_eq!(
                err,
                ProviderError::StreamCut {
                    provider: "local".into()
                }
            );
        } else {
            assert_matches!(
                &err,
                ProviderError::Transport { .. } | ProviderError::StreamCut { .. }
            );
            // Its text reaches clients: never the provider's URL.
            let addr = fake.base_url().replace("http://", "").replace("/v1", "");
            assert!(!err.to_string().contains(&addr), "{err}");
            assert!(!format!("{err:?}").contains(&addr), "{err:?}");
        }
    }
}

#[tokio::test]
async fn an_error_event_in_a_stream_is_an_upstream_error() {
    let fake = FakeOpenAi::start();
    push_stream(&fake, &["so "], None, StreamEnd::Error("overloaded".into()));

    let (deltas, end) = streamed(&fake, Duration::from_secs(5)).await;

    assert_eq!(deltas, ["so "]);
    assert_eq!(
        end,
        Err(ProviderError::Upstream {
            provider: "local".into(),
            message: "overloaded".into()
        })
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error_without_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let provider = OpenAiProvider::new(
        "gone",
        &format!("http://127.0.0.1:{port}/v1"),
        Some("sk-secret".into()),
        Duration::from_secs(2),
    )
    .expect("provider");

    let err = provider.complete(request()).await.expect_err("refused");

    assert_matches!(&err, ProviderError::Transport { .. });
    assert!(!err.to_string().contains("sk-secret"));
    assert!(!format!("{provider:?}").contains("sk-secret"));
}

#[tokio::test]
async fn a_stream_that_keeps_trickling_is_cut_at_its_deadline() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Trickle {
        delta: "tick ".into(),
        every: Duration::from_millis(50),
        count: 100,
    });
    // Every gap (50 ms) is well inside the timeout (400 ms); the whole is
    // not inside the deadline (600 ms).
    let provider =
        provider(&fake, None, Duration::from_millis(400)).with_deadline(Duration::from_millis(600));
    let started = Instant::now();

    let (deltas, end) = drain(provider.stream(request()).await.expect("started")).await;

    let elapsed = started.elapsed();
    assert_matches!(
        end,
        Err(ProviderError::Deadline { seconds, .. }) if (seconds - 0.6).abs() < 1e-9
    );
    assert!(
        deltas.len() >= 5,
        "it streamed until then: {}",
        deltas.len()
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "cut at the deadline, not after all 100 deltas: {elapsed:?}"
    );
}

#[test]
fn a_deadline_is_never_shorter_than_the_timeout() {
    let fake = FakeOpenAi::start();
    let provider =
        provider(&fake, None, Duration::from_secs(30)).with_deadline(Duration::from_secs(1));
    assert!(
        format!("{provider:?}").contains("deadline: 30s"),
        "{provider:?}"
    );
    let default = self::provider(&fake, None, Duration::from_secs(5));
    assert!(
        format!("{default:?}").contains("deadline: 600s"),
        "{default:?}"
    );
}

#[tokio::test]
async fn an_oversized_json_answer_is_refused_not_buffered() {
    let fake = FakeOpenAi::start();
    let padding = "x".repeat(MAX_BODY_BYTES);
    fake.push(Reply::Raw(format!(
        r#"{{"choices": [{{"message": {{"content": "{padding}"}}}}]}}"#
    )));

    let result = completed(&fake).await;

    assert_malformed(result, "larger than");
}

#[tokio::test]
async fn an_endless_event_stream_line_is_refused_not_buffered() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::LongLine {
        bytes: MAX_SSE_LINE_BYTES * 2,
    });

    let (deltas, end) = streamed(&fake, Duration::from_secs(5)).await;

    assert!(deltas.is_empty());
    assert_malformed(end, "a line longer than");
}

#[tokio::test]
async fn a_streamed_answer_longer_than_the_cap_is_refused() {
    let fake = FakeOpenAi::start();
    let block = "y".repeat(64 * 1024);
    let blocks = vec![block.as_str(); MAX_ANSWER_BYTES / (64 * 1024) + 2];
    push_stream(&fake, &blocks, None, StreamEnd::Done);

    let (deltas, end) = streamed(&fake, Duration::from_secs(5)).await;

    assert_eq!(
        deltas.len(),
        MAX_ANSWER_BYTES / (64 * 1024),
        "up to the cap"
    );
    assert_malformed(end, "longer than");
}

#[test]
fn the_line_guard_measures_lines_across_chunks() {
    let mut guard = LineGuard::default();
    let half = vec![b'a'; MAX_SSE_LINE_BYTES / 2];
    assert!(guard.check(&half).is_ok());
    assert!(guard.check(&half).is_ok(), "exactly the cap");
    assert!(guard.check(b"b").is_err(), "one byte more");

    let mut guard = LineGuard::default();
    let mut chunk = half.clone();
    chunk.push(b'\n');
    chunk.extend_from_slice(&half);
    assert!(guard.check(&chunk).is_ok(), "two half lines");
    assert!(guard.check(b"\nshort").is_ok(), "a newline starts over");
    assert!(guard.check(&vec![b'c'; MAX_SSE_LINE_BYTES + 1]).is_err());

    // A line that ends inside a chunk: at the cap it is fine and the next
    // one starts from zero; one byte over fails even if more lines follow.
    let ending = |len| {
        let mut chunk = vec![b'd'; len];
        chunk.extend_from_slice(b"\nnext");
        chunk
    };
    let mut guard = LineGuard::default();
    assert!(guard.check(&ending(MAX_SSE_LINE_BYTES)).is_ok());
    assert!(guard.check(b" line").is_ok(), "the next line is short");
    let mut guard = LineGuard::default();
    assert!(guard.check(&ending(MAX_SSE_LINE_BYTES + 1)).is_err());
}

#[test]
fn the_caps_on_an_upstream_are_the_readmes() {
    // README, "LLM providers, ...": a JSON answer at 4 MiB, a line of an event
    // stream at 1 MiB, a streamed answer's text at 4 MiB.
    const MIB: usize = 1024 * 1024;
    assert_eq!(
        [MAX_BODY_BYTES, MAX_SSE_LINE_BYTES, MAX_ANSWER_BYTES],
        [4 * MIB, MIB, 4 * MIB]
    );
}

#[tokio::test]
async fn a_json_answer_of_exactly_the_cap_is_read() {
    let fake = FakeOpenAi::start();
    let shape =
        |padding: &str| format!(r#"{{"choices": [{{"message": {{"content": "{padding}"}}}}]}}"#);
    let padding = "x".repeat(MAX_BODY_BYTES - shape("").len());
    let body = shape(&padding);
    assert_eq!(body.len(), MAX_BODY_BYTES);
    fake.push(Reply::Raw(body));

    let completion = completed(&fake).await.expect("at the cap, not over it");

    assert_eq!(completion.content.len(), padding.len());
}
