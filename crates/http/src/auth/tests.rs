use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use chrono::TimeDelta;
use promptyard_services::AuthConfig;
use serde_json::json;

use crate::SESSION_COOKIE;
use crate::test_app::{
    Actor, Credential, PASSWORD, Request, Response, Transport, credentials, error_fields,
    hold_a_reader, in_process, keys, test_app, test_state_with,
};

const ME: &str = "/api/v1/auth/me";
const REGISTER: &str = "/api/v1/auth/register";

/// The session cookie a response sets, with its attributes.
fn session_cookie(response: &Response) -> Option<Cookie<'static>> {
    response
        .set_cookies()
        .into_iter()
        .filter_map(|value| Cookie::parse_encoded(value.to_owned()).ok())
        .find(|cookie| cookie.name() == SESSION_COOKIE)
}

/// The status of `GET /api/v1/auth/me` for `caller`.
async fn me_status<T: Transport>(caller: &Actor<'_, T>) -> u16 {
    caller.get(ME).await.status
}

/// An anonymous caller of `api`, once `ada@example.com` has registered
/// (with [`PASSWORD`]).
async fn ada_registered<T: Transport>(api: &T) -> Actor<'_, T> {
    let anyone = Actor::anonymous(api);
    assert_eq!(anyone.register("ada@example.com").await.status, 201);
    anyone
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
    let (_t, api) = test_app().await;

    let (status, body) = api.anonymous().register(" Ada@Example.com ").await.parts();

    assert_eq!(status, 201);
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["created_at"], "2026-11-25T12:00:00.000Z");
    assert_eq!(keys(&body), ["created_at", "email", "id", "is_active"]);
    assert!(!body.to_string().contains("argon2"));
}

#[actix_web::test]
async fn register_with_an_email_taken_in_another_case_is_409() {
    let (_t, api) = test_app().await;
    let anyone = ada_registered(&api).await;

    let taken = anyone.register("ADA@example.com").await;

    taken.problem(409, "email_taken");
}

#[actix_web::test]
async fn register_with_bad_values_is_422_naming_each_field() {
    let (_t, api) = test_app().await;

    let bad = credentials("ada", "short");

    let body = api
        .anonymous()
        .post(REGISTER, &bad)
        .await
        .problem(422, "validation_failed");
    assert_eq!(error_fields(&body), ["email", "password"]);
}

#[actix_web::test]
async fn register_with_a_missing_or_mistyped_field_is_422_and_a_non_json_body_415() {
    let (_t, api) = test_app().await;
    let anyone = api.anonymous();

    let mistyped = anyone.post(REGISTER, &json!({"email": 5})).await;
    let body = mistyped.problem(422, "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            {"field": "email", "message": "must be a string"},
            {"field": "password", "message": "is required"},
        ])
    );

    let form = Request::new("POST", REGISTER)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("email=a%40b.co&password=12345678");
    anyone
        .send(form)
        .await
        .problem(415, "unsupported_media_type");

    let big = json!({"email": "a@b.co", "password": "x".repeat(70 * 1024)});
    anyone
        .post(REGISTER, &big)
        .await
        .problem(413, "payload_too_large");
}

#[actix_web::test]
async fn login_sets_a_session_cookie_with_the_contracts_attributes() {
    let (_t, api) = test_app().await;
    let anyone = ada_registered(&api).await;

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
    let anyone = ada_registered(&api).await;

    let response = anyone.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status, 200);
    let cookie = session_cookie(&response).expect("login sets the session cookie");
    assert_eq!(cookie.secure(), Some(true));
}

#[actix_web::test]
async fn me_answers_the_user_with_a_session_and_401_without() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let (status, body) = ada.get(ME).await.parts();
    assert_eq!(status, 200);
    assert_eq!(body["email"], "ada@example.com");

    api.anonymous()
        .get(ME)
        .await
        .problem(401, "unauthenticated");
}

#[actix_web::test]
async fn a_forged_or_tampered_cookie_is_401() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    let tampered = format!("{}x", ada.cookie());
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();

    for cookie in [tampered, forged] {
        let forger = api.anonymous().as_(Credential::Cookie(cookie));
        forger.get(ME).await.problem(401, "unauthenticated");
    }
}

#[actix_web::test]
async fn logout_deletes_the_session_and_expires_the_cookie() {
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    let response = ada.logout().await;

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
    let again = ada.logout().await;
    assert_eq!(again.status, 401);
}

#[actix_web::test]
async fn every_login_gets_a_new_key_and_replaces_this_browsers_previous_session() {
    let (_t, api) = test_app().await;
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
    let (_t, api) = test_app().await;
    let anyone = ada_registered(&api).await;

    let unknown = anyone.login("grace@example.com", PASSWORD).await;
    let wrong = anyone.login("ada@example.com", "wrong password").await;

    wrong.problem(401, "invalid_credentials");
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body);
}

