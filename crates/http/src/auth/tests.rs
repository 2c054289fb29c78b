use actix_web::cookie::{Cookie, SameSite};
use chrono::TimeDelta;
use promptyard_services::AuthConfig;
use serde_json::{Value, json};

use crate::SESSION_COOKIE;
use crate::test_app::{
    Actor, Credential, PASSWORD, Request, Response, Transport, credentials, in_process, test_state,
    test_state_with,
};

const ME: &str = "/api/v1/auth/me";

/// The session cookie a response sets, with its attributes.
fn session_cookie(response: &Response) -> Option<Cookie<'static>> {
    response
        .set_cookies()
        .into_iter()
        .filter_map(|value| Cookie::parse_encoded(value.to_owned()).ok())
        .find(|cookie| cookie.name() == SESSION_COOKIE)
}

/// The body of `POST /api/v1/auth/password`.
fn password_change(current: &str, new: &str) -> Value {
    json!({"current_password": current, "new_password": new})
}

/// The status of `GET /api/v1/auth/me` for `caller`.
async fn me_status<T: Transport>(caller: &Actor<'_, T>) -> u16 {
    caller.get(ME).await.status
}

/// The names of the CORS headers of a response.
fn cors_headers(response: &Response) -> Vec<&str> {
    response
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

#[actix_web::test]
async fn register_answers_201_with_the_user_and_never_a_hash() {
    let t = test_state();
    let api = t.api().await;

    let (status, body) = api.anonymous().register(" Ada@Example.com ").await.parts();

    assert_eq!(status, 201);
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
    let api = t.api().await;
    let anyone = api.anonymous();
    anyone.register("ada@example.com").await;

    let (status, body) = anyone.register("ADA@example.com").await.parts();

    assert_eq!(status, 409);
    assert_eq!(body["code"], "email_taken");
}

#[actix_web::test]
async fn register_with_bad_values_is_422_naming_each_field() {
    let t = test_state();
    let api = t.api().await;

    let response = api
        .anonymous()
        .post("/api/v1/auth/register", &credentials("ada", "short"))
        .await;

    let body = response.problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][1]["field"], "password");
}

#[actix_web::test]
async fn register_with_a_missing_or_mistyped_field_is_422_and_a_non_json_body_415() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();

    let (status, body) = anyone
        .post("/api/v1/auth/register", &json!({"email": 5}))
        .await
        .parts();
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][0],
        json!({"field": "email", "message": "must be a string"})
    );
    assert_eq!(
        body["errors"][1],
        json!({"field": "password", "message": "is required"})
    );

    let form = Request::new("POST", "/api/v1/auth/register")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("email=a%40b.co&password=12345678");
    let (status, body) = anyone.send(form).await.parts();
    assert_eq!(status, 415);
    assert_eq!(body["code"], "unsupported_media_type");

    let big = json!({"email": "a@b.co", "password": "x".repeat(70 * 1024)});
    let (status, body) = anyone.post("/api/v1/auth/register", &big).await.parts();
    assert_eq!(status, 413);
    assert_eq!(body["code"], "payload_too_large");
}

#[actix_web::test]
async fn login_sets_a_session_cookie_with_the_contracts_attributes() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();
    anyone.register("ada@example.com").await;

    let response = anyone.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status, 200);
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
    assert_eq!(response.json()["email"], "ada@example.com");
}

#[actix_web::test]
async fn the_cookie_is_secure_when_configured() {
    let t = test_state_with(AuthConfig::default(), |mut s| {
        s.cookie_secure = true;
        s
    });
    let api = t.api().await;
    let anyone = api.anonymous();
    assert_eq!(anyone.register("ada@example.com").await.status, 201);

    let response = anyone.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status, 200);
    let cookie = session_cookie(&response).expect("login sets the session cookie");
    assert_eq!(cookie.secure(), Some(true));
}

#[actix_web::test]
async fn me_answers_the_user_with_a_session_and_401_without() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let (status, body) = ada.get(ME).await.parts();
    assert_eq!(status, 200);
    assert_eq!(body["email"], "ada@example.com");

    let (status, body) = api.anonymous().get(ME).await.parts();
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthenticated");
}

