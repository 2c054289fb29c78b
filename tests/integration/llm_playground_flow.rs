//! The playground over a real socket, from registration to usage, with the
//! built-in echo model and a fake OpenAI-compatible upstream the test runs.

use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use promptyard_tests::{TestApp, TestServer, sign_up};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

struct Api {
    client: Client,
    server: TestServer,
}

impl Api {
    async fn user(&self, email: &str) -> String {
        sign_up(&self.client, &self.server, email).await
    }

    async fn get(&self, path: &str, cookie: &str) -> Response {
        self.client
            .get(self.server.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("get")
    }

    async fn post(&self, path: &str, cookie: &str, body: Value) -> Response {
        self.client
            .post(self.server.url(path))
            .header("cookie", cookie)
            .json(&body)
            .send()
            .await
            .expect("post")
    }

    async fn json(response: Response, status: StatusCode) -> Value {
        assert_eq!(response.status(), status);
        response.json().await.expect("json")
    }
}

fn deltas_and_done(body: &str) -> (String, Value) {
    let datas: Vec<&str> = body
        .split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data: ")))
        .collect();
    let (done, deltas) = datas.split_last().expect("events");
    let text = deltas
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).expect("json")["delta"]
                .as_str()
                .expect("delta")
                .to_owned()
        })
        .collect();
    (text, serde_json::from_str(done).expect("done json"))
}

#[tokio::test]
async fn register_chat_with_echo_and_upstream_stream_count_usage_and_delete() {
    let fake = FakeOpenAi::start();
    let api = Api {
        client: Client::new(),
        server: TestServer::serve(TestApp::with_fake_upstream(&fake)),
    };
    let cookie = api.user("ada@example.com").await;

    // Models: echo and the configured upstream.
    let models = Api::json(
        api.get("/api/v1/playground/models", &cookie).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["echo-1", "fake-1"]);

    // A conversation with echo: both messages are kept.
    let echo = Api::json(
        api.post(
            "/api/v1/playground/conversations",
            &cookie,
            json!({"model": "echo-1", "title": "Echo"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let echo_id = echo["id"].as_str().expect("id").to_owned();
    let exchange = Api::json(
        api.post(
            &format!("/api/v1/playground/conversations/{echo_id}/messages"),
            &cookie,
            json!({"content": "hello echo"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(exchange["assistant_message"]["content"], "hello echo");
    let history = Api::json(
        api.get(
            &format!("/api/v1/playground/conversations/{echo_id}"),
            &cookie,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let kept: Vec<(&str, &str)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().expect("role"),
                m["content"].as_str().expect("content"),
            )
        })
        .collect();
    assert_eq!(kept, [("user", "hello echo"), ("assistant", "hello echo")]);

    // The upstream receives the system prompt and the history.
    let upstream = Api::json(
        api.post(
            "/api/v1/playground/conversations",
            &cookie,
            json!({"model": "fake-1", "system_prompt": "Answer in French."}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let upstream_id = upstream["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/playground/conversations/{upstream_id}/messages");
    Api::json(
        api.post(&path, &cookie, json!({"content": "Hello"})).await,
        StatusCode::CREATED,
    )
    .await;
    Api::json(
        api.post(
            &path,
            &cookie,
            json!({"content": "How are you?", "temperature": 0.1}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
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
    let streamed = api
        .post(
            &path,
            &cookie,
            json!({"content": "Et toi?", "stream": true}),
        )
        .await;
    assert_eq!(streamed.status(), StatusCode::OK);
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    let (text, done) = deltas_and_done(&streamed.text().await.expect("body"));
    assert_eq!(text, "Très bien, merci.");
    assert_eq!(done["assistant_message"]["content"], text);
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23})
    );

    // Usage adds up: echo (hello echo: 2 + 2) and three upstream calls.
    let usage = Api::json(
        api.get("/api/v1/playground/usage", &cookie).await,
        StatusCode::OK,
    )
    .await;
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
    let deleted = api
        .client
        .delete(
            api.server
                .url(&format!("/api/v1/playground/conversations/{upstream_id}")),
        )
        .header("cookie", &cookie)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(
            &format!("/api/v1/playground/conversations/{upstream_id}"),
            &cookie
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let after = Api::json(
        api.get("/api/v1/playground/usage", &cookie).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after, usage);

    // Another user gets 404 on what is not theirs.
    let grace = api.user("grace@example.com").await;
    assert_eq!(
        api.get(
            &format!("/api/v1/playground/conversations/{echo_id}"),
            &grace
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let theirs = api
        .post(
            &format!("/api/v1/playground/conversations/{echo_id}/messages"),
            &grace,
            json!({"content": "hi"}),
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failing_and_hanging_providers_give_502_and_store_nothing() {
    let fake = FakeOpenAi::start();
    let api = Api {
        client: Client::new(),
        server: TestServer::serve(TestApp::with_fake_upstream(&fake)),
    };
    let cookie = api.user("ada@example.com").await;
    let c = Api::json(
        api.post(
            "/api/v1/playground/conversations",
            &cookie,
            json!({"model": "fake-1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = c["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/playground/conversations/{id}/messages");
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
        let problem = Api::json(
            api.post(&path, &cookie, body).await,
            StatusCode::BAD_GATEWAY,
        )
        .await;
        assert_eq!(problem["code"], "provider_error");
        assert!(
            !problem.to_string().contains("boom"),
            "upstream bodies are not relayed"
        );
    }

    let history = Api::json(
        api.get(&format!("/api/v1/playground/conversations/{id}"), &cookie)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["messages"], json!([]));
    let usage = Api::json(
        api.get("/api/v1/playground/usage", &cookie).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(usage["by_model"], json!([]));
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_stores_nothing() {
    let fake = FakeOpenAi::start();
    // An upstream timeout far beyond the test: only the client's leaving
    // can end the upstream request in time, noticed at the next keep-alive.
    let mut app = TestApp::with_fake_upstream_timeout(&fake, std::time::Duration::from_secs(30));
    app.state.settings.sse_keep_alive = std::time::Duration::from_millis(50);
    let api = Api {
        client: Client::new(),
        server: TestServer::serve(app),
    };
    let cookie = api.user("ada@example.com").await;
    let c = Api::json(
        api.post(
            "/api/v1/playground/conversations",
            &cookie,
            json!({"model": "fake-1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = c["id"].as_str().expect("id").to_owned();
    fake.push(Reply::Stream {
        deltas: vec!["first ".into()],
        usage: None,
        end: StreamEnd::Hang,
    });

    let mut response = api
        .post(
            &format!("/api/v1/playground/conversations/{id}/messages"),
            &cookie,
            json!({"content": "go", "stream": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
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

    let history = Api::json(
        api.get(&format!("/api/v1/playground/conversations/{id}"), &cookie)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["messages"], json!([]));
}
