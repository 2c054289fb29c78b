use promptyard_repositories::{OptionalExt, SessionPublicId, SessionRepository};

use super::*;
use crate::ids::SequentialIds;
use crate::password::HasherConfig;
use crate::test_helpers::{TestEnv, assert_matches, start};

const ADA: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new password";

fn creds<'a>(email: &'a str, password: &'a str) -> Credentials<'a> {
    Credentials { email, password }
}

struct Fixture {
    auth: AuthService,
    env: TestEnv,
}

/// An [`AuthService`] over `env`, with this hasher and configuration and
/// sequential ids.
fn service(env: &TestEnv, hasher: PasswordHasher, config: AuthConfig) -> AuthService {
    AuthService::new(
        env.db.clone(),
        hasher,
        env.clock(),
        Arc::new(SequentialIds::default()),
        config,
    )
}

/// An [`AuthService`] with the default configuration over a fresh database.
fn fixture() -> Fixture {
    let env = TestEnv::new();
    let hasher = PasswordHasher::with_workers(2).expect("hasher");
    Fixture {
        auth: service(&env, hasher, AuthConfig::default()),
        env,
    }
}

/// A fixture after `failures` wrong logins of [`ADA`] (registered first if
/// `registered`), its clock then moved on by `then`.
async fn after_failures(registered: bool, failures: usize, then: TimeDelta) -> Fixture {
    let f = fixture();
    if registered {
        f.register(ADA).await;
    }
    f.fail_logins(ADA, failures).await;
    f.env.clock.advance(then);
    f
}

impl Fixture {
    /// Registers `email` with [`PASSWORD`].
    async fn register(&self, email: &str) -> AuthUser {
        self.auth
            .register(creds(email, PASSWORD))
            .await
            .expect("register")
    }

    /// Logs in with `email` and `password`.
    async fn login(&self, email: &str, password: &str) -> Result<AuthUser, AuthError> {
        self.auth.login(creds(email, password)).await
    }

    /// Changes `user`'s password from `current` to `new`, from a session
    /// that is not stored.
    async fn change_password(
        &self,
        user: &UserId,
        current: &str,
        new: &str,
    ) -> Result<usize, AuthError> {
        let change = PasswordChange {
            current_password: current,
            new_password: new,
        };
        self.auth.change_password(user, &"s".into(), change).await
    }

    /// The failed-login count stored for `email`, if any.
    async fn failures(&self, email: &str) -> Option<i32> {
        let email = email.to_owned();
        self.env
            .db
            .read(move |conn| LoginFailureRepository::get(conn, &email).optional())
            .await
            .expect("read")
            .map(|row| row.failures)
    }

    /// Fails `n` logins of `email`, each with invalid credentials.
    async fn fail_logins(&self, email: &str, n: usize) {
        for _ in 0..n {
            let result = self.login(email, "wrong password").await;
            assert_matches!(result, Err(AuthError::InvalidCredentials));
        }
    }
}