#[actix_web::test]
async fn a_forged_or_tampered_cookie_is_401() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let tampered = format!("{}x", ada.cookie());
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();

    for cookie in [tampered, forged] {
        let (status, body) = api
            .anonymous()
            .as_(Credential::Cookie(cookie))
            .get(ME)
            .await
            .parts();
        assert_eq!(status, 401);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn logout_deletes_the_session_and_expires_the_cookie() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let response = ada.post("/api/v1/auth/logout", &json!({})).await;

    let removal = session_cookie(&response).expect("a removal cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age().map(|d| d.whole_seconds()), Some(0));
    let (status, body) = response.parts();
    assert_eq!(status, 200);
    assert_eq!(body, json!({"message": "logged out"}));
    for path in [ME, "/api/v1/auth/sessions"] {
        let status = ada.get(path).await.status;
        assert_eq!(status, 401, "{path} with the old cookie");
    }
    let again = ada.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(again.status, 401);
}

#[actix_web::test]
async fn every_login_gets_a_new_key_and_replaces_this_browsers_previous_session() {
    let t = test_state();
    let api = t.api().await;
    let first = api.anonymous().sign_up("ada@example.com").await;

    let response = first.login("ada@example.com", PASSWORD).await;
    let second = first.as_(Credential::Cookie(
        response.cookie(SESSION_COOKIE).expect("a new cookie"),
    ));

    assert_ne!(first.cookie(), second.cookie());
    assert_eq!(me_status(&second).await, 200);
    assert_eq!(me_status(&first).await, 401, "the fixed-up session is gone");
}

#[actix_web::test]
async fn an_unknown_email_and_a_wrong_password_get_byte_identical_answers() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();
    anyone.register("ada@example.com").await;

    let unknown = anyone.login("grace@example.com", PASSWORD).await;
    let wrong = anyone.login("ada@example.com", "wrong password").await;

    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(wrong.json()["code"], "invalid_credentials");
}

#[actix_web::test]
async fn a_disabled_account_gets_403_on_login_and_401_with_its_session() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    let (status, body) = api
        .anonymous()
        .login("ada@example.com", PASSWORD)
        .await
        .parts();
    assert_eq!(status, 403);
    assert_eq!(body["code"], "account_disabled");
    let (status, body) = ada.get(ME).await.parts();
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthenticated");
}

#[actix_web::test]
async fn a_disabled_users_session_stops_working_even_if_its_row_survives() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    // Flip the flag behind the service's back (as another process might):
    // the join in the session lookup refuses the session on the next request.
    let mut conn = t.test_db.conn();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE users SET is_active = 0"),
        &mut conn,
    )
    .expect("disable");

    assert_eq!(me_status(&ada).await, 401);
}

#[actix_web::test]
async fn the_eleventh_failed_login_is_429_with_retry_after() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();
    anyone.register("ada@example.com").await;
    for _ in 0..10 {
        let r = anyone.login("ada@example.com", "wrong password").await;
        assert_eq!(r.status, 401);
    }

    let limited = anyone.login("ada@example.com", PASSWORD).await;

    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("900"));
    assert_eq!(limited.json()["code"], "rate_limited");
    t.clock.advance(TimeDelta::minutes(15));
    let after = anyone.login("ada@example.com", PASSWORD).await;
    assert_eq!(after.status, 200, "the window has passed");
}

#[actix_web::test]
async fn a_session_past_its_ttl_is_401() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    t.clock
        .advance(TimeDelta::days(7) - TimeDelta::milliseconds(1));
    assert_eq!(me_status(&ada).await, 200);
    t.clock.advance(TimeDelta::milliseconds(1));
    assert_eq!(me_status(&ada).await, 401);
}

#[actix_web::test]
async fn a_password_change_checks_the_current_one_and_revokes_the_other_sessions() {
    let t = test_state();
    let api = t.api().await;
    let laptop = api.anonymous().sign_up("ada@example.com").await;
    let phone = api.anonymous().log_in("ada@example.com").await;

    let (status, body) = laptop
        .post(
            "/api/v1/auth/password",
            &password_change("nope nope nope", "a new password"),
        )
        .await
        .parts();
    assert_eq!(status, 401);
    assert_eq!(body["code"], "invalid_credentials");

    let (status, body) = laptop
        .post("/api/v1/auth/password", &password_change(PASSWORD, "short"))
        .await
        .parts();
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "new_password");

    let (status, body) = laptop
        .post(
            "/api/v1/auth/password",
            &password_change(PASSWORD, "a new password"),
        )
        .await
        .parts();
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        "password changed; 1 other session signed out"
    );
    assert_eq!(me_status(&laptop).await, 200);
    assert_eq!(me_status(&phone).await, 401);
}

