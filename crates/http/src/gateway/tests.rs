use std::sync::Arc;

use actix_web::cookie::Key;
use promptyard_services::{AuthConfig, ManualClock, SequentialIds};
use promptyard_test_support::TestDb;
use promptyard_test_support::fake_openai::{Reply, StreamEnd};
use serde_json::{Value, json};

use crate::test_app::{
    Actor, Credential, Request, Response, Transport, in_process, start, test_app,
    test_app_with_fake_provider,
};
use crate::{AppState, HttpSettings};

const COMPLETIONS: &str = "/v1/chat/completions";

/// Ada, signed up with a session, and Ada with a key named "openai client".
async fn ada_with_key<T: Transport>(api: &T) -> (Actor<'_, T>, Actor<'_, T>) {
    let ada = Actor::anonymous(api).sign_up("ada@example.com").await;
    let (ada_key, _) = ada.mint_key("openai client").await;
    (ada, ada_key)
}

#[actix_web::test]
async fn models_come_in_openai_list_format_for_a_key_only() {
    let (_t, api) = test_app().await;
    let (ada, ada_key) = ada_with_key(&api).await;

    let (status, body) = ada_key.get("/v1/models").await.parts();
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    assert_eq!(
        body["data"][0],
        json!({"id": "echo-1", "object": "model", "created": 0, "owned_by": "echo"})
    );

    let cookie_only = ada.get("/v1/models").await;
    assert_eq!(cookie_only.status, 401, "a session cookie alone is refused");
    cookie_only.openai_error(401, "invalid_request_error", Some("invalid_api_key"));
    let nope = api.anonymous().as_(Credential::Key("pyk_nope".to_owned()));
    assert_eq!(nope.get("/v1/models").await.status, 401);
}

#[actix_web::test]
async fn a_chat_completion_has_openais_shape_and_its_usage_is_recorded() {
    let (_t, api) = test_app().await;
    let (ada, ada_key) = ada_with_key(&api).await;
    let request = json!({
        "model": "echo-1",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "gateway"}]},
        ],
        "temperature": 0.7, "max_completion_tokens": 20, "n": 1, "top_p": 1,
    });

    let (status, body) = ada_key.post(COMPLETIONS, &request).await.parts();

    assert_eq!(status, 200);
    assert!(body["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_i64().expect("created") > 1_700_000_000);
    assert_eq!(body["model"], "echo-1");
    assert_eq!(
        body["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "hello gateway", "refusal": null}, "logprobs": null, "finish_reason": "stop"}])
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    );
    let (_, usage) = ada.get("/api/v1/playground/usage").await.parts();
    assert_eq!(
        usage["total"]["total_tokens"], 6,
        "recorded for the key's owner"
    );
}

#[actix_web::test]
async fn a_streamed_completion_is_chunks_then_usage_then_done() {
    let (_t, api) = test_app().await;
    let (_, ada_key) = ada_with_key(&api).await;
    let request = json!({"model": "echo-1", "messages": [{"role": "user", "content": "three little words"}], "stream": true, "stream_options": {"include_usage": true}});

    let response = ada_key.post(COMPLETIONS, &request).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let frames = response.sse();
    let datas: Vec<&str> = frames.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(datas.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json"))
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"], "one id for the whole stream");
        assert_eq!(chunk["model"], "echo-1");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "three little words");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["usage"], Value::Null);
    let usage = chunks.last().expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6})
    );
}