#[tokio::test]
async fn register_stores_an_active_user_with_a_normalised_email_and_an_argon2_hash() {
    let f = fixture();

    let user = f.register("  Ada@Example.COM ").await;

    assert_eq!(user.id, "id-1", "ids come from the generator");
    assert_eq!(user.email, ADA);
    assert!(user.is_active);
    assert_eq!(user.created_at, start());
    let stored = f
        .env
        .db
        .read(|conn| UserRepository::get_by_id(conn, &"id-1".into()))
        .await
        .expect("stored");
    assert!(stored.password_hash.starts_with("$argon2id$"), "hashed");
    assert!(!stored.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn register_names_every_bad_field_at_once() {
    let f = fixture();

    let result = f.auth.register(creds("not-an-email", "short")).await;

    let Err(AuthError::Validation(errors)) = result else {
        panic!("{result:?}")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["email", "password"]);
    assert_eq!(errors[1].message, "must be at least 8 characters");
}

#[tokio::test]
async fn register_with_an_email_taken_in_another_case_is_email_taken() {
    let f = fixture();
    f.register(ADA).await;

    let again = f
        .auth
        .register(creds("ADA@example.com", "another password"));

    assert_matches!(again.await, Err(AuthError::EmailTaken));
}

#[tokio::test]
async fn login_with_the_right_password_returns_the_user_whatever_the_email_case() {
    let f = fixture();
    let registered = f.register(ADA).await;

    let user = f.login(" ADA@example.com", PASSWORD).await.expect("login");

    assert_eq!(user, registered);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_fail_alike_and_both_count() {
    let f = fixture();
    f.register(ADA).await;

    let unknown = f.login("grace@example.com", PASSWORD).await;
    let wrong = f.login(ADA, "wrong password").await;

    assert_matches!(&unknown, Err(AuthError::InvalidCredentials));
    assert_matches!(&wrong, Err(AuthError::InvalidCredentials));
    assert_eq!(
        unknown.expect_err("unknown").to_string(),
        wrong.expect_err("wrong").to_string()
    );
    assert_eq!(f.failures("grace@example.com").await, Some(1));
    assert_eq!(f.failures(ADA).await, Some(1));
}

#[tokio::test]
async fn malformed_or_oversized_input_is_just_invalid_credentials() {
    let f = fixture();
    f.register(ADA).await;

    for (email, password) in [
        ("not an email", PASSWORD),
        ("", PASSWORD),
        (ADA, ""),
        (ADA, &"x".repeat(5000)),
        (&"a".repeat(300), PASSWORD),
    ] {
        let result = f.login(email, password).await;
        assert_matches!(result, Err(AuthError::InvalidCredentials), "{email:.20}:");
    }
}

#[tokio::test]
async fn a_disabled_account_is_refused_only_with_its_right_password() {
    let f = fixture();
    f.register(ADA).await;
    f.auth.set_active(ADA, false).await.expect("disable");

    let right = f.login(ADA, PASSWORD).await;
    let wrong = f.login(ADA, "wrong password").await;

    assert_matches!(right, Err(AuthError::AccountDisabled));
    assert_matches!(wrong, Err(AuthError::InvalidCredentials));
}

#[tokio::test]
async fn the_eleventh_attempt_is_rate_limited_even_with_the_right_password() {
    let f = after_failures(true, 10, TimeDelta::minutes(5)).await;

    let limited = f.login(ADA, PASSWORD).await;

    assert_matches!(
        limited,
        Err(AuthError::RateLimited { retry_after }) if retry_after == Duration::from_secs(10 * 60),
        "until the window ends:"
    );
    f.login(ADA, PASSWORD).await.expect_err("still limited");
    assert_eq!(
        f.failures(ADA).await,
        Some(11),
        "over the limit once, then no further while limited"
    );
}

#[tokio::test]
async fn retry_after_rounds_up_to_whole_seconds() {
    let almost = TimeDelta::milliseconds(14 * 60_000 + 59_001);
    let f = after_failures(false, 10, almost).await;

    let limited = f.login(ADA, PASSWORD).await;

    assert_matches!(
        limited,
        Err(AuthError::RateLimited { retry_after }) if retry_after == Duration::from_secs(1)
    );
}

#[tokio::test]
async fn the_limit_lifts_when_the_window_ends_and_a_success_clears_the_count() {
    let f = after_failures(true, 10, TimeDelta::minutes(15)).await;

    f.login(ADA, PASSWORD).await.expect("window over");

    assert_eq!(f.failures(ADA).await, None, "cleared");
}

#[tokio::test]
async fn unknown_emails_are_limited_too_so_the_limit_reveals_no_account() {
    let f = fixture();
    f.fail_logins("nobody@example.com", 10).await;

    let limited = f.login("nobody@example.com", "whatever!").await;

    assert_matches!(limited, Err(AuthError::RateLimited { .. }));
}

#[tokio::test]
async fn failures_in_separate_windows_do_not_add_up() {
    let f = after_failures(true, 9, TimeDelta::minutes(16)).await;
    f.fail_logins(ADA, 9).await;

    f.login(ADA, PASSWORD)
        .await
        .expect("never 10 in one window");
}

#[tokio::test]
async fn the_limit_is_configurable() {
    let f = fixture();
    let config = AuthConfig {
        max_failed_logins: 2,
        failed_login_window: Duration::from_secs(60),
        ..AuthConfig::default()
    };
    let auth = service(
        &f.env,
        PasswordHasher::with_workers(1).expect("hasher"),
        config,
    );
    for _ in 0..2 {
        let _ = auth.login(creds(ADA, "nope-nope")).await;
    }

    let limited = auth.login(creds(ADA, "nope-nope")).await;

    assert_matches!(
        limited,
        Err(AuthError::RateLimited { retry_after }) if retry_after == Duration::from_secs(60)
    );
    assert_eq!(auth.config().max_failed_logins, 2);
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_revokes_the_other_sessions() {
    let f = fixture();
    let user = f.register(ADA).await;
    let (keep, other) = (f.env.session(&user.id, None), f.env.session(&user.id, None));
    let change = PasswordChange {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
    };

    let revoked = f.auth.change_password(&user.id, &keep.id, change).await;

    assert_eq!(revoked.expect("changed"), 1);
    let now = start().naive_utc();
    let left = f
        .env
        .db
        .read(move |conn| SessionRepository::list_valid_for_user(conn, &user.id, now))
        .await
        .expect("sessions");
    assert_eq!(left.iter().map(|s| &s.id).collect::<Vec<_>>(), [&keep.id]);
    assert_ne!(keep.id, other.id);
    f.login(ADA, NEW_PASSWORD)
        .await
        .expect("new password works");
    let old = f.login(ADA, PASSWORD).await;
    assert_matches!(old, Err(AuthError::InvalidCredentials), "old one not:");
}

#[tokio::test]
async fn change_password_for_an_account_that_is_gone_is_not_found() {
    let f = fixture();

    let gone = UserId::from("no-such-user");

    let result = f.change_password(&gone, PASSWORD, NEW_PASSWORD).await;

    assert_matches!(result, Err(AuthError::NotFound));
}

#[tokio::test]
async fn change_password_refuses_a_wrong_current_password_or_a_bad_new_one() {
    let f = fixture();
    let user = f.register(ADA).await;

    let wrong = f.change_password(&user.id, "not my password", NEW_PASSWORD);
    assert_matches!(wrong.await, Err(AuthError::InvalidCredentials));
    let short = f.change_password(&user.id, PASSWORD, "short").await;
    assert_matches!(
        short,
        Err(AuthError::Validation(errors)) if errors[0].field == "new_password"
    );

    f.login(ADA, PASSWORD).await.expect("unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_thirty_simultaneous_wrong_logins_only_the_allowance_is_checked() {
    let f = fixture();
    f.register(ADA).await;
    f.fail_logins(ADA, 3).await;

    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let auth = f.auth.clone();
        attempts.spawn(async move { auth.login(creds(ADA, "wrong password")).await });
    }
    let results = attempts.join_all().await;

    let checked = results
        .iter()
        .filter(|r| matches!(r, Err(AuthError::InvalidCredentials)))
        .count();
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(AuthError::RateLimited { .. })))
        .count();
    assert_eq!((checked, limited), (7, 23), "10 in all, 3 already spent");
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins_of_the_email() {
    let f = fixture();
    let user = f.register(ADA).await;

    for _ in 0..10 {
        let wrong = f.change_password(&user.id, "not my password", NEW_PASSWORD);
        assert_matches!(wrong.await, Err(AuthError::InvalidCredentials));
    }
    let right_but_limited = f.change_password(&user.id, PASSWORD, NEW_PASSWORD).await;
    let login = f.login(ADA, PASSWORD).await;

    assert_matches!(right_but_limited, Err(AuthError::RateLimited { .. }));
    assert_matches!(
        login,
        Err(AuthError::RateLimited { .. }),
        "the email is limited:"
    );
    f.env.clock.advance(TimeDelta::minutes(15));
    f.change_password(&user.id, PASSWORD, NEW_PASSWORD)
        .await
        .expect("the window has passed");
    assert_eq!(
        f.failures(ADA).await,
        None,
        "a right current password gives its attempt back"
    );
}

#[tokio::test]
async fn attempts_the_hasher_refused_or_a_disabled_account_are_given_back() {
    let f = fixture();
    f.register(ADA).await;
    f.fail_logins(ADA, 2).await;
    let busy = PasswordHasher::with_config(HasherConfig {
        workers: 1,
        queue: 1,
        max_wait: Duration::ZERO,
    })
    .expect("hasher");
    let refusing = service(&f.env, busy, AuthConfig::default());

    for _ in 0..12 {
        let result = refusing.login(creds(ADA, "wrong password")).await;
        assert_matches!(result, Err(AuthError::Busy { .. }));
    }
    f.auth.set_active(ADA, false).await.expect("disable");
    let disabled = f.login(ADA, PASSWORD).await;

    assert_matches!(disabled, Err(AuthError::AccountDisabled));
    assert_eq!(f.failures(ADA).await, Some(2), "only the two real failures");
}

#[tokio::test]
async fn list_sessions_marks_the_current_one_and_revoke_only_touches_ones_own() {
    let f = fixture();
    let ada = f.register(ADA).await.id;
    let older = f.env.session(&ada, Some(start()));
    let newer = f.env.session(&ada, Some(start() + TimeDelta::minutes(1)));
    let graces = f.env.session(&f.env.user(), None);
    let by_hash = SessionPublicId::from(newer.id.as_str());

    let listed = f.auth.list_sessions(&ada, &older.id).await.expect("list");

    assert_eq!(
        listed
            .iter()
            .map(|s| (s.id.as_str(), s.current))
            .collect::<Vec<_>>(),
        [
            (newer.public_id.as_str(), false),
            (older.public_id.as_str(), true)
        ],
        "listed by public id, never by the key's hash"
    );
    assert_eq!(listed[1].created_at, start());
    for (public_id, case) in [
        (&graces.public_id, "not hers"),
        (&by_hash, "the key's hash names nothing"),
    ] {
        let result = f.auth.revoke_session(&ada, public_id, &older.id).await;
        assert_matches!(result, Err(AuthError::NotFound), "{case}:");
    }
    let own = f.auth.revoke_session(&ada, &newer.public_id, &older.id);
    assert!(!own.await.expect("hers"), "not the caller's own");
    let left = f.auth.list_sessions(&ada, &older.id).await.expect("list");
    assert_eq!(left.len(), 1);
    let own = f.auth.revoke_session(&ada, &older.public_id, &older.id);
    assert!(own.await.expect("her own"));
}

#[tokio::test]
async fn disabling_a_user_deletes_their_sessions_and_enabling_restores_login() {
    let f = fixture();
    let ada = f.register(ADA).await;
    f.env.session(&ada.id, None);

    let disabled = f
        .auth
        .set_active("ADA@example.com", false)
        .await
        .expect("disable");

    assert!(!disabled.is_active);
    let left = f.auth.list_sessions(&ada.id, &"".into()).await;
    assert!(left.expect("list").is_empty());
    let enabled = f.auth.set_active(ADA, true).await.expect("enable");
    assert!(enabled.is_active);
    f.login(ADA, PASSWORD).await.expect("login again");
}

#[tokio::test]
async fn set_active_needs_a_valid_known_email() {
    let f = fixture();
    let unknown = f.auth.set_active("nobody@example.com", false).await;
    let malformed = f.auth.set_active("nobody", false).await;
    assert_matches!(unknown, Err(AuthError::NotFound));
    assert_matches!(malformed, Err(AuthError::Validation(_)));
}

#[tokio::test]
async fn user_finds_an_account_by_id() {
    let f = fixture();
    let ada = f.register(ADA).await;
    assert_eq!(f.auth.user(&ada.id).await.expect("found"), ada);
    assert_matches!(
        f.auth.user(&"nobody".into()).await,
        Err(AuthError::NotFound)
    );
}

#[tokio::test]
async fn purge_expired_deletes_expired_sessions_and_closed_windows_in_batches() {
    let f = fixture();
    let user = f.env.user();
    for _ in 0..5 {
        f.env.session(&user, Some(start() - TimeDelta::days(8)));
    }
    f.env.session(&user, Some(start()));
    f.fail_logins("old@example.com", 1).await;
    f.env.clock.advance(TimeDelta::minutes(20));
    f.fail_logins("new@example.com", 1).await;

    let (sessions, windows) = f.auth.purge_expired(2).await.expect("purge");

    assert_eq!((sessions, windows), (5, 1));
    assert_eq!(f.failures("old@example.com").await, None);
    assert_eq!(f.failures("new@example.com").await, Some(1));
}

#[test]
fn repository_errors_map_to_unavailable_or_unexpected() {
    let busy = RepoError::unavailable(promptyard_repositories::Unavailable::Busy, "locked");
    assert_matches!(AuthError::from(busy), AuthError::Unavailable(_));
    let other = AuthError::from(RepoError::ForeignKeyViolation);
    assert_matches!(other, AuthError::Unexpected(_));
    assert!(
        std::error::Error::source(&other).is_some(),
        "keeps its source"
    );
}

#[tokio::test]
async fn a_clash_of_ids_is_not_reported_as_a_taken_email() {
    let f = fixture();
    f.register(ADA).await;
    // A second service whose ids start again at the first one's.
    let hasher = PasswordHasher::with_workers(1).expect("hasher");
    let other = service(&f.env, hasher, AuthConfig::default());

    let result = other.register(creds("grace@example.com", PASSWORD)).await;

    assert_matches!(result, Err(AuthError::Unexpected(_)));
}

#[tokio::test]
async fn an_idle_service_has_no_sign_in_waiting_for_a_hash() {
    let f = fixture();
    f.register(ADA).await;
    assert_eq!(f.auth.hashes_queued(), 0);
}

#[tokio::test]
async fn a_password_longer_than_allowed_never_logs_in_even_if_it_is_the_accounts() {
    let f = fixture();
    let long = "x".repeat(crate::credentials::PASSWORD_MAX_CHARS + 1);
    let hash = crate::password::hash_password(&long).expect("hash");
    promptyard_test_support::UserFactory::new()
        .email(ADA)
        .password_hash(hash)
        .insert(&mut f.env.test_db.conn());

    let result = f.login(ADA, &long).await;

    assert_matches!(result, Err(AuthError::InvalidCredentials));
}

#[test]
fn what_someone_typed_is_shown_without_a_password() {
    let typed = format!("{:?}", creds(ADA, PASSWORD));
    assert!(
        typed.starts_with("Credentials") && typed.contains(ADA) && !typed.contains(PASSWORD),
        "{typed}"
    );
    let change = PasswordChange {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
    };
    let shown = format!("{change:?}");
    assert!(
        shown.starts_with("PasswordChange")
            && !shown.contains(PASSWORD)
            && !shown.contains(NEW_PASSWORD),
        "{shown}"
    );
}