#[actix_web::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_revoked() {
    let t = test_state();
    let api = t.api().await;
    let laptop = api.anonymous().sign_up("ada@example.com").await;
    t.clock.advance(TimeDelta::minutes(1));
    let phone = {
        let login = Request::new("POST", "/api/v1/auth/login")
            .header("User-Agent", "PhoneBrowser/1.0")
            .json(&credentials("ada@example.com", PASSWORD));
        let response = api.anonymous().send(login).await;
        laptop.as_(Credential::Cookie(
            response.cookie(SESSION_COOKIE).expect("cookie"),
        ))
    };

    let (status, body) = laptop.get("/api/v1/auth/sessions").await.parts();

    assert_eq!(status, 200);
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

    let phone_session = format!("/api/v1/auth/sessions/{phone_id}");
    let revoked = laptop.delete(&phone_session).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(me_status(&phone).await, 401);
    let (status, body) = laptop.delete(&phone_session).await.parts();
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
}

#[actix_web::test]
async fn another_users_session_is_404_and_revoking_ones_own_current_session_logs_out() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let grace = api.anonymous().sign_up("grace@example.com").await;
    let (_, graces) = grace.get("/api/v1/auth/sessions").await.parts();
    let grace_id = graces[0]["id"].as_str().expect("id").to_owned();
    let (_, adas) = ada.get("/api/v1/auth/sessions").await.parts();
    let ada_id = adas[0]["id"].as_str().expect("id").to_owned();

    let theirs = ada
        .delete(&format!("/api/v1/auth/sessions/{grace_id}"))
        .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(me_status(&grace).await, 200);

    let own = ada.delete(&format!("/api/v1/auth/sessions/{ada_id}")).await;
    assert_eq!(own.status, 204);
    assert_eq!(own.cookie(SESSION_COOKIE), Some(String::new()));
    assert_eq!(me_status(&ada).await, 401);
}

#[actix_web::test]
async fn session_endpoints_without_a_session_are_401() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();
    for response in [
        anyone.post("/api/v1/auth/logout", &json!({})).await,
        anyone
            .post("/api/v1/auth/password", &password_change("x", "y"))
            .await,
        anyone.get("/api/v1/auth/sessions").await,
        anyone.delete("/api/v1/auth/sessions/abc").await,
    ] {
        let (status, body) = response.parts();
        assert_eq!(status, 401);
        assert_eq!(body["code"], "unauthenticated");
    }
}

#[actix_web::test]
async fn a_session_lookup_that_cannot_reach_the_database_is_503_not_401() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
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
    let stalled = in_process(&state).await;
    let stalled_ada = stalled.anonymous().as_(ada.credential.clone());
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

    let (status, body) = stalled_ada.get(ME).await.parts();

    release_tx.send(()).expect("release");
    holder.await.expect("join").expect("holder");
    assert_eq!(status, 503);
    assert_eq!(body["code"], "unavailable");
}

