//! The playground over a real socket, from registration to usage, with the
//! built-in echo model and a fake OpenAI-compatible upstream the test runs.

use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_tests::{TestApp, TestServer, each};
use serde_json::{Value, json};

/// The path of the conversation `id`.
fn conversation(id: &Value) -> String {
    format!(
        "/api/v1/playground/conversations/{}",
        id.as_str().expect("id")
    )
}

/// The path to post messages to the conversation `id`.
fn messages(id: &Value) -> String {
    format!("{}/messages", conversation(id))
}

#[tokio::test]
async fn register_chat_with_echo_and_upstream_stream_count_usage_and_delete() {
    let fake = FakeOpenAi::start();
    let server = TestServer::serve(TestApp::with_fake_upstream(&fake));
    let ada = server.anonymous().sign_up("ada@example.com").await;

    // Models: echo and the configured upstream.
    let (status, models) = ada.get("/api/v1/playground/models").await.parts();
    assert_eq!(status, 200);
    assert_eq!(each(&models["models"], "id"), ["echo-1", "fake-1"]);

    // A conversation with echo: both messages are kept.
    let echo = ada
        .create_conversation(&json!({"model": "echo-1", "title": "Echo"}))
        .await;
    let (status, exchange) = ada
        .post(&messages(&echo["id"]), &json!({"content": "hello echo"}))
        .await
        .parts();
    assert_eq!(status, 201);
    assert_eq!(exchange["assistant_message"]["content"], "hello echo");
    let (status, history) = ada.get(&conversation(&echo["id"])).await.parts();
    assert_eq!(status, 200);
    assert_eq!(each(&history["messages"], "role"), ["user", "assistant"]);
    assert_eq!(
        each(&history["messages"], "content"),
        ["hello echo", "hello echo"]
    );

    // The upstream receives the system prompt and the history.
    let upstream = ada
        .create_conversation(&json!({"model": "fake-1", "system_prompt": "Answer in French."}))
        .await;
    let path = messages(&upstream["id"]);
    for body in [
        json!({"content": "Hello"}),
        json!({"content": "How are you?", "temperature": 0.1}),
    ] {
        assert_eq!(ada.post(&path, &body).await.status, 201, "{body}");
    }
    assert_eq!(
        fake.requests()[1].body["messages"],
        json!([
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "fake: Hello"},
            {"role": "user", "content": "How are you?"},
        ])
    );

    // A streamed answer reassembles into the stored message.
    fake.push(Reply::Stream {
        deltas: vec!["Très ".into(), "bien, ".into(), "merci.".into()],
        usage: Some((20, 3)),
        end: StreamEnd::Done,
    });
    let streamed = ada
        .post(&path, &json!({"content": "Et toi?", "stream": true}))
        .await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let (text, done) = streamed.deltas_and_done();
    assert_eq!(text, "Très bien, merci.");
    assert_eq!(done["assistant_message"]["content"], text);
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23})
    );

    // Usage adds up: echo (hello echo: 2 + 2) and three upstream calls.
    let (status, usage) = ada.get("/api/v1/playground/usage").await.parts();
    assert_eq!(status, 200);
    let by_model = usage["by_model"].as_array().expect("by_model");
    assert_eq!(by_model.len(), 2);
    let total: u64 = by_model
        .iter()
        .map(|m| m["total_tokens"].as_u64().expect("n"))
        .sum();
    assert_eq!(usage["total"]["total_tokens"].as_u64(), Some(total));
    assert_eq!(
        by_model[0],
        json!({"model": "echo-1", "prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})
    );
    // What the fake upstream reported (it counts words): "Hello" with the
    // system prompt (3 + 1 prompt, 2 answer), "How are you?" with the
    // history (3 + 1 + 2 + 3 prompt, 4 answer), and the scripted stream (23).
    let upstream_usage: u64 = (3 + 1) + 2 + (3 + 1 + 2 + 3) + 4 + 23;
    assert_eq!(
        by_model[1]["total_tokens"].as_u64(),
        Some(upstream_usage),
        "{usage}"
    );

    // Deleting the conversation takes its messages; the usage stays.
    let deleted = ada.delete(&conversation(&upstream["id"])).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(ada.get(&conversation(&upstream["id"])).await.status, 404);
    let (status, after) = ada.get("/api/v1/playground/usage").await.parts();
    assert_eq!(status, 200);
    assert_eq!(after, usage);

    // Another user gets 404 on what is not theirs.
    let grace = server.anonymous().sign_up("grace@example.com").await;
    assert_eq!(grace.get(&conversation(&echo["id"])).await.status, 404);
    let theirs = grace
        .post(&messages(&echo["id"]), &json!({"content": "hi"}))
        .await;
    assert_eq!(theirs.status, 404);
}

#[tokio::test]
async fn failing_and_hanging_providers_give_502_and_store_nothing() {
    let fake = FakeOpenAi::start();
    let server = TestServer::serve(TestApp::with_fake_upstream(&fake));
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let c = ada.start_conversation("fake-1").await;
    fake.push(Reply::Status(
        500,
        r#"{"error": {"message": "boom"}}"#.into(),
    ))
    .push(Reply::Hang)
    .push(Reply::Raw("<html>not json</html>".into()))
    .push(Reply::Hang);

    for body in [
        json!({"content": "a"}),
        json!({"content": "b"}),
        json!({"content": "c"}),
        json!({"content": "d", "stream": true}),
    ] {
        let (status, problem) = ada.post(&messages(&c["id"]), &body).await.parts();
        assert_eq!(status, 502, "{body}");
        assert_eq!(problem["code"], "provider_error");
        assert!(
            !problem.to_string().contains("boom"),
            "upstream bodies are not relayed"
        );
    }

    let (status, history) = ada.get(&conversation(&c["id"])).await.parts();
    assert_eq!(status, 200);
    assert_eq!(history["messages"], json!([]));
    let (status, usage) = ada.get("/api/v1/playground/usage").await.parts();
    assert_eq!(status, 200);
    assert_eq!(usage["by_model"], json!([]));
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_stores_nothing() {
    let fake = FakeOpenAi::start();
    // An upstream timeout far beyond the test: only the client's leaving
    // can end the upstream request in time, noticed at the next keep-alive.
    let mut app = TestApp::with_fake_upstream_timeout(&fake, std::time::Duration::from_secs(30));
    app.state.settings.sse_keep_alive = std::time::Duration::from_millis(50);
    let server = TestServer::serve(app);
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let c = ada.start_conversation("fake-1").await;
    fake.push(Reply::Stream {
        deltas: vec!["first ".into()],
        usage: None,
        end: StreamEnd::Hang,
    });

    // Read chunk by chunk, then hang up: reqwest itself, not the harness
    // (which reads whole bodies).
    let mut response = reqwest::Client::new()
        .post(server.url(&messages(&c["id"])))
        .header("cookie", format!("session_id={}", ada.cookie()))
        .json(&json!({"content": "go", "stream": true}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let first = response
        .chunk()
        .await
        .expect("read")
        .expect("a first chunk");
    assert!(String::from_utf8_lossy(&first).contains("first"));
    assert_eq!(fake.disconnects(), 0, "the upstream is still streaming");
    drop(response);

    // The server drops its upstream request when its client goes away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fake.disconnects() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(fake.disconnects(), 1, "the upstream request was dropped");

    let (status, history) = ada.get(&conversation(&c["id"])).await.parts();
    assert_eq!(status, 200);
    assert_eq!(history["messages"], json!([]));
}
