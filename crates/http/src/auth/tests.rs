use actix_web::cookie::{Cookie, SameSite};

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use actix_web::test;
use chrono::TimeDelta;
use promptyard_services::AuthConfig;
use serde_json::{Value, json};

use crate::test_app::{
    PASSWORD, TestState, creds, delete, get, init, login, parts, post_json, session_cookie,
    signed_in, start, test_state, test_state_with,
};

#[actix_web::test]
async fn register_answers_201_with_the_user_and_never_a_hash() {
    let t = test_state();
    let app = init(&t.state).await;

    let response = post_json(
        &app,
        "/api/v1/auth/register",
        creds(" Ada@Example.com ", PASSWORD),
        None,
    )
    .await;

    let (status, body) = parts(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["created_at"], "2026-11-25T12:00:00.000Z");
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["created_at", "email", "id", "is_active"]);
    assert!(!body.to_string().contains("argon2"));
}

#[actix_web::test]
async fn register_with_an_email_taken_in_another_case_is_409() {
    let t = test_state();
    let app = init(&t.state).await;
    post_json(
        &app,
        "/api/v1/auth/register",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;

    let response = post_json(
        &app,
        "/api/v1/auth/register",
        creds("ADA@example.com", PASSWORD),
        None,
    )
    .await;

    let (status, body) = parts(response).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "email_taken");
}

#[actix_web::test]
async fn register_with_bad_values_is_422_naming_each_field() {
    let t = test_state();
    let app = init(&t.state).await;

    let response = post_json(&app, "/api/v1/auth/register", creds("ada", "short"), None).await;

    assert_eq!(
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let (status, body) = parts(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][1]["field"], "password");
}