#[actix_web::test]
async fn cors_answers_listed_origins_with_credentials_and_others_with_nothing() {
    let t = test_state_with(AuthConfig::default(), |mut s| {
        s.cors_origins = vec!["https://app.example.com".to_owned()];
        s
    });
    let api = t.api().await;
    let anyone = api.anonymous();
    let preflight = |origin: &str| {
        Request::new("OPTIONS", "/api/v1/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };

    let allowed = anyone.send(preflight("https://app.example.com")).await;
    assert!((200..300).contains(&allowed.status), "{}", allowed.status);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );

    let other = anyone.send(preflight("https://evil.example.net")).await;
    assert_eq!(
        cors_headers(&other),
        Vec::<&str>::new(),
        "no CORS header at all"
    );

    for uri in [ME, "/v1/models"] {
        let simple = Request::new("GET", uri).header("origin", "https://evil.example.net");
        let response = anyone.send(simple).await;
        assert_eq!(cors_headers(&response), Vec::<&str>::new(), "{uri}");
        assert_eq!(response.status, 401, "served, just without CORS");
        let listed = Request::new("GET", uri).header("origin", "https://app.example.com");
        let response = anyone.send(listed).await;
        assert!(
            cors_headers(&response).contains(&"access-control-allow-credentials"),
            "{uri}: {:?}",
            cors_headers(&response)
        );
    }
}

#[actix_web::test]
async fn every_api_answer_says_no_store_errors_and_shown_once_keys_included() {
    let t = test_state();
    let api = t.api().await;
    let anyone = api.anonymous();
    let ada = anyone.sign_up("ada@example.com").await;

    let created = ada.post("/api/v1/api-keys", &json!({"name": "ci"})).await;
    assert_eq!(created.status, 201);
    let mut answers = vec![("POST /api/v1/api-keys", created)];
    for (what, uri, caller) in [
        ("me", ME, &ada),
        ("me without a cookie", ME, &anyone),
        ("unknown route", "/api/v1/nope", &anyone),
        ("openapi", "/api/v1/openapi.json", &anyone),
        ("gateway without a key", "/v1/models", &anyone),
        ("unknown gateway route", "/v1/nope", &anyone),
    ] {
        answers.push((what, caller.get(uri).await));
    }
    let malformed = Request::new("POST", "/api/v1/auth/login")
        .header("Content-Type", "application/json")
        .body("{not json");
    answers.push(("malformed body", anyone.send(malformed).await));

    for (what, response) in &answers {
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{what}: {}",
            response.status
        );
    }
    assert!(
        anyone
            .get("/healthz")
            .await
            .header("cache-control")
            .is_none(),
        "outside the API prefixes"
    );
}

#[actix_web::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let t = test_state();
    let api = t.api().await;
    let request = Request::new("GET", "/healthz").header("origin", "https://app.example.com");
    let response = api.anonymous().send(request).await;
    assert!(response.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_saturated_password_hasher_answers_503_with_retry_after_and_changes_nothing() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
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
    let busy = in_process(&busy_state).await;
    let busy_anyone = busy.anonymous();
    let busy_ada = busy_anyone.as_(ada.credential.clone());

    let answers = [
        busy_anyone.register("grace@example.com").await,
        busy_anyone.login("ada@example.com", PASSWORD).await,
        busy_ada
            .post(
                "/api/v1/auth/password",
                &password_change(PASSWORD, "a new password"),
            )
            .await,
    ];
    for response in answers {
        assert_eq!(response.header("retry-after"), Some("1"));
        let (status, body) = response.parts();
        assert_eq!(status, 503);
        assert_eq!(body["code"], "unavailable");
        assert_eq!(body["detail"], "too many sign-ins at once; retry in 1 s");
    }
    // Wrong passwords that were never checked are not counted as failures.
    for _ in 0..12 {
        let response = busy_anyone.login("ada@example.com", "wrong password").await;
        assert_eq!(response.status, 503);
    }

    let anyone = api.anonymous();
    assert_eq!(
        anyone.login("ada@example.com", PASSWORD).await.status,
        200,
        "not rate limited, password unchanged"
    );
    assert_eq!(
        anyone.register("grace@example.com").await.status,
        201,
        "the refused registration wrote nothing"
    );
}

#[actix_web::test]
async fn wrong_current_passwords_count_as_failed_logins_and_get_429_once_limited() {
    let t = test_state();
    let api = t.api().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let change = |current: &str| password_change(current, "a new password");

    for _ in 0..10 {
        let response = ada
            .post("/api/v1/auth/password", &change("nope nope nope"))
            .await;
        assert_eq!(response.status, 401);
    }
    let limited = ada.post("/api/v1/auth/password", &change(PASSWORD)).await;

    assert!(limited.header("retry-after").is_some());
    let (status, body) = limited.parts();
    assert_eq!(status, 429);
    assert_eq!(body["code"], "rate_limited");
    let login = api.anonymous().login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, 429, "the email itself is limited");
}
