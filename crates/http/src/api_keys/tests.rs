use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::test_app::{Actor, Credential, Request, Transport, error_fields, keys, test_app};

/// Creates a key with `user`'s session; returns the answer's body.
async fn create_key<T: Transport>(user: &Actor<'_, T>, body: Value) -> Value {
    let (status, body) = user.post("/api/v1/api-keys", &body).await.parts();
    assert_eq!(status, 201, "{body}");
    body
}

/// The same user with the key of a key object.
fn with_key<'t, T: Transport>(user: &Actor<'t, T>, created: &Value) -> Actor<'t, T> {
    user.as_(Credential::Key(
        created["key"].as_str().expect("the whole key").to_owned(),
    ))
}

#[actix_web::test]
async fn a_key_is_created_shown_once_and_listed_without_its_secret() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let created = create_key(&ada, json!({"name": "laptop", "expires_in_days": 30})).await;

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
    let (status, listed) = ada.get("/api/v1/api-keys").await.parts();
    assert_eq!(status, 200);
    let listed = listed.as_array().expect("array").clone();
    assert_eq!(listed.len(), 1);
    let keys = keys(&listed[0]);
    assert_eq!(
        keys,
        [
            "budget_used",
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "limits",
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
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let (ada_key, _) = ada.mint_key("ci").await;

    let (status, me) = ada_key.get("/api/v1/auth/me").await.parts();

    assert_eq!(status, 200);
    assert_eq!(me["email"], "ada@example.com");
    let (_, listed) = ada.get("/api/v1/api-keys").await.parts();
    assert_eq!(listed[0]["last_used_at"], "2026-11-25T12:00:00.000Z");
}

#[actix_web::test]
async fn key_management_needs_a_session_so_a_key_cannot_mint_keys() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let (ada_key, created) = ada.mint_key("ci").await;
    let id = created["id"].as_str().expect("id").to_owned();

    for request in [
        Request::new("POST", "/api/v1/api-keys").json(&json!({"name": "more"})),
        Request::new("GET", "/api/v1/api-keys"),
        Request::new("DELETE", &format!("/api/v1/api-keys/{id}")),
        Request::new("POST", "/api/v1/auth/logout").json(&json!({})),
        Request::new("GET", "/api/v1/auth/sessions"),
    ] {
        let (method, path) = (request.method.clone(), request.path.clone());
        let (status, body) = ada_key.send(request).await.parts();
        assert_eq!(status, 403, "{method} {path}");
        assert_eq!(body["code"], "session_required");
    }
    let (_, listed) = ada.get("/api/v1/api-keys").await.parts();
    assert_eq!(
        listed.as_array().expect("array").len(),
        1,
        "nothing was minted"
    );
}

#[actix_web::test]
async fn a_revoked_key_is_401_at_once_and_another_users_key_is_404() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let grace = api.anonymous().sign_up("grace@example.com").await;
    let (ada_key, created) = ada.mint_key("ci").await;
    let revoke = format!("/api/v1/api-keys/{}", created["id"].as_str().expect("id"));

    let (status, body) = grace.delete(&revoke).await.parts();
    assert_eq!(status, 404, "never 403 for someone else's key");
    assert_eq!(body["code"], "not_found");
    let (_, graces) = grace.get("/api/v1/api-keys").await.parts();
    assert_eq!(graces, json!([]));

    let revoked = ada.delete(&revoke).await;
    assert_eq!(revoked.status, 204);
    let (status, body) = ada_key.get("/api/v1/auth/me").await.parts();
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthenticated");
    let again = ada.delete(&revoke).await;
    assert_eq!(again.status, 404);
}

#[actix_web::test]
async fn an_expired_key_or_a_disabled_users_key_is_401() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let expiring = with_key(
        &ada,
        &create_key(&ada, json!({"name": "short", "expires_in_days": 1})).await,
    );
    let (lasting, _) = ada.mint_key("long").await;

    t.clock.advance(TimeDelta::days(1));
    let expired = expiring.get("/api/v1/auth/me").await;
    assert_eq!(expired.status, 401);
    let fine = lasting.get("/api/v1/auth/me").await;
    assert_eq!(fine.status, 200);

    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");
    let disabled = lasting.get("/api/v1/auth/me").await;
    assert_eq!(disabled.status, 401);
}

#[actix_web::test]
async fn unknown_malformed_or_non_bearer_credentials_are_401() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let (ada_key, _) = ada.mint_key("ci").await;
    let key = ada_key.key().to_owned();
    let me_with = |authorization: &str| {
        Request::new("GET", "/api/v1/auth/me").header("authorization", authorization)
    };

    for header in [
        format!("Basic {key}"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer pyk_nope".to_owned(),
        format!("Bearer {}x", key),
        key.clone(),
    ] {
        let (status, body) = ada.send(me_with(&header)).await.parts();
        assert_eq!(
            status, 401,
            "{header:.20}: a bad key is refused even beside a good cookie"
        );
        assert_eq!(body["code"], "unauthenticated");
    }
    for header in [format!("Bearer {key}"), format!("bearer {key}")] {
        let status = api.anonymous().send(me_with(&header)).await.status;
        assert_eq!(status, 200, "{header:.6}: the scheme is case-insensitive");
    }
}

#[actix_web::test]
async fn names_and_lifetimes_out_of_range_are_422_naming_the_field() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

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
        let (status, problem) = ada.post("/api/v1/api-keys", &body).await.parts();
        assert_eq!(status, 422, "{body}");
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    let (_, listed) = ada.get("/api/v1/api-keys").await.parts();
    assert_eq!(listed, json!([]));
}

#[actix_web::test]
async fn without_a_session_key_management_is_401() {
    let (_t, api) = test_app().await;
    let anyone = api.anonymous();
    for response in [
        anyone.post("/api/v1/api-keys", &json!({"name": "x"})).await,
        anyone.get("/api/v1/api-keys").await,
        anyone.delete("/api/v1/api-keys/some-id").await,
    ] {
        let (status, body) = response.parts();
        assert_eq!(status, 401);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn session_endpoints_authenticate_a_key_before_saying_it_is_not_enough() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let (revoked, created) = ada.mint_key("revoked").await;
    ada.delete(&format!(
        "/api/v1/api-keys/{}",
        created["id"].as_str().expect("id")
    ))
    .await;
    let (disabled, _) = ada.mint_key("disabled").await;
    let (valid, _) = api
        .anonymous()
        .sign_up("grace@example.com")
        .await
        .mint_key("valid")
        .await;
    let nonsense = ada.as_(Credential::Key("pyk_nonsense".to_owned()));
    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable ada");
    let session_endpoints = [
        ("GET", "/api/v1/api-keys"),
        ("POST", "/api/v1/api-keys"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/password"),
        ("GET", "/api/v1/auth/sessions"),
    ];

    for (method, path) in session_endpoints {
        for (caller, status, code) in [
            (&revoked, 401, "unauthenticated"),
            (&disabled, 401, "unauthenticated"),
            (&nonsense, 401, "unauthenticated"),
            (&valid, 403, "session_required"),
        ] {
            let mut request = Request::new(method, path);
            if method == "POST" {
                request = request.json(&json!({"name": "x"}));
            }
            let (got, answer) = caller.send(request).await.parts();
            assert_eq!(
                (got, answer["code"].as_str()),
                (status, Some(code)),
                "{method} {path}"
            );
        }
    }
}