#[actix_web::test]
async fn register_with_a_missing_or_mistyped_field_is_422_and_a_non_json_body_415() {
    let t = test_state();
    let app = init(&t.state).await;

    let missing = post_json(&app, "/api/v1/auth/register", json!({"email": 5}), None).await;
    let (status, body) = parts(missing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["errors"][0],
        json!({"field": "email", "message": "must be a string"})
    );
    assert_eq!(
        body["errors"][1],
        json!({"field": "password", "message": "is required"})
    );

    let form = test::TestRequest::post()
        .uri("/api/v1/auth/register")
        .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("email=a%40b.co&password=12345678")
        .to_request();
    let (status, body) = parts(test::call_service(&app, form).await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_media_type");

    let big = json!({"email": "a@b.co", "password": "x".repeat(70 * 1024)});
    let (status, body) = parts(post_json(&app, "/api/v1/auth/register", big, None).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");
}

#[actix_web::test]
async fn login_sets_a_session_cookie_with_the_contracts_attributes() {
    let t = test_state();
    let app = init(&t.state).await;
    post_json(
        &app,
        "/api/v1/auth/register",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;

    let response = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = session_cookie(&response).expect("cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_ne!(cookie.secure(), Some(true), "Secure only when configured");
    assert_eq!(
        cookie.max_age().map(|d| d.whole_seconds()),
        Some(7 * 24 * 3600),
        "the session TTL"
    );
    let (_, body) = parts(response).await;
    assert_eq!(body["email"], "ada@example.com");
}

#[actix_web::test]
async fn the_cookie_is_secure_when_configured() {
    let t = test_state_with(AuthConfig::default(), |mut s| {
        s.cookie_secure = true;
        s
    });
    let app = init(&t.state).await;

    let cookie = signed_in(&app, "ada@example.com").await;

    assert_eq!(cookie.secure(), Some(true));
}

#[actix_web::test]
async fn me_answers_the_user_with_a_session_and_401_without() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let (status, body) = parts(get(&app, "/api/v1/auth/me", Some(&cookie)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["email"], "ada@example.com");

    let (status, body) = parts(get(&app, "/api/v1/auth/me", None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");
}

#[actix_web::test]
async fn a_forged_or_tampered_cookie_is_401() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let tampered = Cookie::new("session_id", format!("{}x", cookie.value()));
    let forged = Cookie::new("session_id", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

    for cookie in [tampered, forged] {
        let (status, body) = parts(get(&app, "/api/v1/auth/me", Some(&cookie)).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn logout_deletes_the_session_and_expires_the_cookie() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let response = post_json(&app, "/api/v1/auth/logout", json!({}), Some(&cookie)).await;

    let removal = session_cookie(&response).expect("a removal cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age().map(|d| d.whole_seconds()), Some(0));
    let (status, body) = parts(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "logged out"}));
    for path in ["/api/v1/auth/me", "/api/v1/auth/sessions"] {
        let (status, _) = parts(get(&app, path, Some(&cookie)).await).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with the old cookie"
        );
    }
    let again = post_json(&app, "/api/v1/auth/logout", json!({}), Some(&cookie)).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn every_login_gets_a_new_key_and_replaces_this_browsers_previous_session() {
    let t = test_state();
    let app = init(&t.state).await;
    let first = signed_in(&app, "ada@example.com").await;

    let response = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", PASSWORD),
        Some(&first),
    )
    .await;
    let second = session_cookie(&response).expect("a new cookie");

    assert_ne!(first.value(), second.value());
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&second)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&first)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the fixed-up session is gone"
    );
}

#[actix_web::test]
async fn an_unknown_email_and_a_wrong_password_get_byte_identical_answers() {
    let t = test_state();
    let app = init(&t.state).await;
    post_json(
        &app,
        "/api/v1/auth/register",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;

    let unknown = post_json(
        &app,
        "/api/v1/auth/login",
        creds("grace@example.com", PASSWORD),
        None,
    )
    .await;
    let wrong = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", "wrong password"),
        None,
    )
    .await;

    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = test::read_body(unknown).await;
    let wrong = test::read_body(wrong).await;
    assert_eq!(unknown, wrong);
    let body: Value = serde_json::from_slice(&wrong).expect("json");
    assert_eq!(body["code"], "invalid_credentials");
}

#[actix_web::test]
async fn a_disabled_account_gets_403_on_login_and_401_with_its_session() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    let (status, body) = parts(
        post_json(
            &app,
            "/api/v1/auth/login",
            creds("ada@example.com", PASSWORD),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "account_disabled");
    let (status, body) = parts(get(&app, "/api/v1/auth/me", Some(&cookie)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");
}

#[actix_web::test]
async fn a_disabled_users_session_stops_working_even_if_its_row_survives() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    // Flip the flag behind the service's back (as another process might):
    // the join in the session lookup refuses the session on the next request.
    let mut conn = t.test_db.conn();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE users SET is_active = 0"),
        &mut conn,
    )
    .expect("disable");

    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn the_eleventh_failed_login_is_429_with_retry_after() {
    let t = test_state();
    let app = init(&t.state).await;
    post_json(
        &app,
        "/api/v1/auth/register",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;
    for _ in 0..10 {
        let r = post_json(
            &app,
            "/api/v1/auth/login",
            creds("ada@example.com", "wrong password"),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    let limited = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;

    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("900")
    );
    let (_, body) = parts(limited).await;
    assert_eq!(body["code"], "rate_limited");
    t.clock.advance(TimeDelta::minutes(15));
    let after = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;
    assert_eq!(after.status(), StatusCode::OK, "the window has passed");
}

#[actix_web::test]
async fn a_session_past_its_ttl_is_401() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    t.clock
        .advance(TimeDelta::days(7) - TimeDelta::milliseconds(1));
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    t.clock.advance(TimeDelta::milliseconds(1));
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_password_change_checks_the_current_one_and_revokes_the_other_sessions() {
    let t = test_state();
    let app = init(&t.state).await;
    let laptop = signed_in(&app, "ada@example.com").await;
    let phone = login(&app, "ada@example.com").await;

    let wrong = post_json(
        &app,
        "/api/v1/auth/password",
        json!({"current_password": "nope nope nope", "new_password": "a new password"}),
        Some(&laptop),
    )
    .await;
    let (status, body) = parts(wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "invalid_credentials");

    let short = post_json(
        &app,
        "/api/v1/auth/password",
        json!({"current_password": PASSWORD, "new_password": "short"}),
        Some(&laptop),
    )
    .await;
    let (status, body) = parts(short).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "new_password");

    let changed = post_json(
        &app,
        "/api/v1/auth/password",
        json!({"current_password": PASSWORD, "new_password": "a new password"}),
        Some(&laptop),
    )
    .await;
    let (status, body) = parts(changed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["message"],
        "password changed; 1 other session signed out"
    );
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&laptop)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&phone)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_revoked() {
    let t = test_state();
    let app = init(&t.state).await;
    let laptop = signed_in(&app, "ada@example.com").await;
    t.clock.advance(TimeDelta::minutes(1));
    let phone = {
        let req = test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header((USER_AGENT, "PhoneBrowser/1.0"))
            .set_json(creds("ada@example.com", PASSWORD))
            .to_request();
        session_cookie(&test::call_service(&app, req).await).expect("cookie")
    };

    let (status, body) = parts(get(&app, "/api/v1/auth/sessions", Some(&laptop)).await).await;

    assert_eq!(status, StatusCode::OK);
    let sessions = body.as_array().expect("array");
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[0]["user_agent"], "PhoneBrowser/1.0",
        "newest first"
    );
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[1]["created_at"], "2026-11-25T12:00:00.000Z");
    assert_eq!(sessions[1]["expires_at"], "2026-12-02T12:00:00.000Z");
    let phone_id = sessions[0]["id"].as_str().expect("id").to_owned();
    for session in sessions {
        let id = session["id"].as_str().expect("id");
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(uuid.get_version_num(), 7, "{id}");
        assert_eq!(id, uuid.hyphenated().to_string(), "canonical form");
    }
    let stored: Vec<String> = {
        let mut conn = t.test_db.conn();
        use diesel::prelude::*;
        promptyard_db_models::schema::sessions::table
            .select(promptyard_db_models::schema::sessions::id)
            .load(&mut conn)
            .expect("stored ids")
    };
    for hash in &stored {
        assert!(
            !body.to_string().contains(hash.as_str()),
            "the key's hash never leaves the server"
        );
    }

    let revoked = delete(
        &app,
        &format!("/api/v1/auth/sessions/{phone_id}"),
        Some(&laptop),
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&phone)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = delete(
        &app,
        &format!("/api/v1/auth/sessions/{phone_id}"),
        Some(&laptop),
    )
    .await;
    let (status, body) = parts(again).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[actix_web::test]
async fn another_users_session_is_404_and_revoking_ones_own_current_session_logs_out() {
    let t = test_state();
    let app = init(&t.state).await;
    let ada = signed_in(&app, "ada@example.com").await;
    let grace = signed_in(&app, "grace@example.com").await;
    let (_, graces) = parts(get(&app, "/api/v1/auth/sessions", Some(&grace)).await).await;
    let grace_id = graces[0]["id"].as_str().expect("id").to_owned();
    let (_, adas) = parts(get(&app, "/api/v1/auth/sessions", Some(&ada)).await).await;
    let ada_id = adas[0]["id"].as_str().expect("id").to_owned();

    let theirs = delete(
        &app,
        &format!("/api/v1/auth/sessions/{grace_id}"),
        Some(&ada),
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&grace)).await.status(),
        StatusCode::OK
    );

    let own = delete(&app, &format!("/api/v1/auth/sessions/{ada_id}"), Some(&ada)).await;
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        session_cookie(&own).map(|c| c.value().to_owned()),
        Some(String::new())
    );
    assert_eq!(
        get(&app, "/api/v1/auth/me", Some(&ada)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn session_endpoints_without_a_session_are_401() {
    let t = test_state();
    let app = init(&t.state).await;
    for response in [
        post_json(&app, "/api/v1/auth/logout", json!({}), None).await,
        post_json(
            &app,
            "/api/v1/auth/password",
            json!({"current_password": "x", "new_password": "y"}),
            None,
        )
        .await,
        get(&app, "/api/v1/auth/sessions", None).await,
        delete(&app, "/api/v1/auth/sessions/abc", None).await,
    ] {
        let (status, body) = parts(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn a_session_lookup_that_cannot_reach_the_database_is_503_not_401() {
    let t: TestState = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    // A state whose only reader is held, with a tiny acquire timeout.
    let db = t.test_db.db_with(|c| {
        c.with_readers(1)
            .with_acquire_timeout(std::time::Duration::from_millis(30))
    });
    let state = crate::AppState::with_clock(
        db.clone(),
        AuthConfig::default(),
        t.state.settings.clone(),
        std::sync::Arc::new(t.clock.clone()),
    )
    .expect("state");
    let stalled = init(&state).await;
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let holder = actix_web::rt::spawn(async move {
        db.read(move |_| {
            held_tx.send(()).expect("signal");
            release_rx.recv().expect("wait");
            Ok::<_, promptyard_services::RepoError>(())
        })
        .await
    });
    actix_web::rt::task::spawn_blocking(move || held_rx.recv())
        .await
        .expect("join")
        .expect("held");

    let (status, body) = parts(get(&stalled, "/api/v1/auth/me", Some(&cookie)).await).await;

    release_tx.send(()).expect("release");
    holder.await.expect("join").expect("holder");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "unavailable");
    let _ = start();
}

#[actix_web::test]
async fn cors_answers_listed_origins_with_credentials_and_others_with_nothing() {
    let t = test_state_with(AuthConfig::default(), |mut s| {
        s.cors_origins = vec!["https://app.example.com".to_owned()];
        s
    });
    let app = init(&t.state).await;
    let preflight = |origin: &'static str| {
        test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api/v1/auth/login")
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header(("access-control-request-headers", "content-type"))
            .to_request()
    };

    let allowed = test::call_service(&app, preflight("https://app.example.com")).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        header("access-control-allow-credentials").as_deref(),
        Some("true")
    );

    let cors_headers = |headers: &actix_web::http::header::HeaderMap| -> Vec<String> {
        headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.starts_with("access-control-"))
            .collect()
    };
    let other = test::call_service(&app, preflight("https://evil.example.net")).await;
    assert_eq!(
        cors_headers(other.headers()),
        Vec::<String>::new(),
        "no CORS header at all"
    );

    for uri in ["/api/v1/auth/me", "/v1/models"] {
        let simple = test::TestRequest::get()
            .uri(uri)
            .insert_header(("origin", "https://evil.example.net"))
            .to_request();
        let response = test::call_service(&app, simple).await;
        assert_eq!(
            cors_headers(response.headers()),
            Vec::<String>::new(),
            "{uri}"
        );
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "served, just without CORS"
        );
        let listed = test::TestRequest::get()
            .uri(uri)
            .insert_header(("origin", "https://app.example.com"))
            .to_request();
        let response = test::call_service(&app, listed).await;
        assert!(
            cors_headers(response.headers())
                .contains(&"access-control-allow-credentials".to_owned()),
            "{uri}: {:?}",
            cors_headers(response.headers())
        );
    }
}

#[actix_web::test]
async fn every_api_answer_says_no_store_errors_and_shown_once_keys_included() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;

    let created = post_json(
        &app,
        "/api/v1/api-keys",
        json!({"name": "ci"}),
        Some(&cookie),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut answers = vec![("POST /api/v1/api-keys", created)];
    for (what, uri, cookie) in [
        ("me", "/api/v1/auth/me", Some(&cookie)),
        ("me without a cookie", "/api/v1/auth/me", None),
        ("unknown route", "/api/v1/nope", None),
        ("openapi", "/api/v1/openapi.json", None),
        ("gateway without a key", "/v1/models", None),
        ("unknown gateway route", "/v1/nope", None),
    ] {
        answers.push((what, get(&app, uri, cookie).await));
    }
    let malformed = test::TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header((CONTENT_TYPE, "application/json"))
        .set_payload("{not json")
        .to_request();
    answers.push(("malformed body", test::call_service(&app, malformed).await));

    for (what, response) in &answers {
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{what}: {}",
            response.status()
        );
    }
    assert!(
        get(&app, "/healthz", None)
            .await
            .headers()
            .get("cache-control")
            .is_none(),
        "outside the API prefixes"
    );
}