#[actix_web::test]
async fn a_disabled_account_gets_403_on_login_and_401_with_its_session() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    t.state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    let refused = api.anonymous().login("ada@example.com", PASSWORD).await;
    refused.problem(403, "account_disabled");
    ada.get(ME).await.problem(401, "unauthenticated");
}

#[actix_web::test]
async fn a_disabled_users_session_stops_working_even_if_its_row_survives() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    // Flip the flag behind the service's back (as another process might):
    // the join in the session lookup refuses the session on the next request.
    let mut conn = t.test_db.conn();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE users SET is_active = false"),
        &mut conn,
    )
    .expect("disable");

    assert_eq!(me_status(&ada).await, 401);
}

#[actix_web::test]
async fn the_eleventh_failed_login_is_429_with_retry_after() {
    let (t, api) = test_app().await;
    let anyone = ada_registered(&api).await;
    for _ in 0..10 {
        let r = anyone.login("ada@example.com", "wrong password").await;
        assert_eq!(r.status, 401);
    }

    let limited = anyone.login("ada@example.com", PASSWORD).await;

    limited.problem(429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("900"));
    t.clock.advance(TimeDelta::minutes(15));
    let after = anyone.login("ada@example.com", PASSWORD).await;
    assert_eq!(after.status, 200, "the window has passed");
}

#[actix_web::test]
async fn a_session_past_its_ttl_is_401() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    t.clock
        .advance(TimeDelta::days(7) - TimeDelta::milliseconds(1));
    assert_eq!(me_status(&ada).await, 200);
    t.clock.advance(TimeDelta::milliseconds(1));
    assert_eq!(me_status(&ada).await, 401);
}

#[actix_web::test]
async fn a_password_change_checks_the_current_one_and_revokes_the_other_sessions() {
    let (_t, api) = test_app().await;
    let laptop = api.anonymous().sign_up("ada@example.com").await;
    let phone = api.anonymous().log_in("ada@example.com").await;

    let refused = laptop
        .change_password("nope nope nope", "a new password")
        .await;
    refused.problem(401, "invalid_credentials");

    let invalid = laptop.change_password(PASSWORD, "short").await;
    let body = invalid.problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "new_password");

    let (status, body) = laptop
        .change_password(PASSWORD, "a new password")
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
    let (t, api) = test_app().await;
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
    let again = laptop.delete(&phone_session).await;
    again.problem(404, "not_found");
}

#[actix_web::test]
async fn another_users_session_is_404_and_revoking_ones_own_current_session_logs_out() {
    let (_t, api) = test_app().await;
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
    let (_t, api) = test_app().await;
    let anyone = api.anonymous();
    for response in [
        anyone.logout().await,
        anyone.change_password("x", "y").await,
        anyone.get("/api/v1/auth/sessions").await,
        anyone.delete("/api/v1/auth/sessions/abc").await,
    ] {
        response.problem(401, "unauthenticated");
    }
}

#[actix_web::test]
async fn a_session_lookup_that_cannot_reach_the_database_is_503_not_401() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    // A state whose only reader is held, with a tiny acquire timeout.
    let db = t.test_db.db_with(|c| {
        c.with_readers(1)
            .with_acquire_timeout(Duration::from_millis(30))
    });
    let stalled = in_process(&t.over(db.clone())).await;
    let stalled_ada = stalled.anonymous().as_(ada.credential.clone());
    let held = hold_a_reader(&db).await;

    let response = stalled_ada.get(ME).await;

    held.release().await;
    response.problem(503, "unavailable");
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
    let (_t, api) = test_app().await;
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
    let (_t, api) = test_app().await;
    let request = Request::new("GET", "/healthz").header("origin", "https://app.example.com");
    let response = api.anonymous().send(request).await;
    assert!(response.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_saturated_password_hasher_answers_503_with_retry_after_and_changes_nothing() {
    let (t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;
    // A zero wait refuses every job: the answers of a hasher whose queue a
    // storm of logins keeps full, deterministically.
    let refusing = promptyard_services::PasswordHasher::with_config(
        promptyard_services::password::HasherConfig {
            workers: 1,
            queue: 1,
            max_wait: Duration::ZERO,
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
        busy_ada.change_password(PASSWORD, "a new password").await,
    ];
    for response in answers {
        assert_eq!(response.header("retry-after"), Some("1"));
        let body = response.problem(503, "unavailable");
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
    let (_t, api) = test_app().await;
    let ada = api.anonymous().sign_up("ada@example.com").await;

    for _ in 0..10 {
        let response = ada
            .change_password("nope nope nope", "a new password")
            .await;
        assert_eq!(response.status, 401);
    }
    let limited = ada.change_password(PASSWORD, "a new password").await;

    assert!(limited.header("retry-after").is_some());
    limited.problem(429, "rate_limited");
    let login = api.anonymous().login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, 429, "the email itself is limited");
}
