//! Against a real local HTTP server ([`FakeOpenAi`]), never a mock.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};

use super::*;
use crate::providers::StreamEvent;
use crate::providers::{ChatMessage, Role};

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
    assert_eq!(
        completion.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 5
        }
    );
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

    let completion = provider(&fake, None, Duration::from_secs(5))
        .complete(request())
        .await
        .expect("complete");

    assert_eq!(fake.requests()[0].header("authorization"), None);
    assert_eq!(
        completion.usage,
        Usage {
            prompt_tokens: 10,
            completion_tokens: 3
        }
    );
}

#[tokio::test]
async fn a_stream_asks_for_usage_and_yields_deltas_then_done() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Stream {
        deltas: vec!["Safe ".into(), "and ".into(), "fast.".into()],
        usage: Some((12, 3)),
        end: StreamEnd::Done,
    });

    let stream = provider(&fake, None, Duration::from_secs(5))
        .stream(request())
        .await
        .expect("stream");
    let (deltas, end) = drain(stream).await;

    assert_eq!(deltas, ["Safe ", "and ", "fast."]);
    assert_eq!(
        end,
        Ok(StreamEvent::Done {
            usage: Usage {
                prompt_tokens: 12,
                completion_tokens: 3
            },
            finish_reason: "stop".into()
        })
    );
    let sent = &fake.requests()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn a_stream_without_usage_is_estimated_rather_than_zero() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Stream {
        deltas: vec!["one ".into(), "two".into()],
        usage: None,
        end: StreamEnd::Done,
    });

    let stream = provider(&fake, None, Duration::from_secs(5))
        .stream(request())
        .await
        .expect("stream");
    let (_, end) = drain(stream).await;

    assert_eq!(
        end,
        Ok(StreamEvent::Done {
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 2
            },
            finish_reason: "stop".into()
        })
    );
}

#[tokio::test]
async fn error_statuses_are_provider_errors() {
    let fake = FakeOpenAi::start();
    for status in [500, 401, 429, 404] {
        fake.push(Reply::Status(
            status,
            r#"{"error": {"message": "nope"}}"#.into(),
        ));
        let err = provider(&fake, None, Duration::from_secs(5))
            .complete(request())
            .await
            .expect_err("error status");
        assert_eq!(
            err,
            ProviderError::Status {
                provider: "local".into(),
                status
            }
        );
    }
    fake.push(Reply::Status(503, "{}".into()));
    let err = provider(&fake, None, Duration::from_secs(5))
        .stream(request())
        .await
        .map(drop)
        .expect_err("stream refused");
    assert_eq!(
        err,
        ProviderError::Status {
            provider: "local".into(),
            status: 503
        }
    );
}

#[tokio::test]
async fn a_hanging_provider_times_out() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Hang).push(Reply::Hang);
    let provider = provider(&fake, None, Duration::from_millis(200));

    let start = Instant::now();
    let complete = provider.complete(request()).await.expect_err("timeout");
    let stream = provider
        .stream(request())
        .await
        .map(drop)
        .expect_err("timeout");

    assert!(
        matches!(complete, ProviderError::Timeout { .. }),
        "{complete:?}"
    );
    assert!(
        matches!(stream, ProviderError::Timeout { .. }),
        "{stream:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_stream_that_stalls_after_its_first_delta_times_out() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Stream {
        deltas: vec!["partial ".into()],
        usage: None,
        end: StreamEnd::Hang,
    });

    let stream = provider(&fake, None, Duration::from_millis(200))
        .stream(request())
        .await
        .expect("started");
    let (deltas, end) = drain(stream).await;

    assert_eq!(deltas, ["partial "]);
    assert!(matches!(end, Err(ProviderError::Timeout { .. })), "{end:?}");
}

#[tokio::test]
async fn dropping_a_stream_closes_the_upstream_connection() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::Stream {
        deltas: vec!["partial ".into()],
        usage: None,
        end: StreamEnd::Hang,
    });
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
        let err = provider(&fake, None, Duration::from_secs(5))
            .complete(request())
            .await
            .expect_err(body);
        assert!(
            matches!(err, ProviderError::Malformed { .. }),
            "{body}: {err:?}"
        );
    }
    fake.push(Reply::Raw(
        r#"{"error": {"message": "model overloaded"}}"#.into(),
    ));
    let err = provider(&fake, None, Duration::from_secs(5))
        .complete(request())
        .await
        .expect_err("error");
    assert_eq!(
        err,
        ProviderError::Upstream {
            provider: "local".into(),
            message: "model overloaded".into()
        }
    );
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_or_ended_early_is_an_error_after_its_deltas() {
    for (end, expect_cut) in [(StreamEnd::Cut, false), (StreamEnd::NoDone, true)] {
        let fake = FakeOpenAi::start();
        fake.push(Reply::Stream {
            deltas: vec!["half ".into(), "an ".into()],
            usage: None,
            end,
        });

        let stream = provider(&fake, None, Duration::from_secs(5))
            .stream(request())
            .await
            .expect("started");
        let (deltas, result) = drain(stream).await;

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
            assert!(
                matches!(
                    err,
                    ProviderError::Transport { .. } | ProviderError::StreamCut { .. }
                ),
                "{err:?}"
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
    fake.push(Reply::Stream {
        deltas: vec!["so ".into()],
        usage: None,
        end: StreamEnd::Error("overloaded".into()),
    });

    let stream = provider(&fake, None, Duration::from_secs(5))
        .stream(request())
        .await
        .expect("started");
    let (deltas, end) = drain(stream).await;

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

    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
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
    assert!(
        matches!(&end, Err(ProviderError::Deadline { seconds, .. }) if (*seconds - 0.6).abs() < 1e-9),
        "{end:?}"
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

    let err = provider(&fake, None, Duration::from_secs(5))
        .complete(request())
        .await
        .expect_err("too big");

    assert!(
        matches!(&err, ProviderError::Malformed { reason, .. } if reason.contains("larger than")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_endless_event_stream_line_is_refused_not_buffered() {
    let fake = FakeOpenAi::start();
    fake.push(Reply::LongLine {
        bytes: MAX_SSE_LINE_BYTES * 2,
    });

    let (deltas, end) = drain(
        provider(&fake, None, Duration::from_secs(5))
            .stream(request())
            .await
            .expect("started"),
    )
    .await;

    assert!(deltas.is_empty());
    assert!(
        matches!(&end, Err(ProviderError::Malformed { reason, .. }) if reason.contains("a line longer than")),
        "{end:?}"
    );
}

#[tokio::test]
async fn a_streamed_answer_longer_than_the_cap_is_refused() {
    let fake = FakeOpenAi::start();
    let block = "y".repeat(64 * 1024);
    fake.push(Reply::Stream {
        deltas: vec![block; MAX_ANSWER_BYTES / (64 * 1024) + 2],
        usage: None,
        end: StreamEnd::Done,
    });

    let (deltas, end) = drain(
        provider(&fake, None, Duration::from_secs(5))
            .stream(request())
            .await
            .expect("started"),
    )
    .await;

    assert_eq!(
        deltas.len(),
        MAX_ANSWER_BYTES / (64 * 1024),
        "up to the cap"
    );
    assert!(
        matches!(&end, Err(ProviderError::Malformed { reason, .. }) if reason.contains("longer than")),
        "{end:?}"
    );
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
}
