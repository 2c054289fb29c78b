use chrono::TimeDelta;
use promptyard_test_support::fake_openai::{Reply, StreamEnd};
use serde_json::{Value, json};

use crate::test_app::{each, keys, test_app, test_app_with_fake_provider};

const CONVERSATIONS: &str = "/api/v1/playground/conversations";

/// The path of a conversation object.
fn conversation_path(conversation: &Value) -> String {
    format!(
        "{CONVERSATIONS}/{}",
        conversation["id"].as_str().expect("id")
    )
}

/// The path that posts messages to a conversation object.
fn messages_path(conversation: &Value) -> String {
    format!("{}/messages", conversation_path(conversation))
}

/// A server-sent event's data, parsed as JSON.
fn data_json(data: &str) -> Value {
    serde_json::from_str(data).expect("json")
}

#[actix_web::test]
async fn models_list_echo_for_cookie_and_key_callers_only() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let (status, body) = ada.get("/api/v1/playground/models").await.parts();
    assert_eq!(status, 200);
    assert_eq!(body["models"][0]["id"], "echo-1");
    assert_eq!(body["models"][0]["provider"], "echo");
    assert!(body["models"][0]["description"].is_string());

    let (ada_key, _) = ada.mint_key("k").await;
    let by_key = ada_key.get("/api/v1/playground/models").await;
    assert_eq!(by_key.status, 200);
    let (status, problem) = api
        .anonymous()
        .get("/api/v1/playground/models")
        .await
        .parts();
    assert_eq!(
        (status, problem["code"].clone()),
        (401, json!("unauthenticated"))
    );
}

#[actix_web::test]
async fn a_conversation_is_created_with_a_known_model_only() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let created = ada.start_conversation("echo-1").await;
    let keys = keys(&created);
    assert_eq!(
        keys,
        [
            "created_at",
            "id",
            "model",
            "system_prompt",
            "title",
            "updated_at"
        ]
    );
    assert_eq!(
        (created["title"].clone(), created["system_prompt"].clone()),
        (Value::Null, Value::Null)
    );

    for body in [
        json!({"model": "gpt-9"}),
        json!({}),
        json!({"model": 1}),
        json!({"model": "echo-1", "title": "t".repeat(201)}),
    ] {
        let (status, problem) = ada.post(CONVERSATIONS, &body).await.parts();
        assert_eq!(status, 422, "{body}");
        assert!(
            problem["errors"][0]["field"] == "model" || problem["errors"][0]["field"] == "title",
            "{problem}"
        );
    }
}

#[actix_web::test]
async fn conversations_page_newest_first_and_bad_queries_are_422() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let c = ada
            .create_conversation(&json!({"model": "echo-1", "title": format!("c{i}")}))
            .await;
        ids.push(c["id"].as_str().expect("id").to_owned());
        t.clock.advance(TimeDelta::seconds(1));
    }

    let (status, first) = ada.get(&format!("{CONVERSATIONS}?limit=2")).await.parts();
    assert_eq!(status, 200);
    assert_eq!(first["items"].as_array().expect("items").len(), 2);
    assert_eq!(first["items"][0]["id"], ids[2], "newest first");
    let next = first["next_before"].as_str().expect("more").to_owned();
    let second = ada
        .get(&format!("{CONVERSATIONS}?limit=2&before={next}"))
        .await
        .json();
    assert_eq!(second["items"][0]["id"], ids[0]);
    assert_eq!(second["next_before"], Value::Null);

    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "before=",
        "before=nope",
        "limit=1.5",
    ] {
        let (status, problem) = ada.get(&format!("{CONVERSATIONS}?{query}")).await.parts();
        assert_eq!(status, 422, "{query}");
        assert_eq!(problem["code"], "validation_failed");
    }
}

