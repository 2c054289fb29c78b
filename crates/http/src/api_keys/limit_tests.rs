//! The contract's "Limits and budgets per API key", rule by rule, over
//! HTTP (in process, on a real database, with a clock the test moves).

use std::time::Duration;

use chrono::TimeDelta;

use promptyard_services::Clock as _;
use promptyard_test_support::fake_openai::{Reply, StreamEnd};
use serde_json::{Value, json};

use crate::test_app::{
    Actor, Credential, Response, Transport, error_fields, test_app, test_app_with_fake_provider,
};

const COMPLETIONS: &str = "/v1/chat/completions";

/// Ada signed up with a session, and Ada with a new key of these limits;
/// the key object.
async fn ada_with_limits<T: Transport>(
    api: &T,
    limits: Value,
) -> (Actor<'_, T>, Actor<'_, T>, Value) {
    let ada = Actor::anonymous(api).sign_up("ada@example.com").await;
    let (key, created) = ada
        .mint_key_with(&json!({"name": "script", "limits": limits}))
        .await;
    (ada, key, created)
}

/// A `/v1` chat completion to `echo-1` of `words` words, `max_tokens` 10.
async fn complete<T: Transport>(key: &Actor<'_, T>, words: usize) -> Response {
    let content = vec!["word"; words].join(" ");
    key.post(
        COMPLETIONS,
        &json!({"model": "echo-1", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}),
    )
    .await
}