#[actix_web::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let t = test_state();
    let app = init(&t.state).await;
    let request = test::TestRequest::get()
        .uri("/healthz")
        .insert_header(("origin", "https://app.example.com"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[actix_web::test]
async fn a_saturated_password_hasher_answers_503_with_retry_after_and_changes_nothing() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    // A zero wait refuses every job: the answers of a hasher whose queue a
    // storm of logins keeps full, deterministically.
    let refusing = promptyard_services::PasswordHasher::with_config(
        promptyard_services::password::HasherConfig {
            workers: 1,
            queue: 1,
            max_wait: std::time::Duration::ZERO,
        },
    )
    .expect("hasher");
    let busy_state = t.state.clone().with_hasher(refusing);
    let busy = init(&busy_state).await;

    let answers = [
        post_json(
            &busy,
            "/api/v1/auth/register",
            creds("grace@example.com", PASSWORD),
            None,
        )
        .await,
        post_json(
            &busy,
            "/api/v1/auth/login",
            creds("ada@example.com", PASSWORD),
            None,
        )
        .await,
        post_json(
            &busy,
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "a new password"}),
            Some(&cookie),
        )
        .await,
    ];
    for response in answers {
        assert_eq!(
            response.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let (status, body) = parts(response).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "unavailable");
        assert_eq!(body["detail"], "too many sign-ins at once; retry in 1 s");
    }
    // Wrong passwords that were never checked are not counted as failures.
    for _ in 0..12 {
        let response = post_json(
            &busy,
            "/api/v1/auth/login",
            creds("ada@example.com", "wrong password"),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    assert_eq!(
        post_json(
            &app,
            "/api/v1/auth/login",
            creds("ada@example.com", PASSWORD),
            None
        )
        .await
        .status(),
        StatusCode::OK,
        "not rate limited, password unchanged"
    );
    assert_eq!(
        post_json(
            &app,
            "/api/v1/auth/register",
            creds("grace@example.com", PASSWORD),
            None
        )
        .await
        .status(),
        StatusCode::CREATED,
        "the refused registration wrote nothing"
    );
}

#[actix_web::test]
async fn wrong_current_passwords_count_as_failed_logins_and_get_429_once_limited() {
    let t = test_state();
    let app = init(&t.state).await;
    let cookie = signed_in(&app, "ada@example.com").await;
    let change = |current: &'static str| json!({"current_password": current, "new_password": "a new password"});

    for _ in 0..10 {
        let response = post_json(
            &app,
            "/api/v1/auth/password",
            change("nope nope nope"),
            Some(&cookie),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = post_json(
        &app,
        "/api/v1/auth/password",
        change(PASSWORD),
        Some(&cookie),
    )
    .await;

    assert!(limited.headers().contains_key(RETRY_AFTER));
    let (status, body) = parts(limited).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    let login = post_json(
        &app,
        "/api/v1/auth/login",
        creds("ada@example.com", PASSWORD),
        None,
    )
    .await;
    assert_eq!(
        login.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the email itself is limited"
    );
}