#[actix_web::test]
async fn a_message_exchange_is_stored_and_read_back_oldest_first() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let c = ada
        .create_conversation(&json!({"model": "echo-1", "system_prompt": "Be brief."}))
        .await;

    let (status, exchange) = ada
        .post(
            &messages_path(&c),
            &json!({"content": "hello echo", "temperature": 0.5, "max_tokens": 10}),
        )
        .await
        .parts();

    assert_eq!(status, 201);
    assert_eq!(exchange["assistant_message"]["content"], "hello echo");
    assert_eq!(
        exchange["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    );
    let keys = keys(&exchange["user_message"]);
    assert_eq!(keys, ["content", "created_at", "id", "role"]);
    let read = ada.get(&conversation_path(&c)).await.json();
    let roles = each(&read["messages"], "role");
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(read["system_prompt"], "Be brief.");
    let usage = ada.get("/api/v1/playground/usage").await.json();
    assert_eq!(
        usage,
        json!({"total": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}, "by_model": [{"model": "echo-1", "prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}]})
    );
}

#[actix_web::test]
async fn message_bodies_are_validated_and_long_prompts_fit_under_one_mebibyte() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let path = messages_path(&ada.start_conversation("echo-1").await);

    for (body, field) in [
        (json!({"content": ""}), "content"),
        (json!({"content": "x".repeat(100_001)}), "content"),
        (json!({}), "content"),
        (json!({"content": "ok", "temperature": 2.5}), "temperature"),
        (json!({"content": "ok", "max_tokens": 0}), "max_tokens"),
        (json!({"content": "ok", "max_tokens": 32_769}), "max_tokens"),
        (json!({"content": "ok", "stream": "yes"}), "stream"),
    ] {
        let (status, problem) = ada.post(&path, &body).await.parts();
        assert_eq!(status, 422, "{body:.60}");
        assert_eq!(problem["errors"][0]["field"], field, "{body:.60}");
    }
    let long = ada
        .post(&path, &json!({"content": "é".repeat(100_000)}))
        .await;
    assert_eq!(long.status, 201, "200 KB of UTF-8 is under the 1 MiB limit");
    let too_big = ada
        .post(&path, &json!({"content": "x".repeat(1_100_000)}))
        .await;
    assert_eq!(too_big.status, 413);
}

#[actix_web::test]
async fn another_users_conversation_is_404_and_a_deleted_one_too() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let grace = api.anonymous().sign_up("grace@example.com").await;
    let c = ada.start_conversation("echo-1").await;
    let path = conversation_path(&c);

    assert_eq!(grace.get(&path).await.status, 404);
    assert_eq!(grace.delete(&path).await.status, 404);
    assert_eq!(
        grace
            .post(&messages_path(&c), &json!({"content": "hi"}))
            .await
            .status,
        404
    );
    assert_eq!(ada.delete(&path).await.status, 204);
    let (status, problem) = ada.get(&path).await.parts();
    assert_eq!((status, problem["code"].clone()), (404, json!("not_found")));
}

#[actix_web::test]
async fn a_streamed_answer_is_deltas_then_done_with_the_stored_message() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let c = ada.start_conversation("echo-1").await;

    let response = ada
        .post(
            &messages_path(&c),
            &json!({"content": "stream these four words", "stream": true}),
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let (text, done) = response.deltas_and_done();
    assert_eq!(text, "stream these four words");
    assert_eq!(done["done"], true);
    assert_eq!(
        done["assistant_message"]["content"],
        "stream these four words"
    );
    assert_eq!(done["usage"]["completion_tokens"], 4);
    let read = ada.get(&conversation_path(&c)).await.json();
    assert_eq!(read["messages"][1]["id"], done["assistant_message"]["id"]);
}

#[actix_web::test]
async fn provider_failures_are_502_and_store_nothing() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let c = ada.start_conversation("fake-1").await;
    let path = messages_path(&c);
    fake.push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang)
        .push(Reply::Stream {
            deltas: vec![],
            usage: None,
            end: StreamEnd::Cut,
        })
        .push(Reply::Stream {
            deltas: vec!["Once ".into()],
            usage: None,
            end: StreamEnd::Cut,
        });

    for body in [
        json!({"content": "a"}),
        json!({"content": "b"}),
        json!({"content": "c", "stream": true}),
    ] {
        let (status, problem) = ada.post(&path, &body).await.parts();
        assert_eq!(status, 502, "{body}");
        assert_eq!(problem["code"], "provider_error");
    }
    let cut = ada
        .post(&path, &json!({"content": "d", "stream": true}))
        .await;
    assert_eq!(cut.status, 200, "the first delta came through");
    let frames = cut.sse();
    assert_eq!(frames[0].1, r#"{"delta":"Once "}"#);
    let (event, data) = frames.last().expect("frames");
    assert_eq!(event.as_deref(), Some("error"));
    assert_eq!(data_json(data)["code"], "provider_error");

    let read = ada.get(&conversation_path(&c)).await.json();
    assert_eq!(read["messages"], json!([]));
    let usage = ada.get("/api/v1/playground/usage").await.json();
    assert_eq!(usage["by_model"], json!([]));
}

#[actix_web::test]
async fn the_upstream_receives_the_system_prompt_and_the_history() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let c = ada
        .create_conversation(&json!({"model": "fake-1", "system_prompt": "Rhyme."}))
        .await;
    let path = messages_path(&c);
    ada.post(&path, &json!({"content": "one"})).await;

    let (status, exchange) = ada.post(&path, &json!({"content": "two"})).await.parts();

    assert_eq!(status, 201);
    assert_eq!(exchange["assistant_message"]["content"], "fake: two");
    assert_eq!(
        fake.requests()[1].body["messages"],
        json!([{"role": "system", "content": "Rhyme."}, {"role": "user", "content": "one"}, {"role": "assistant", "content": "fake: one"}, {"role": "user", "content": "two"}])
    );
}
