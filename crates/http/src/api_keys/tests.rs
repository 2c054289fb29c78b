use actix_web::http::{Method, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::test_app::{delete, get, init, parts, post_json, signed_in, test_state, with_bearer};

/// Creates a key with the session cookie; returns the answer's body.
async fn create_key<S, B>(
    app: &S,
    cookie: &actix_web::cookie::Cookie<'static>,
    body: Value,
) -> Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (status, body) = parts(post_json(app, "/api/v1/api-keys", body, Some(cookie)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[actix_web::test]
async fn a_key_is_created_shown_once_and_listed_without_its_secret() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let created = create_key(
        &app,
        &cookie,
        json!({"name": "laptop", "expires_in_days": 30}),
    )
    .await;

    let key = created["key"].as_str().expect("the whole key").to_owned();
    assert!(key.starts_with(created["prefix"].as_str().expect("prefix")));
    assert!(
        created["prefix"]
            .as_str()
            .expect("prefix")
            .starts_with("pyk_")
    );
    assert_eq!(created["name"], "laptop");
    assert_eq!(created["created_at"], "2026-11-25T12:00:00.000Z");
    assert_eq!(created["expires_at"], "2026-12-25T12:00:00.000Z");
    assert_eq!(created["last_used_at"], Value::Null);
    let (status, listed) = parts(get(&app, "/api/v1/api-keys", Some(&cookie)).await).await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed.as_array().expect("array").clone();
    assert_eq!(listed.len(), 1);
    let keys: Vec<&str> = listed[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "prefix"
        ]
    );
    assert!(
        !listed[0].to_string().contains(&key[17..]),
        "no secret in the list"
    );
}

#[actix_web::test]
async fn a_key_authenticates_me_and_updates_last_used() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let key = create_key(&app, &cookie, json!({"name": "ci"})).await["key"]
        .as_str()
        .expect("key")
        .to_owned();

    let (status, me) =
        parts(with_bearer(&app, Method::GET, "/api/v1/auth/me", &key, None).await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");
    let (_, listed) = parts(get(&app, "/api/v1/api-keys", Some(&cookie)).await).await;
    assert_eq!(listed[0]["last_used_at"], "2026-11-25T12:00:00.000Z");
}

#[actix_web::test]
async fn key_management_needs_a_session_so_a_key_cannot_mint_keys() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let created = create_key(&app, &cookie, json!({"name": "ci"})).await;
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();

    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/api-keys".to_owned(),
            Some(json!({"name": "more"})),
        ),
        (Method::GET, "/api/v1/api-keys".to_owned(), None),
        (Method::DELETE, format!("/api/v1/api-keys/{id}"), None),
        (
            Method::POST,
            "/api/v1/auth/logout".to_owned(),
            Some(json!({})),
        ),
        (Method::GET, "/api/v1/auth/sessions".to_owned(), None),
    ] {
        let (status, body) =
            parts(with_bearer(&app, method.clone(), &path, &key, body).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(body["code"], "session_required");
    }
    let (_, listed) = parts(get(&app, "/api/v1/api-keys", Some(&cookie)).await).await;
    assert_eq!(
        listed.as_array().expect("array").len(),
        1,
        "nothing was minted"
    );
}

