//! Authentication flows over a real socket: the seed's flow and the rules
//! around it. Cookies are handled by hand so each test can say exactly
//! which cookie value it sends.

use chrono::TimeDelta;
use promptyard_services::AuthConfig;
use promptyard_tests::{TestApp, TestServer};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

struct Api {
    client: Client,
    server: TestServer,
}

impl Api {
    fn start() -> Self {
        Self::serve(TestApp::new())
    }

    fn serve(app: TestApp) -> Self {
        Self {
            client: Client::new(),
            server: TestServer::serve(app),
        }
    }

    async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> Response {
        let mut request = self.client.post(self.server.url(path)).json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("session_id={cookie}"));
        }
        request.send().await.expect("send")
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.client.get(self.server.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("session_id={cookie}"));
        }
        request.send().await.expect("send")
    }

    async fn register(&self, email: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await
    }

    async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Logs in and returns the session cookie's value.
    async fn session(&self, email: &str) -> String {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        session_cookie(&response).expect("login sets session_id")
    }

    async fn me(&self, cookie: &str) -> StatusCode {
        self.get("/api/v1/auth/me", Some(cookie)).await.status()
    }
}

/// The value of the `session_id` cookie a response sets.
fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("session_id="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn register_login_me_logout_then_the_old_cookie_is_refused() {
    let api = Api::start();

    // 1. Register
    let registered = api.register("newuser@example.com").await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let user: Value = registered.json().await.expect("json");
    assert_eq!(user["email"], "newuser@example.com");

    // 2. Login: a session_id cookie
    let login = api.login("newuser@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let set_cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = session_cookie(&login).expect("session_id");

    // 3. The protected endpoint with the session
    let me = api.get("/api/v1/auth/me", Some(&cookie)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["email"], "newuser@example.com");
    assert_eq!(me["id"], user["id"]);

    // 4. Logout
    let logout = api
        .post("/api/v1/auth/logout", json!({}), Some(&cookie))
        .await;
    assert_eq!(logout.status(), StatusCode::OK);

    // 5. The session is gone server-side: the old cookie gets 401
    let after = api.get("/api/v1/auth/me", Some(&cookie)).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = after.json().await.expect("json");
    assert_eq!(problem["code"], "unauthenticated");
}

#[tokio::test]
async fn registering_an_email_again_in_another_case_is_409() {
    let api = Api::start();
    assert_eq!(
        api.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );

    let again = api.register("  ADA@Example.com").await;

    assert_eq!(again.status(), StatusCode::CONFLICT);
    let problem: Value = again.json().await.expect("json");
    assert_eq!(problem["code"], "email_taken");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_byte_identical_answers() {
    let api = Api::start();
    api.register("ada@example.com").await;

    let unknown = api.login("nobody@example.com", PASSWORD).await;
    let wrong = api.login("ada@example.com", "not the password").await;

    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.headers()["content-type"],
        wrong.headers()["content-type"]
    );
    let unknown = unknown.bytes().await.expect("body");
    let wrong = wrong.bytes().await.expect("body");
    assert_eq!(unknown, wrong);
}

#[tokio::test]
async fn every_login_gets_a_new_cookie_value() {
    let api = Api::start();
    api.register("ada@example.com").await;

    let cookies: Vec<String> = {
        let mut all = Vec::new();
        for _ in 0..3 {
            all.push(api.session("ada@example.com").await);
        }
        all
    };

    assert_ne!(cookies[0], cookies[1]);
    assert_ne!(cookies[1], cookies[2]);
    assert_ne!(cookies[0], cookies[2]);
    for cookie in &cookies {
        assert_eq!(
            api.me(cookie).await,
            StatusCode::OK,
            "separate logins are separate sessions"
        );
    }
}

#[tokio::test]
async fn logging_out_one_session_leaves_another_valid() {
    let api = Api::start();
    api.register("ada@example.com").await;
    let laptop = api.session("ada@example.com").await;
    let phone = api.session("ada@example.com").await;

    let logout = api
        .post("/api/v1/auth/logout", json!({}), Some(&laptop))
        .await;

    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(api.me(&laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(api.me(&phone).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session() {
    let api = Api::start();
    api.register("ada@example.com").await;
    let laptop = api.session("ada@example.com").await;
    let phone = api.session("ada@example.com").await;
    let tablet = api.session("ada@example.com").await;

    let changed = api
        .post(
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "a much newer password"}),
            Some(&laptop),
        )
        .await;

    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(api.me(&laptop).await, StatusCode::OK);
    assert_eq!(api.me(&phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(api.me(&tablet).await, StatusCode::UNAUTHORIZED);
    let old = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = api.login("ada@example.com", "a much newer password").await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_past_its_ttl_is_refused() {
    let app = TestApp::with_auth(AuthConfig {
        session_ttl: std::time::Duration::from_secs(3600),
        ..AuthConfig::default()
    });
    let clock = app.clock.clone();
    let api = Api::serve(app);
    api.register("ada@example.com").await;
    let cookie = api.session("ada@example.com").await;

    clock.advance(TimeDelta::minutes(59));
    assert_eq!(api.me(&cookie).await, StatusCode::OK);
    clock.advance(TimeDelta::minutes(1));
    assert_eq!(api.me(&cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_eleventh_failed_login_gets_429_with_retry_after() {
    let api = Api::start();
    api.register("ada@example.com").await;
    for attempt in 1..=10 {
        let failed = api.login("ada@example.com", "wrong password").await;
        assert_eq!(
            failed.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }

    let eleventh = api.login("ada@example.com", PASSWORD).await;

    assert_eq!(eleventh.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = eleventh.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let problem: Value = eleventh.json().await.expect("json");
    assert_eq!(problem["code"], "rate_limited");
}

#[tokio::test]
async fn a_disabled_user_gets_403_on_login_and_401_with_an_existing_session() {
    let api = Api::start();
    api.register("ada@example.com").await;
    let cookie = api.session("ada@example.com").await;

    api.server
        .app
        .state
        .auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    let login = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    let problem: Value = login.json().await.expect("json");
    assert_eq!(problem["code"], "account_disabled");
    assert_eq!(api.me(&cookie).await, StatusCode::UNAUTHORIZED);
}
