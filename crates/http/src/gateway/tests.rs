use actix_web::http::{Method, StatusCode};
use actix_web::test;
use promptyard_test_support::fake_openai::{FakeOpenAi, Reply, StreamEnd};
use serde_json::{Value, json};

use crate::test_app::{
    get, init, parts, post_json, signed_in, sse_frames, test_state, with_bearer, with_fake_provider,
};

/// Signs up and mints a key; returns (session cookie, key).
async fn key_for<S, B>(app: &S, email: &str) -> (actix_web::cookie::Cookie<'static>, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let cookie = signed_in(app, email).await;
    let (_, key) = parts(
        post_json(
            app,
            "/api/v1/api-keys",
            json!({"name": "openai client"}),
            Some(&cookie),
        )
        .await,
    )
    .await;
    (cookie, key["key"].as_str().expect("key").to_owned())
}

fn assert_openai_error(body: &Value, kind: &str, code: Option<&str>) {
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["type"], kind, "{body}");
    assert_eq!(
        error["code"],
        code.map_or(Value::Null, |c| json!(c)),
        "{body}"
    );
    assert!(error.as_object().expect("object").contains_key("param"));
}

#[actix_web::test]
async fn models_come_in_openai_list_format_for_a_key_only() {
    let t = test_state();
    let app = init(&t.state).await;
    let (cookie, key) = key_for(&app, "ada@example.com").await;

    let (status, body) =
        parts(with_bearer(&app, Method::GET, "/v1/models", &key, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["object"], "list");
    assert_eq!(
        body["data"][0],
        json!({"id": "echo-1", "object": "model", "created": 0, "owned_by": "echo"})
    );

    let (status, body) = parts(get(&app, "/v1/models", Some(&cookie)).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a session cookie alone is refused"
    );
    assert_openai_error(&body, "invalid_request_error", Some("invalid_api_key"));
    let (status, _) =
        parts(with_bearer(&app, Method::GET, "/v1/models", "pyk_nope", None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_chat_completion_has_openais_shape_and_its_usage_is_recorded() {
    let t = test_state();
    let app = init(&t.state).await;
    let (cookie, key) = key_for(&app, "ada@example.com").await;
    let request = json!({
        "model": "echo-1",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "gateway"}]},
        ],
        "temperature": 0.7, "max_completion_tokens": 20, "n": 1, "top_p": 1,
    });

    let (status, body) = parts(
        with_bearer(
            &app,
            Method::POST,
            "/v1/chat/completions",
            &key,
            Some(request),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::OK);
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
    let (_, usage) = parts(get(&app, "/api/v1/playground/usage", Some(&cookie)).await).await;
    assert_eq!(
        usage["total"]["total_tokens"], 6,
        "recorded for the key's owner"
    );
}

#[actix_web::test]
async fn a_streamed_completion_is_chunks_then_usage_then_done() {
    let t = test_state();
    let app = init(&t.state).await;
    let (_, key) = key_for(&app, "ada@example.com").await;
    let request = json!({"model": "echo-1", "messages": [{"role": "user", "content": "three little words"}], "stream": true, "stream_options": {"include_usage": true}});

    let response = with_bearer(
        &app,
        Method::POST,
        "/v1/chat/completions",
        &key,
        Some(request),
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
    let t = test_state();
    let app = init(&t.state).await;
    let (_, key) = key_for(&app, "ada@example.com").await;

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
        let (status, error) = parts(
            with_bearer(
                &app,
                Method::POST,
                "/v1/chat/completions",
                &key,
                Some(body.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_openai_error(&error, "invalid_request_error", None);
    }
    let raw = test::TestRequest::post()
        .uri("/v1/chat/completions")
        .insert_header(("authorization", format!("Bearer {key}")))
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json")
        .to_request();
    let (status, _) = parts(test::call_service(&app, raw).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let unknown = json!({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]});
    let (status, error) = parts(
        with_bearer(
            &app,
            Method::POST,
            "/v1/chat/completions",
            &key,
            Some(unknown),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_openai_error(&error, "invalid_request_error", Some("model_not_found"));
    assert_eq!(error["error"]["param"], "model");

    let (status, error) =
        parts(with_bearer(&app, Method::GET, "/v1/embeddings", &key, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_openai_error(&error, "invalid_request_error", Some("unknown_url"));
}

#[actix_web::test]
async fn provider_failures_are_502_or_an_error_chunk_without_done() {
    let t = test_state();
    let fake = FakeOpenAi::start();
    let state = with_fake_provider(&t, &fake);
    let app = init(&state).await;
    let (cookie, key) = key_for(&app, "ada@example.com").await;
    let request = |stream: bool| json!({"model": "fake-1", "messages": [{"role": "user", "content": "x"}], "stream": stream});
    fake.push(Reply::Status(500, "{}".into()))
        .push(Reply::Hang)
        .push(Reply::Stream {
            deltas: vec!["partial ".into()],
            usage: None,
            end: StreamEnd::Cut,
        });

    for stream in [false, true] {
        let (status, error) = parts(
            with_bearer(
                &app,
                Method::POST,
                "/v1/chat/completions",
                &key,
                Some(request(stream)),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_openai_error(&error, "provider_error", Some("provider_error"));
    }
    let cut = with_bearer(
        &app,
        Method::POST,
        "/v1/chat/completions",
        &key,
        Some(request(true)),
    )
    .await;
    assert_eq!(cut.status(), StatusCode::OK);
    let frames = sse_frames(&test::read_body(cut).await);
    let last: Value = serde_json::from_str(&frames.last().expect("frames").1).expect("json");
    assert_openai_error(&last, "provider_error", Some("provider_error"));
    assert!(frames.iter().all(|(_, d)| d != "[DONE]"));

    let (_, usage) = parts(get(&app, "/api/v1/playground/usage", Some(&cookie)).await).await;
    assert_eq!(
        usage["by_model"],
        json!([]),
        "nothing recorded for failed calls"
    );
}

#[actix_web::test]
async fn the_upstream_gets_the_clients_request_through_the_gateway() {
    let t = test_state();
    let fake = FakeOpenAi::start();
    let state = with_fake_provider(&t, &fake);
    let app = init(&state).await;
    let (_, key) = key_for(&app, "ada@example.com").await;
    let request = json!({"model": "fake-1", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "temperature": 0.3, "max_tokens": 9});

    let (status, body) = parts(
        with_bearer(
            &app,
            Method::POST,
            "/v1/chat/completions",
            &key,
            Some(request),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::OK);
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
    let t = test_state();
    let app = init(&t.state).await;
    let (_, key) = key_for(&app, "ada@example.com").await;
    let longest = "é".repeat(100_000);

    let response = with_bearer(
        &app,
        Method::POST,
        "/v1/chat/completions",
        &key,
        Some(json!({
            "model": "echo-1",
            "messages": [{"role": "user", "content": longest}],
            "max_tokens": 32768,
            "temperature": 2
        })),
    )
    .await;

    let (status, body) = parts(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::len),
        Some(longest.len())
    );
}

#[actix_web::test]
async fn completion_ids_and_times_come_from_the_injected_id_source_and_clock() {
    let test_db = promptyard_test_support::TestDb::new();
    let state = crate::AppState::with_clock_and_ids(
        test_db.db(),
        promptyard_services::AuthConfig::default(),
        crate::HttpSettings::new(actix_web::cookie::Key::generate()),
        std::sync::Arc::new(promptyard_services::ManualClock::new(
            crate::test_app::start(),
        )),
        std::sync::Arc::new(promptyard_services::SequentialIds::default()),
    )
    .expect("state");
    let app = init(&state).await;
    let (_, key) = key_for(&app, "ada@example.com").await;
    let request = json!({"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]});

    let (status, body) = parts(
        with_bearer(
            &app,
            Method::POST,
            "/v1/chat/completions",
            &key,
            Some(request),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], crate::test_app::start().timestamp());
    let id = body["id"].as_str().expect("id");
    let n = id.strip_prefix("chatcmpl-id").expect("a sequential id");
    assert!(n.parse::<u32>().is_ok(), "{id}");
}