#[actix_web::test]
async fn a_revoked_key_is_401_at_once_and_another_users_key_is_404() {
    let t = test_state();
    let app = init(&t.state).await;
    let ada = signed_in(&app, "ada@example.com").await;
    let grace = signed_in(&app, "grace@example.com").await;
    let created = create_key(&app, &ada, json!({"name": "ci"})).await;
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, body) =
        parts(delete(&app, &format!("/api/v1/api-keys/{id}"), Some(&grace)).await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "never 403 for someone else's key"
    );
    assert_eq!(body["code"], "not_found");
    let (_, graces) = parts(get(&app, "/api/v1/api-keys", Some(&grace)).await).await;
    assert_eq!(graces, json!([]));

    let revoked = delete(&app, &format!("/api/v1/api-keys/{id}"), Some(&ada)).await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (status, body) =
        parts(with_bearer(&app, Method::GET, "/api/v1/auth/me", &key, None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");
    let again = delete(&app, &format!("/api/v1/api-keys/{id}"), Some(&ada)).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn an_expired_key_or_a_disabled_users_key_is_401() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let expiring = create_key(
        &app,
        &cookie,
        json!({"name": "short", "expires_in_days": 1}),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let lasting = create_key(&app, &cookie, json!({"name": "long"})).await["key"]
        .as_str()
        .expect("key")
        .to_owned();

    t.clock.advance(TimeDelta::days(1));
    let expired = with_bearer(&app, Method::GET, "/api/v1/auth/me", &expiring, None).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let fine = with_bearer(&app, Method::GET, "/api/v1/auth/me", &lasting, None).await;
    assert_eq!(fine.status(), StatusCode::OK);

    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");
    let disabled = with_bearer(&app, Method::GET, "/api/v1/auth/me", &lasting, None).await;
    assert_eq!(disabled.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn unknown_malformed_or_non_bearer_credentials_are_401() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let key = create_key(&app, &cookie, json!({"name": "ci"})).await["key"]
        .as_str()
        .expect("key")
        .to_owned();

    for header in [
        format!("Basic {key}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer pyk_nope".to_owned(),
        format!("Bearer {}x", key),
        key.clone(),
    ] {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/v1/auth/me")
            .insert_header(("authorization", header.clone()))
            .cookie(cookie.clone())
            .to_request();
        let (status, body) = parts(actix_web::test::call_service(&app, req).await).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{header:.20}: a bad key is refused even beside a good cookie"
        );
        assert_eq!(body["code"], "unauthenticated");
    }
    let lower = with_bearer(&app, Method::GET, "/api/v1/auth/me", &key, None).await;
    assert_eq!(lower.status(), StatusCode::OK);
    let req = actix_web::test::TestRequest::get()
        .uri("/api/v1/auth/me")
        .insert_header(("authorization", format!("bearer {key}")))
        .to_request();
    assert_eq!(
        actix_web::test::call_service(&app, req).await.status(),
        StatusCode::OK,
        "the scheme is case-insensitive"
    );
}

#[actix_web::test]
async fn names_and_lifetimes_out_of_range_are_422_naming_the_field() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    for (body, fields) in [
        (json!({}), vec!["name"]),
        (json!({"name": ""}), vec!["name"]),
        (json!({"name": "   "}), vec!["name"]),
        (json!({"name": "x".repeat(101)}), vec!["name"]),
        (json!({"name": 5}), vec!["name"]),
        (
            json!({"name": "ok", "expires_in_days": 0}),
            vec!["expires_in_days"],
        ),
        (
            json!({"name": "ok", "expires_in_days": 3651}),
            vec!["expires_in_days"],
        ),
        (
            json!({"name": "ok", "expires_in_days": "ten"}),
            vec!["expires_in_days"],
        ),
        (
            json!({"expires_in_days": 1.5}),
            vec!["name", "expires_in_days"],
        ),
    ] {
        let (status, problem) =
            parts(post_json(&app, "/api/v1/api-keys", body.clone(), Some(&cookie)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(named, fields, "{body}");
    }
    let (_, listed) = parts(get(&app, "/api/v1/api-keys", Some(&cookie)).await).await;
    assert_eq!(listed, json!([]));
}

#[actix_web::test]
async fn without_a_session_key_management_is_401() {
    let t = test_state();
    let app = init(&t.state).await;
    for response in [
        post_json(&app, "/api/v1/api-keys", json!({"name": "x"}), None).await,
        get(&app, "/api/v1/api-keys", None).await,
        delete(&app, "/api/v1/api-keys/some-id", None).await,
    ] {
        let (status, body) = parts(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn session_endpoints_authenticate_a_key_before_saying_it_is_not_enough() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let revoked = create_key(&app, &cookie, json!({"name": "revoked"})).await;
    delete(
        &app,
        &format!("/api/v1/api-keys/{}", revoked["id"].as_str().expect("id")),
        Some(&cookie),
    )
    .await;
    let revoked = revoked["key"].as_str().expect("key").to_owned();
    let disabled = create_key(&app, &cookie, json!({"name": "disabled"})).await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let _grace = signed_in(&app, "grace@example.com").await;
    let valid = {
        let cookie = crate::test_app::login(&app, "grace@example.com").await;
        create_key(&app, &cookie, json!({"name": "valid"})).await["key"]
            .as_str()
            .expect("key")
            .to_owned()
    };
    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable ada");
    let session_endpoints = [
        (Method::GET, "/api/v1/api-keys"),
        (Method::POST, "/api/v1/api-keys"),
        (Method::POST, "/api/v1/auth/logout"),
        (Method::POST, "/api/v1/auth/password"),
        (Method::GET, "/api/v1/auth/sessions"),
    ];

    for (method, path) in session_endpoints {
        for (key, status, code) in [
            (&revoked, StatusCode::UNAUTHORIZED, "unauthenticated"),
            (&disabled, StatusCode::UNAUTHORIZED, "unauthenticated"),
            (
                &"pyk_nonsense".to_owned(),
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
            ),
            (&valid, StatusCode::FORBIDDEN, "session_required"),
        ] {
            let body = (method == Method::POST).then(|| json!({"name": "x"}));
            let (got, answer) =
                parts(with_bearer(&app, method.clone(), path, key, body).await).await;
            assert_eq!(
                (got, answer["code"].as_str()),
                (status, Some(code)),
                "{method} {path}"
            );
        }
    }
}