#[actix_web::test]
async fn bad_bodies_are_400_and_unknown_models_404_in_openais_shape() {
    let (_t, api) = test_app().await;
    let (_, ada_key) = ada_with_key(&api).await;

    for body in [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "echo-1"}),
        json!({"model": "echo-1", "messages": []}),
        json!({"model": "echo-1", "messages": [{"role": "tool", "content": "x"}]}),
        json!({"model": "echo-1", "messages": [{"content": "x"}]}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": 5}]}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "temperature": 3}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "max_tokens": 32769}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 100000}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "é".repeat(100_001)}]}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": [{"type": "text", "text": "a".repeat(60_000)}, {"type": "text", "text": "b".repeat(40_001)}]}]}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
        json!({"model": "echo-1", "messages": [{"role": "user", "content": "x"}], "n": 2}),
        json!([1, 2]),
    ] {
        let response = ada_key.post(COMPLETIONS, &body).await;
        assert_eq!(response.status, 400, "{body}");
        response.openai_error(400, "invalid_request_error", None);
    }
    let raw = Request::new("POST", COMPLETIONS)
        .header("content-type", "application/json")
        .body("{not json");
    assert_eq!(ada_key.send(raw).await.status, 400);

    let unknown = json!({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]});
    let error = ada_key.post(COMPLETIONS, &unknown).await.openai_error(
        404,
        "invalid_request_error",
        Some("model_not_found"),
    );
    assert_eq!(error["error"]["param"], "model");

    ada_key.get("/v1/embeddings").await.openai_error(
        404,
        "invalid_request_error",
        Some("unknown_url"),
    );
}

#[actix_web::test]
async fn provider_failures_are_502_or_an_error_chunk_without_done() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let (ada, ada_key) = ada_with_key(&api).await;
    let request = |stream: bool| json!({"model": "fake-1", "messages": [{"role": "user", "content": "x"}], "stream": stream});
    fake.push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang)
        .push(Reply::Stream {
            deltas: vec!["partial ".into()],
            usage: None,
            end: StreamEnd::Cut,
        });

    for stream in [false, true] {
        ada_key
            .post(COMPLETIONS, &request(stream))
            .await
            .openai_error(502, "provider_error", Some("provider_error"));
    }
    let cut = ada_key.post(COMPLETIONS, &request(true)).await;
    assert_eq!(cut.status, 200);
    let frames = cut.sse();
    // The last event, read as the stream's answer would be.
    let last = Response {
        body: frames.last().expect("frames").1.clone().into_bytes(),
        ..cut.clone()
    };
    last.openai_error(200, "provider_error", Some("provider_error"));
    assert!(frames.iter().all(|(_, d)| d != "[DONE]"));

    let (_, usage) = ada.get("/api/v1/playground/usage").await.parts();
    assert_eq!(
        usage["by_model"],
        json!([]),
        "nothing recorded for failed calls"
    );
}

#[actix_web::test]
async fn the_upstream_gets_the_clients_request_through_the_gateway() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let (_, ada_key) = ada_with_key(&api).await;
    let request = json!({"model": "fake-1", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "temperature": 0.3, "max_tokens": 9});

    let (status, body) = ada_key.post(COMPLETIONS, &request).await.parts();

    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "fake: u");
    let sent = &fake.requests()[0].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    );
    assert_eq!(
        (sent["temperature"].clone(), sent["max_tokens"].clone()),
        (json!(0.3), json!(9))
    );
}

#[actix_web::test]
async fn the_playgrounds_limits_are_the_gateways_and_their_edges_are_accepted() {
    let (_t, api) = test_app().await;
    let (_, ada_key) = ada_with_key(&api).await;
    let longest = "é".repeat(100_000);
    let request = json!({
        "model": "echo-1",
        "messages": [{"role": "user", "content": longest}],
        "max_tokens": 32768,
        "temperature": 2
    });

    let (status, body) = ada_key.post(COMPLETIONS, &request).await.parts();

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::len),
        Some(longest.len())
    );
}

#[actix_web::test]
async fn completion_ids_and_times_come_from_the_injected_id_source_and_clock() {
    let test_db = TestDb::new();
    let state = AppState::with_clock_and_ids(
        test_db.db(),
        AuthConfig::default(),
        HttpSettings::new(Key::generate()),
        Arc::new(ManualClock::new(start())),
        Arc::new(SequentialIds::default()),
    )
    .expect("state");
    let api = in_process(&state).await;
    let (_, ada_key) = ada_with_key(&api).await;
    let request = json!({"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]});

    let (status, body) = ada_key.post(COMPLETIONS, &request).await.parts();

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], start().timestamp());
    let id = body["id"].as_str().expect("id");
    let n = id.strip_prefix("chatcmpl-id").expect("a sequential id");
    assert!(n.parse::<u32>().is_ok(), "{id}");
}