/// A playground message (`max_tokens` 10) to the conversation `id`.
async fn send<T: Transport>(user: &Actor<'_, T>, id: &str, content: &str) -> Response {
    user.post(
        &format!("/api/v1/playground/conversations/{id}/messages"),
        &json!({"content": content, "max_tokens": 10}),
    )
    .await
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after(response: &Response) -> u64 {
    response
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {}", response.text()))
}

/// The caller's key `id` as `GET /api-keys` lists it.
async fn listed<T: Transport>(user: &Actor<'_, T>, id: &Value) -> Value {
    let list = user.get("/api/v1/api-keys").await.expect_json(200);
    list.as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"] == *id)
        .cloned()
        .expect("listed")
}

#[actix_web::test]
async fn limits_are_stored_with_the_key_shown_and_listed_and_default_to_none() {
    let (_t, api) = test_app().await;
    let limits = json!({
        "requests_per_minute": 60, "tokens_per_minute": 100_000,
        "token_budget": 1_000_000, "budget_period": "month", "models": ["echo-1"],
    });
    let (ada, _key, created) = ada_with_limits(&api, limits.clone()).await;

    assert_eq!(created["limits"], limits);
    assert_eq!(created["budget_used"], 0);
    assert_eq!(listed(&ada, &created["id"]).await["limits"], limits);
    let (_, plain) = ada.mint_key("plain").await;
    let none = json!({"requests_per_minute": null, "tokens_per_minute": null,
        "token_budget": null, "budget_period": null, "models": null});
    assert_eq!(plain["limits"], none);
    let (_, nulled) = ada
        .mint_key_with(&json!({"name": "nulled", "limits": null}))
        .await;
    assert_eq!(nulled["limits"], none);
}

#[actix_web::test]
async fn every_bad_limit_is_a_422_naming_its_field() {
    let (_t, api) = test_app().await;
    let ada = Actor::anonymous(&api).sign_up("ada@example.com").await;
    let cases = [
        (
            json!({"requests_per_minute": 0}),
            vec!["limits.requests_per_minute"],
        ),
        (
            json!({"requests_per_minute": 1_000_001}),
            vec!["limits.requests_per_minute"],
        ),
        (
            json!({"requests_per_minute": 1.5}),
            vec!["limits.requests_per_minute"],
        ),
        (
            json!({"requests_per_minute": "10"}),
            vec!["limits.requests_per_minute"],
        ),
        (
            json!({"tokens_per_minute": 100_000_001}),
            vec!["limits.tokens_per_minute"],
        ),
        (
            json!({"token_budget": 1e12 + 1.0, "budget_period": "day"}),
            vec!["limits.token_budget"],
        ),
        (json!({"token_budget": 100}), vec!["limits.budget_period"]),
        (
            json!({"budget_period": "day"}),
            vec!["limits.budget_period"],
        ),
        (
            json!({"token_budget": 100, "budget_period": "week"}),
            vec!["limits.budget_period"],
        ),
        (
            json!({"models": ["echo-1", "gpt-9"]}),
            vec!["limits.models[1]"],
        ),
        (json!({"models": "echo-1"}), vec!["limits.models"]),
        (json!({"models": [""]}), vec!["limits.models[0]"]),
        (
            json!({"request_per_minute": 5}),
            vec!["limits.request_per_minute"],
        ),
        (json!(5), vec!["limits"]),
        (
            json!({"requests_per_minute": -1, "tokens_per_minute": 0}),
            vec!["limits.requests_per_minute", "limits.tokens_per_minute"],
        ),
    ];
    for (limits, fields) in cases {
        let body = json!({"name": "k", "limits": limits});
        let problem = ada
            .post("/api/v1/api-keys", &body)
            .await
            .problem(422, "validation_failed");
        assert_eq!(error_fields(&problem), fields, "{limits}");
    }
    let keys = ada.get("/api/v1/api-keys").await.expect_json(200);
    assert_eq!(keys, json!([]), "nothing was created");
}

#[actix_web::test]
async fn patch_replaces_the_limits_of_ones_own_active_key_with_a_session_only() {
    let (_t, api) = test_app().await;
    let (ada, ada_key, created) = ada_with_limits(&api, json!({"requests_per_minute": 5})).await;
    let path = format!("/api/v1/api-keys/{}", created["id"].as_str().expect("id"));

    let new = json!({"token_budget": 500, "budget_period": "day", "models": ["echo-1"],
        "requests_per_minute": null, "tokens_per_minute": null});
    let updated = ada
        .patch(&path, &json!({"limits": new}))
        .await
        .expect_json(200);
    assert_eq!(updated["limits"], new, "replaced whole: rpm is gone");
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(listed(&ada, &created["id"]).await["limits"], new);
    let lifted = ada
        .patch(&path, &json!({"limits": null}))
        .await
        .expect_json(200);
    assert_eq!(lifted["limits"]["token_budget"], Value::Null);

    let missing = ada
        .patch(&path, &json!({}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(error_fields(&missing), ["limits"]);
    let bad = ada
        .patch(&path, &json!({"limits": {"models": ["nope"]}}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(error_fields(&bad), ["limits.models[0]"]);
    ada_key
        .patch(&path, &json!({"limits": null}))
        .await
        .problem(403, "session_required");
    Actor::anonymous(&api)
        .patch(&path, &json!({"limits": null}))
        .await
        .problem(401, "unauthenticated");
    let grace = Actor::anonymous(&api).sign_up("grace@example.com").await;
    grace
        .patch(&path, &json!({"limits": null}))
        .await
        .problem(404, "not_found");
    ada.patch("/api/v1/api-keys/nope", &json!({"limits": null}))
        .await
        .problem(404, "not_found");
    assert_eq!(ada.delete(&path).await.status, 204);
    ada.patch(&path, &json!({"limits": null}))
        .await
        .problem(404, "not_found");
}

#[actix_web::test]
async fn over_the_requests_per_minute_both_prefixes_answer_429_with_retry_after_until_the_next_minute()
 {
    let (t, api) = test_app().await;
    let (ada, key, _) = ada_with_limits(&api, json!({"requests_per_minute": 2})).await;
    let conversation = key.start_conversation("echo-1").await;
    let id = conversation["id"].as_str().expect("id");

    assert_eq!(send(&key, id, "one").await.status, 201);
    assert_eq!(complete(&key, 1).await.status, 200);
    let playground = send(&key, id, "three").await;
    playground.problem(429, "rate_limited");
    assert_eq!(
        retry_after(&playground),
        60,
        "the clock stands at a minute's start"
    );
    let gateway = complete(&key, 1).await;
    gateway.openai_error(429, "rate_limit_error", Some("rate_limit_exceeded"));
    assert_eq!(retry_after(&gateway), 60);
    let history = key
        .get(&format!("/api/v1/playground/conversations/{id}"))
        .await
        .expect_json(200);
    assert_eq!(
        history["messages"].as_array().map(Vec::len),
        Some(2),
        "nothing stored"
    );

    assert_eq!(
        send(&ada, id, "a session is not limited by a key")
            .await
            .status,
        201
    );
    t.clock.advance(TimeDelta::seconds(45));
    assert_eq!(retry_after(&complete(&key, 1).await), 15);
    t.clock.advance(TimeDelta::seconds(15));
    assert_eq!(complete(&key, 1).await.status, 200, "a new minute");
}

#[actix_web::test]
async fn tokens_per_minute_count_the_reservation_and_settle_to_the_real_usage() {
    let (t, api) = test_app().await;
    // One request reserves 3 words + 4 overhead + 10 max_tokens = 17 and
    // settles to 6 (echo: 3 prompt words, 3 completion words): three fit
    // in 30 (6 + 6 + 17), which they would not if reservations stayed.
    let (_ada, key, _) = ada_with_limits(&api, json!({"tokens_per_minute": 30})).await;

    for i in 0..3 {
        assert_eq!(complete(&key, 3).await.status, 200, "request {i}");
    }
    let over = complete(&key, 3).await;
    over.openai_error(429, "rate_limit_error", Some("rate_limit_exceeded"));
    let huge = key
        .post(
            COMPLETIONS,
            &json!({"model": "echo-1", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let body = huge.openai_error(429, "rate_limit_error", Some("rate_limit_exceeded"));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tokens_per_minute")),
        "says why it can never fit: {body}"
    );
    t.clock.advance(TimeDelta::seconds(60));
    assert_eq!(complete(&key, 1).await.status, 200);
}

#[actix_web::test]
async fn a_spent_budget_is_insufficient_quota_on_both_prefixes_until_the_day_ends() {
    let (t, api) = test_app().await;
    let limits = json!({"token_budget": 40, "budget_period": "day"});
    let (ada, key, created) = ada_with_limits(&api, limits).await;
    let conversation = key.start_conversation("echo-1").await;
    let id = conversation["id"].as_str().expect("id");

    // Each reserves 3 words + 4 + 10 = 17 and settles to 6.
    let mut used = 0;
    while send(&key, id, "one two three").await.status == 201 {
        used += 6;
        assert!(used <= 40, "over budget");
    }
    assert_eq!(used, 24, "24 used + 17 reserved > 40");
    let key_object = listed(&ada, &created["id"]).await;
    assert_eq!(key_object["budget_used"], used);
    let playground = send(&key, id, "one two three").await;
    playground.problem(429, "insufficient_quota");
    let start = t.clock.now();
    let midnight = start.date_naive().succ_opt().expect("tomorrow");
    let until = (midnight.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - start).num_seconds();
    assert_eq!(
        retry_after(&playground),
        u64::try_from(until).expect("ahead")
    );
    let gateway = complete(&key, 3).await;
    gateway.openai_error(429, "insufficient_quota", Some("insufficient_quota"));
    t.clock.advance(TimeDelta::seconds(60));
    assert_eq!(
        complete(&key, 3).await.status,
        429,
        "a minute later, still spent"
    );

    t.clock.advance(TimeDelta::seconds(until - 60));
    assert_eq!(
        listed(&ada, &created["id"]).await["budget_used"],
        0,
        "a new day"
    );
    assert_eq!(complete(&key, 1).await.status, 200);
    assert_eq!(listed(&ada, &created["id"]).await["budget_used"], 2);
}

#[actix_web::test]
async fn a_failed_request_gives_its_reservation_back() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let limits = json!({"requests_per_minute": 1, "tokens_per_minute": 2000});
    let (_ada, key, _) = ada_with_limits(&api, limits).await;
    fake.push(Reply::Status(500, "{}".into()));

    let failed = key
        .post(
            COMPLETIONS,
            &json!({"model": "fake-1", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(failed.status, 502, "{}", failed.text());

    let one_word = json!({"model": "echo-1", "max_tokens": 10,
        "messages": [{"role": "user", "content": "word"}]});
    let admitted = once_released(&key, COMPLETIONS, &one_word).await;
    assert_eq!(admitted.status, 200, "{}", admitted.text());
    assert_eq!(complete(&key, 1).await.status, 429, "and only one");
}

#[actix_web::test]
async fn an_allow_list_narrows_the_models_a_key_sees_and_may_use() {
    let (_t, _fake, api) = test_app_with_fake_provider().await;
    let (ada, key, _) = ada_with_limits(&api, json!({"models": ["fake-1"]})).await;

    let ids = |body: &Value, list: &str, field: &str| -> Vec<String> {
        body[list]
            .as_array()
            .expect("list")
            .iter()
            .map(|m| m[field].as_str().expect("id").to_owned())
            .collect()
    };
    let openai = key.get("/v1/models").await.expect_json(200);
    assert_eq!(ids(&openai, "data", "id"), ["fake-1"]);
    let playground = key.get("/api/v1/playground/models").await.expect_json(200);
    assert_eq!(ids(&playground, "models", "id"), ["fake-1"]);
    let session = ada.get("/api/v1/playground/models").await.expect_json(200);
    assert_eq!(
        ids(&session, "models", "id"),
        ["echo-1", "fake-1"],
        "a session sees all"
    );

    complete(&key, 1)
        .await
        .openai_error(404, "invalid_request_error", Some("model_not_found"));
    let refused = key
        .post(
            "/api/v1/playground/conversations",
            &json!({"model": "echo-1"}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(error_fields(&refused), ["model"]);
    let ada_conversation = ada.start_conversation("echo-1").await;
    let id = ada_conversation["id"].as_str().expect("id");
    let not_for_the_key = send(&key, id, "hi").await.problem(422, "validation_failed");
    assert_eq!(error_fields(&not_for_the_key), ["model"]);
    assert_eq!(send(&ada, id, "hi").await.status, 201);
}

#[actix_web::test]
async fn a_concurrent_burst_never_overshoots_the_requests_per_minute() {
    let (_t, api) = test_app().await;
    let (_ada, key, _) = ada_with_limits(&api, json!({"requests_per_minute": 5})).await;

    let answers = futures_util::future::join_all((0..20).map(|_| complete(&key, 1))).await;

    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn a_key_with_only_an_allow_list_or_a_session_is_never_refused_for_volume() {
    let (_t, api) = test_app().await;
    let (ada, key, _) = ada_with_limits(&api, json!({"models": ["echo-1"]})).await;
    for _ in 0..30 {
        assert_eq!(complete(&key, 1).await.status, 200);
    }
    let cookie = ada.as_(Credential::Cookie(ada.cookie().to_owned()));
    let conversation = cookie.start_conversation("echo-1").await;
    let id = conversation["id"].as_str().expect("id");
    assert_eq!(send(&cookie, id, "hi").await.status, 201);
}

/// Sends `request` until it is not refused with 429 (a reservation given
/// back by a failed request is released in the background, just after its
/// answer), at most half a second; the last answer.
async fn once_released<T: Transport>(key: &Actor<'_, T>, path: &str, request: &Value) -> Response {
    let mut answer = key.post(path, request).await;
    for _ in 0..50 {
        if answer.status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        answer = key.post(path, request).await;
    }
    answer
}

/// The key's `budget_used` once it reaches `expected` (a request that
/// ended early is settled in the background, just after its answer), or
/// as it stands after half a second.
async fn budget_used_reaches<T: Transport>(
    user: &Actor<'_, T>,
    id: &Value,
    expected: u64,
) -> Value {
    let mut used = listed(user, id).await["budget_used"].clone();
    for _ in 0..50 {
        if used == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        used = listed(user, id).await["budget_used"].clone();
    }
    used
}

#[actix_web::test]
async fn a_stream_cut_midway_counts_what_it_streamed_and_one_failing_first_gives_all_back() {
    let (_t, fake, api) = test_app_with_fake_provider().await;
    let limits = json!({"requests_per_minute": 2, "token_budget": 1000, "budget_period": "day"});
    let (ada, key, created) = ada_with_limits(&api, limits).await;
    let stream = |model: &str| {
        json!({"model": model, "stream": true, "max_tokens": 10,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    fake.push(Reply::Stream {
        deltas: vec!["half an ".into(), "answer".into()],
        usage: Some((3, 3)),
        end: StreamEnd::Cut,
    });

    let cut = key.post(COMPLETIONS, &stream("fake-1")).await;
    assert_eq!(cut.status, 200, "the stream had begun");
    assert!(cut.text().contains("provider_error"), "{}", cut.text());
    assert!(!cut.text().contains("[DONE]"));
    // The prompt (1 word + 4) and the 3 words the client got.
    assert_eq!(budget_used_reaches(&ada, &created["id"], 8).await, 8);

    fake.push(Reply::Status(500, "{}".into()));
    let failed = key.post(COMPLETIONS, &stream("fake-1")).await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    let whole = once_released(&key, COMPLETIONS, &stream("echo-1")).await;
    assert_eq!(whole.status, 200, "the failed one gave its request back");
    assert!(whole.text().contains("[DONE]"), "{}", whole.text());
    assert_eq!(
        listed(&ada, &created["id"]).await["budget_used"],
        8 + 2,
        "echo-1 used 1 + 1"
    );
    complete(&key, 1)
        .await
        .openai_error(429, "rate_limit_error", Some("rate_limit_exceeded"));
}

#[actix_web::test]
async fn a_limited_request_without_max_tokens_is_sent_with_its_reservation_as_max_tokens() {
    let (t, fake, api) = test_app_with_fake_provider().await;
    let limits = json!({"tokens_per_minute": 100_000});
    let (_ada, key, _) = ada_with_limits(&api, limits).await;
    let (_, plain) = Actor::anonymous(&api)
        .sign_up("grace@example.com")
        .await
        .mint_key("plain")
        .await;
    let hi = json!({"model": "fake-1", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        fake.push(Reply::Complete {
            content: "ok".into(),
            usage: Some((1, 1)),
        });
    }

    assert_eq!(key.post(COMPLETIONS, &hi).await.status, 200);
    let mut asked = hi.clone();
    asked["max_tokens"] = json!(7);
    assert_eq!(key.post(COMPLETIONS, &asked).await.status, 200);
    let grace = api.anonymous().as_(Credential::Key(
        plain["key"].as_str().expect("key").to_owned(),
    ));
    assert_eq!(grace.post(COMPLETIONS, &hi).await.status, 200);

    let sent: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| r.body["max_tokens"].clone())
        .collect();
    let reserved = t.state.playground.default_reserve();
    assert_eq!(sent, [json!(reserved), json!(7), Value::Null]);
}

#[actix_web::test]
async fn a_playground_stream_of_a_limited_key_is_admitted_and_settled_like_a_whole_answer() {
    let (t, api) = test_app().await;
    let limits = json!({"requests_per_minute": 1, "token_budget": 1000, "budget_period": "month"});
    let (ada, key, created) = ada_with_limits(&api, limits).await;
    let conversation = key.start_conversation("echo-1").await;
    let path = format!(
        "/api/v1/playground/conversations/{}/messages",
        conversation["id"].as_str().expect("id")
    );
    let message = json!({"content": "one two", "stream": true, "max_tokens": 10});

    let streamed = key.post(&path, &message).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());
    let (text, done) = streamed.deltas_and_done();
    assert_eq!(text, "one two");
    assert_eq!(done["usage"]["total_tokens"], 4);
    assert_eq!(listed(&ada, &created["id"]).await["budget_used"], 4);
    key.post(&path, &message).await.problem(429, "rate_limited");
    t.clock.advance(TimeDelta::seconds(60));
    assert_eq!(key.post(&path, &message).await.status, 200);
    assert_eq!(listed(&ada, &created["id"]).await["budget_used"], 8);
}
