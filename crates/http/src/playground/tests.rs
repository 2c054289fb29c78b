use actix_web::http::{Method, StatusCode};
use actix_web::test;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use serde_json::{Value, json};

use crate::test_app::{
    delete, get, init, parts, post_json, signed_in, sse_frames, test_state, with_bearer,
    with_fake_provider,
};

#[actix_web::test]
async fn models_list_echo_for_cookie_and_key_callers_only() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let (status, body) = parts(get(&app, "/api/v1/playground/models", Some(&cookie)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["models"][0]["id"], "echo-1");
    assert_eq!(body["models"][0]["provider"], "echo");
    assert!(body["models"][0]["description"].is_string());

    let (_, key) = parts(
        post_json(
            &app,
            "/api/v1/api-keys",
            json!({"name": "k"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let by_key = with_bearer(
        &app,
        Method::GET,
        "/api/v1/playground/models",
        key["key"].as_str().expect("key"),
        None,
    )
    .await;
    assert_eq!(by_key.status(), StatusCode::OK);
    let (status, problem) = parts(get(&app, "/api/v1/playground/models", None).await).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthenticated"))
    );
}

#[actix_web::test]
async fn a_conversation_is_created_with_a_known_model_only() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let (status, created) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "echo-1"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let keys: Vec<&str> = created
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
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
        let (status, problem) = parts(
            post_json(
                &app,
                "/api/v1/playground/conversations",
                body.clone(),
                Some(&cookie),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            problem["errors"][0]["field"] == "model" || problem["errors"][0]["field"] == "title",
            "{problem}"
        );
    }
}

#[actix_web::test]
async fn conversations_page_newest_first_and_bad_queries_are_422() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, c) = parts(
            post_json(
                &app,
                "/api/v1/playground/conversations",
                json!({"model": "echo-1", "title": format!("c{i}")}),
                Some(&cookie),
            )
            .await,
        )
        .await;
        ids.push(c["id"].as_str().expect("id").to_owned());
        t.clock.advance(chrono::TimeDelta::seconds(1));
    }

    let (status, first) = parts(
        get(
            &app,
            "/api/v1/playground/conversations?limit=2",
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"].as_array().expect("items").len(), 2);
    assert_eq!(first["items"][0]["id"], ids[2], "newest first");
    let next = first["next_before"].as_str().expect("more").to_owned();
    let (_, second) = parts(
        get(
            &app,
            &format!("/api/v1/playground/conversations?limit=2&before={next}"),
            Some(&cookie),
        )
        .await,
    )
    .await;
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
        let (status, problem) = parts(
            get(
                &app,
                &format!("/api/v1/playground/conversations?{query}"),
                Some(&cookie),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(problem["code"], "validation_failed");
    }
}

#[actix_web::test]
async fn a_message_exchange_is_stored_and_read_back_oldest_first() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "echo-1", "system_prompt": "Be brief."}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let id = c["id"].as_str().expect("id").to_owned();

    let (status, exchange) = parts(
        post_json(
            &app,
            &format!("/api/v1/playground/conversations/{id}/messages"),
            json!({"content": "hello echo", "temperature": 0.5, "max_tokens": 10}),
            Some(&cookie),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(exchange["assistant_message"]["content"], "hello echo");
    assert_eq!(
        exchange["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    );
    let keys: Vec<&str> = exchange["user_message"]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["content", "created_at", "id", "role"]);
    let (_, read) = parts(
        get(
            &app,
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let roles: Vec<&str> = read["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(read["system_prompt"], "Be brief.");
    let (_, usage) = parts(get(&app, "/api/v1/playground/usage", Some(&cookie)).await).await;
    assert_eq!(
        usage,
        json!({"total": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}, "by_model": [{"model": "echo-1", "prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}]})
    );
}

#[actix_web::test]
async fn message_bodies_are_validated_and_long_prompts_fit_under_one_mebibyte() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "echo-1"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let path = format!(
        "/api/v1/playground/conversations/{}/messages",
        c["id"].as_str().expect("id")
    );

    for (body, field) in [
        (json!({"content": ""}), "content"),
        (json!({"content": "x".repeat(100_001)}), "content"),
        (json!({}), "content"),
        (json!({"content": "ok", "temperature": 2.5}), "temperature"),
        (json!({"content": "ok", "max_tokens": 0}), "max_tokens"),
        (json!({"content": "ok", "max_tokens": 32_769}), "max_tokens"),
        (json!({"content": "ok", "stream": "yes"}), "stream"),
    ] {
        let (status, problem) =
            parts(post_json(&app, &path, body.clone(), Some(&cookie)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:.60}");
        assert_eq!(problem["errors"][0]["field"], field, "{body:.60}");
    }
    let long = post_json(
        &app,
        &path,
        json!({"content": "é".repeat(100_000)}),
        Some(&cookie),
    )
    .await;
    assert_eq!(
        long.status(),
        StatusCode::CREATED,
        "200 KB of UTF-8 is under the 1 MiB limit"
    );
    let too_big = post_json(
        &app,
        &path,
        json!({"content": "x".repeat(1_100_000)}),
        Some(&cookie),
    )
    .await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn another_users_conversation_is_404_and_a_deleted_one_too() {
    let t = test_state();
    let app = init(&t.state).await;
    let ada = signed_in(&app, "ada@example.com").await;
    let grace = signed_in(&app, "grace@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "echo-1"}),
            Some(&ada),
        )
        .await,
    )
    .await;
    let path = format!(
        "/api/v1/playground/conversations/{}",
        c["id"].as_str().expect("id")
    );

    assert_eq!(
        get(&app, &path, Some(&grace)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&app, &path, Some(&grace)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post_json(
            &app,
            &format!("{path}/messages"),
            json!({"content": "hi"}),
            Some(&grace)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&app, &path, Some(&ada)).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, problem) = parts(get(&app, &path, Some(&ada)).await).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
}

#[actix_web::test]
async fn a_streamed_answer_is_deltas_then_done_with_the_stored_message() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "echo-1"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let id = c["id"].as_str().expect("id").to_owned();

    let response = post_json(
        &app,
        &format!("/api/v1/playground/conversations/{id}/messages"),
        json!({"content": "stream these four words", "stream": true}),
        Some(&cookie),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let frames = sse_frames(&test::read_body(response).await);
    let (done, deltas) = frames.split_last().expect("frames");
    let text: String = deltas
        .iter()
        .map(|(_, data)| {
            serde_json::from_str::<Value>(data).expect("json")["delta"]
                .as_str()
                .expect("delta")
                .to_owned()
        })
        .collect();
    assert_eq!(text, "stream these four words");
    let done: Value = serde_json::from_str(&done.1).expect("json");
    assert_eq!(done["done"], true);
    assert_eq!(
        done["assistant_message"]["content"],
        "stream these four words"
    );
    assert_eq!(done["usage"]["completion_tokens"], 4);
    let (_, read) = parts(
        get(
            &app,
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(read["messages"][1]["id"], done["assistant_message"]["id"]);
}

#[actix_web::test]
async fn provider_failures_are_502_and_store_nothing() {
    let t = test_state();
    let fake = FakeOpenAi::start();
    let state = with_fake_provider(&t, &fake);
    let app = init(&state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "fake-1"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let id = c["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/playground/conversations/{id}/messages");
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
        let (status, problem) =
            parts(post_json(&app, &path, body.clone(), Some(&cookie)).await).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(problem["code"], "provider_error");
    }
    let cut = post_json(
        &app,
        &path,
        json!({"content": "d", "stream": true}),
        Some(&cookie),
    )
    .await;
    assert_eq!(cut.status(), StatusCode::OK, "the first delta came through");
    let frames = sse_frames(&test::read_body(cut).await);
    assert_eq!(frames[0].1, r#"{"delta":"Once "}"#);
    let (event, data) = frames.last().expect("frames");
    assert_eq!(event.as_deref(), Some("error"));
    assert_eq!(
        serde_json::from_str::<Value>(data).expect("json")["code"],
        "provider_error"
    );

    let (_, read) = parts(
        get(
            &app,
            &format!("/api/v1/playground/conversations/{id}"),
            Some(&cookie),
        )
        .await,
    )
    .await;
    assert_eq!(read["messages"], json!([]));
    let (_, usage) = parts(get(&app, "/api/v1/playground/usage", Some(&cookie)).await).await;
    assert_eq!(usage["by_model"], json!([]));
}

#[actix_web::test]
async fn the_upstream_receives_the_system_prompt_and_the_history() {
    let t = test_state();
    let fake = FakeOpenAi::start();
    let state = with_fake_provider(&t, &fake);
    let app = init(&state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let (_, c) = parts(
        post_json(
            &app,
            "/api/v1/playground/conversations",
            json!({"model": "fake-1", "system_prompt": "Rhyme."}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    let path = format!(
        "/api/v1/playground/conversations/{}/messages",
        c["id"].as_str().expect("id")
    );
    post_json(&app, &path, json!({"content": "one"}), Some(&cookie)).await;

    let (status, exchange) =
        parts(post_json(&app, &path, json!({"content": "two"}), Some(&cookie)).await).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(exchange["assistant_message"]["content"], "fake: two");
    assert_eq!(
        fake.requests()[1].body["messages"],
        json!([{"role": "system", "content": "Rhyme."}, {"role": "user", "content": "one"}, {"role": "assistant", "content": "fake: one"}, {"role": "user", "content": "two"}])
    );
}
