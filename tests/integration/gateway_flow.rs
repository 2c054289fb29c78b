//! The OpenAI-compatible gateway over a real socket, with an API key, as an
//! OpenAI client would call it.

use promptyard_test_support::fake_openai::FakeOpenAi;
use promptyard_tests::{Actor, Request, TestApp, TestServer, each};
use serde_json::{Value, json};

/// Ada signed up (her session) and her key named `sdk`.
async fn ada_and_key(server: &TestServer) -> (Actor<'_, TestServer>, Actor<'_, TestServer>) {
    let ada = server.anonymous().sign_up("ada@example.com").await;
    let (key, _) = ada.mint_key("sdk").await;
    (ada, key)
}

#[tokio::test]
async fn models_and_completions_through_the_gateway_with_a_key() {
    let fake = FakeOpenAi::start();
    let server = TestServer::serve(TestApp::with_fake_upstream(&fake));
    let (ada, key) = ada_and_key(&server).await;

    let models = key.get("/v1/models").await.json();
    assert_eq!(models["object"], "list");
    assert_eq!(each(&models["data"], "id"), ["echo-1", "fake-1"]);

    let (status, completion) = key
        .post(
            "/v1/chat/completions",
            &json!({"model": "fake-1", "messages": [{"role": "user", "content": "ping"}]}),
        )
        .await
        .parts();
    assert_eq!(status, 200);
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["choices"][0]["message"]["content"], "fake: ping");

    let streamed = key
        .post(
            "/v1/chat/completions",
            &json!({"model": "echo-1", "messages": [{"role": "user", "content": "stream me"}], "stream": true}),
        )
        .await;
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let frames = streamed.sse();
    let (done, chunks) = frames.split_last().expect("events");
    assert_eq!(done.1, "[DONE]");
    let text: String = chunks
        .iter()
        .map(|(_, data)| serde_json::from_str::<Value>(data).expect("chunk"))
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "stream me");

    // Usage is the key owner's.
    let usage = ada.get("/api/v1/playground/usage").await.json();
    assert_eq!(each(&usage["by_model"], "model"), ["echo-1", "fake-1"]);
}

#[tokio::test]
async fn a_session_cookie_alone_is_refused_by_the_gateway() {
    let server = TestServer::start();
    let (ada, _) = ada_and_key(&server).await;

    for request in [
        Request::new("GET", "/v1/models"),
        Request::new("POST", "/v1/chat/completions")
            .json(&json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}]})),
    ] {
        let (status, error) = ada.send(request).await.parts();
        assert_eq!(status, 401);
        assert_eq!(error["error"]["code"], "invalid_api_key");
    }
}
