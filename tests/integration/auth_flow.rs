//! Authentication flows over a real socket: the seed's flow and the rules
//! around it. Each actor carries exactly one session cookie, so each test
//! says which cookie value it sends.

use chrono::TimeDelta;
use promptyard_services::AuthConfig;
use promptyard_tests::{Actor, Credential, PASSWORD, TestApp, TestServer};

/// The status `GET /api/v1/auth/me` answers `user`.
async fn me(user: &Actor<'_, TestServer>) -> u16 {
    user.get("/api/v1/auth/me").await.status
}

#[tokio::test]
async fn register_login_me_logout_then_the_old_cookie_is_refused() {
    let server = TestServer::start();
    let anyone = server.anonymous();

    // 1. Register
    let (status, user) = anyone.register("newuser@example.com").await.parts();
    assert_eq!(status, 201);
    assert_eq!(user["email"], "newuser@example.com");

    // 2. Login: a session_id cookie
    let login = anyone.login("newuser@example.com", PASSWORD).await;
    assert_eq!(login.status, 200);
    let set_cookie = login.header("set-cookie").expect("a set-cookie header");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let newuser = anyone.as_(Credential::Cookie(
        login.cookie("session_id").expect("session_id"),
    ));

    // 3. The protected endpoint with the session
    let (status, me) = newuser.get("/api/v1/auth/me").await.parts();
    assert_eq!(status, 200);
    assert_eq!(me["email"], "newuser@example.com");
    assert_eq!(me["id"], user["id"]);

    // 4. Logout
    assert_eq!(newuser.logout().await.status, 200);

    // 5. The session is gone server-side: the old cookie gets 401
    newuser
        .get("/api/v1/auth/me")
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test]
async fn registering_an_email_again_in_another_case_is_409() {
    let server = TestServer::start();
    let anyone = server.anonymous();
    assert_eq!(anyone.register("ada@example.com").await.status, 201);

    anyone
        .register("  ADA@Example.com")
        .await
        .problem(409, "email_taken");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_byte_identical_answers() {
    let server = TestServer::start();
    let anyone = server.anonymous();
    anyone.register("ada@example.com").await;

    let unknown = anyone.login("nobody@example.com", PASSWORD).await;
    let wrong = anyone.login("ada@example.com", "not the password").await;

    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, 401);
    assert!(unknown.header("content-type").is_some());
    assert_eq!(unknown.header("content-type"), wrong.header("content-type"));
    assert_eq!(unknown.body, wrong.body);
}

#[tokio::test]
async fn every_login_gets_a_new_cookie_value() {
    let server = TestServer::start();
    let anyone = server.anonymous();
    anyone.register("ada@example.com").await;

    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(anyone.log_in("ada@example.com").await);
    }

    assert_ne!(sessions[0].cookie(), sessions[1].cookie());
    assert_ne!(sessions[1].cookie(), sessions[2].cookie());
    assert_ne!(sessions[0].cookie(), sessions[2].cookie());
    for session in &sessions {
        assert_eq!(
            me(session).await,
            200,
            "separate logins are separate sessions"
        );
    }
}

#[tokio::test]
async fn logging_out_one_session_leaves_another_valid() {
    let server = TestServer::start();
    let laptop = server.anonymous().sign_up("ada@example.com").await;
    let phone = server.anonymous().log_in("ada@example.com").await;

    let logout = laptop.logout().await;

    assert_eq!(logout.status, 200);
    assert_eq!(me(&laptop).await, 401);
    assert_eq!(me(&phone).await, 200);
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session() {
    let server = TestServer::start();
    let anyone = server.anonymous();
    let laptop = anyone.sign_up("ada@example.com").await;
    let phone = anyone.log_in("ada@example.com").await;
    let tablet = anyone.log_in("ada@example.com").await;

    let changed = laptop
        .change_password(PASSWORD, "a much newer password")
        .await;

    assert_eq!(changed.status, 200);
    assert_eq!(me(&laptop).await, 200);
    assert_eq!(me(&phone).await, 401);
    assert_eq!(me(&tablet).await, 401);
    let old = anyone.login("ada@example.com", PASSWORD).await;
    assert_eq!(old.status, 401);
    let new = anyone
        .login("ada@example.com", "a much newer password")
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn a_session_past_its_ttl_is_refused() {
    let server = TestServer::serve(TestApp::with_auth(AuthConfig {
        session_ttl: std::time::Duration::from_secs(3600),
        ..AuthConfig::default()
    }));
    let ada = server.anonymous().sign_up("ada@example.com").await;

    server.app.clock.advance(TimeDelta::minutes(59));
    assert_eq!(me(&ada).await, 200);
    server.app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(me(&ada).await, 401);
}

#[tokio::test]
async fn the_eleventh_failed_login_gets_429_with_retry_after() {
    let server = TestServer::start();
    let anyone = server.anonymous();
    anyone.register("ada@example.com").await;
    for attempt in 1..=10 {
        let failed = anyone.login("ada@example.com", "wrong password").await;
        assert_eq!(failed.status, 401, "attempt {attempt}");
    }

    let eleventh = anyone.login("ada@example.com", PASSWORD).await;

    assert_eq!(eleventh.status, 429);
    let retry_after: u64 = eleventh
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(eleventh.json()["code"], "rate_limited");
}

#[tokio::test]
async fn a_disabled_user_gets_403_on_login_and_401_with_an_existing_session() {
    let server = TestServer::start();
    let ada = server.anonymous().sign_up("ada@example.com").await;

    server
        .app
        .state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    server
        .anonymous()
        .login("ada@example.com", PASSWORD)
        .await
        .problem(403, "account_disabled");
    assert_eq!(me(&ada).await, 401);
}
