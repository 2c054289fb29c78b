//! The OpenAI-compatible gateway over a real socket, with an API key, as an
//! OpenAI client would call it.

use promptyard_test_support::fake_openai::FakeOpenAi;
use promptyard_tests::{TestApp, TestServer, sign_up};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn key_and_cookie(client: &Client, server: &TestServer) -> (String, String) {
    let cookie = sign_up(client, server, "ada@example.com").await;
    let created: Value = client
        .post(server.url("/api/v1/api-keys"))
        .header("cookie", &cookie)
        .json(&json!({"name": "sdk"}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    (created["key"].as_str().expect("key").to_owned(), cookie)
}

#[tokio::test]
async fn models_and_completions_through_the_gateway_with_a_key() {
    let fake = FakeOpenAi::start();
    let server = TestServer::serve(TestApp::with_fake_upstream(&fake));
    let client = Client::new();
    let (key, cookie) = key_and_cookie(&client, &server).await;

    let models: Value = client
        .get(server.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["echo-1", "fake-1"]);

    let completion = client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "fake-1", "messages": [{"role": "user", "content": "ping"}]}))
        .send()
        .await
        .expect("completion");
    assert_eq!(completion.status(), StatusCode::OK);
    let completion: Value = completion.json().await.expect("json");
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["choices"][0]["message"]["content"], "fake: ping");

    let streamed = client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "echo-1", "messages": [{"role": "user", "content": "stream me"}], "stream": true}))
        .send()
        .await
        .expect("stream");
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    let body = streamed.text().await.expect("body");
    let datas: Vec<&str> = body
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .collect();
    assert_eq!(datas.last(), Some(&"[DONE]"));
    let text: String = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).expect("chunk"))
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "stream me");

    // Usage is the key owner's.
    let usage: Value = client
        .get(server.url("/api/v1/playground/usage"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    let models_used: Vec<&str> = usage["by_model"]
        .as_array()
        .expect("by_model")
        .iter()
        .map(|m| m["model"].as_str().expect("model"))
        .collect();
    assert_eq!(models_used, ["echo-1", "fake-1"]);
}

#[tokio::test]
async fn a_session_cookie_alone_is_refused_by_the_gateway() {
    let server = TestServer::start();
    let client = Client::new();
    let (_, cookie) = key_and_cookie(&client, &server).await;

    for request in [
        client.get(server.url("/v1/models")),
        client
            .post(server.url("/v1/chat/completions"))
            .json(&json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}]})),
    ] {
        let response = request
            .header("cookie", &cookie)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "invalid_api_key");
    }
}
