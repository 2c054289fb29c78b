use promptyard_repositories::{DbConfig, OptionalExt, SessionRepository};
use promptyard_test_support::{SessionFactory, TestDb, UserFactory};

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::ids::SequentialIds;

const PASSWORD: &str = "correct horse battery";

fn creds<'a>(email: &'a str, password: &'a str) -> Credentials<'a> {
    Credentials { email, password }
}

fn change<'a>(current_password: &'a str, new_password: &'a str) -> PasswordChange<'a> {
    PasswordChange {
        current_password,
        new_password,
    }
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00.000Z")
        .expect("valid")
        .to_utc()
}

struct Fixture {
    auth: AuthService,
    clock: ManualClock,
    db: Db,
    test_db: TestDb,
}

fn fixture() -> Fixture {
    let test_db = TestDb::new();
    let db = Db::open(DbConfig::new(test_db.url())).expect("db");
    let clock = ManualClock::new(start());
    let auth = AuthService::new(
        db.clone(),
        PasswordHasher::with_workers(2).expect("hasher"),
        Arc::new(clock.clone()),
        Arc::new(SequentialIds::default()),
        AuthConfig::default(),
    );
    Fixture {
        auth,
        clock,
        db,
        test_db,
    }
}

async fn failures(f: &Fixture, email: &str) -> Option<i32> {
    let email = email.to_owned();
    f.db.read(move |conn| LoginFailureRepository::get(conn, &email).optional())
        .await
        .expect("read")
        .map(|row| row.failures)
}

async fn fail_logins(f: &Fixture, email: &str, n: usize) {
    for _ in 0..n {
        let err = f
            .auth
            .login(creds(email, "wrong password"))
            .await
            .expect_err("fails");
        assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    }
}

#[tokio::test]
async fn register_stores_an_active_user_with_a_normalised_email_and_an_argon2_hash() {
    let f = fixture();

    let user = f
        .auth
        .register(creds("  Ada@Example.COM ", PASSWORD))
        .await
        .expect("register");

    assert_eq!(user.id, "id-1", "ids come from the generator");
    assert_eq!(user.email, "ada@example.com");
    assert!(user.is_active);
    assert_eq!(user.created_at, start());
    let stored =
        f.db.read(|conn| UserRepository::get_by_id(conn, &"id-1".into()))
            .await
            .expect("stored");
    assert!(stored.password_hash.starts_with("$argon2id$"), "hashed");
    assert!(!stored.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn register_names_every_bad_field_at_once() {
    let f = fixture();

    let err = f
        .auth
        .register(creds("not-an-email", "short"))
        .await
        .expect_err("invalid");

    let AuthError::Validation(errors) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["email", "password"]);
    assert_eq!(errors[1].message, "must be at least 8 characters");
}

#[tokio::test]
async fn register_with_an_email_taken_in_another_case_is_email_taken() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("first");

    let err = f
        .auth
        .register(creds("ADA@example.com", "another password"))
        .await
        .expect_err("taken");

    assert!(matches!(err, AuthError::EmailTaken), "{err:?}");
}

#[tokio::test]
async fn login_with_the_right_password_returns_the_user_whatever_the_email_case() {
    let f = fixture();
    let registered = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");

    let user = f
        .auth
        .login(creds(" ADA@example.com", PASSWORD))
        .await
        .expect("login");

    assert_eq!(user, registered);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_fail_alike_and_both_count() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");

    let unknown = f
        .auth
        .login(creds("grace@example.com", PASSWORD))
        .await
        .expect_err("unknown");
    let wrong = f
        .auth
        .login(creds("ada@example.com", "wrong password"))
        .await
        .expect_err("wrong");

    assert!(
        matches!(unknown, AuthError::InvalidCredentials),
        "{unknown:?}"
    );
    assert!(matches!(wrong, AuthError::InvalidCredentials), "{wrong:?}");
    assert_eq!(unknown.to_string(), wrong.to_string());
    assert_eq!(failures(&f, "grace@example.com").await, Some(1));
    assert_eq!(failures(&f, "ada@example.com").await, Some(1));
}

#[tokio::test]
async fn malformed_or_oversized_input_is_just_invalid_credentials() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");

    for (email, password) in [
        ("not an email", PASSWORD),
        ("", PASSWORD),
        ("ada@example.com", ""),
        ("ada@example.com", &"x".repeat(5000)),
        (&"a".repeat(300), PASSWORD),
    ] {
        let err = f
            .auth
            .login(creds(email, password))
            .await
            .expect_err("refused");
        assert!(
            matches!(err, AuthError::InvalidCredentials),
            "{email:.20}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_disabled_account_is_refused_only_with_its_right_password() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    f.auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");

    let right = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("disabled");
    let wrong = f
        .auth
        .login(creds("ada@example.com", "wrong password"))
        .await
        .expect_err("wrong");

    assert!(matches!(right, AuthError::AccountDisabled), "{right:?}");
    assert!(matches!(wrong, AuthError::InvalidCredentials), "{wrong:?}");
}

#[tokio::test]
async fn the_eleventh_attempt_is_rate_limited_even_with_the_right_password() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    fail_logins(&f, "ada@example.com", 10).await;
    f.clock.advance(TimeDelta::minutes(5));

    let err = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("limited");

    let AuthError::RateLimited { retry_after } = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        retry_after,
        Duration::from_secs(10 * 60),
        "until the window ends"
    );
    f.auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("still limited");
    assert_eq!(
        failures(&f, "ada@example.com").await,
        Some(11),
        "over the limit once, then no further while limited"
    );
}

#[tokio::test]
async fn retry_after_rounds_up_to_whole_seconds() {
    let f = fixture();
    fail_logins(&f, "ada@example.com", 10).await;
    f.clock
        .advance(TimeDelta::milliseconds(14 * 60_000 + 59_001));

    let err = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("limited");

    assert!(
        matches!(err, AuthError::RateLimited { retry_after } if retry_after == Duration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_limit_lifts_when_the_window_ends_and_a_success_clears_the_count() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    fail_logins(&f, "ada@example.com", 10).await;

    f.clock.advance(TimeDelta::minutes(15));
    f.auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect("window over");

    assert_eq!(failures(&f, "ada@example.com").await, None, "cleared");
}

#[tokio::test]
async fn unknown_emails_are_limited_too_so_the_limit_reveals_no_account() {
    let f = fixture();
    fail_logins(&f, "nobody@example.com", 10).await;

    let err = f
        .auth
        .login(creds("nobody@example.com", "whatever!"))
        .await
        .expect_err("limited");

    assert!(matches!(err, AuthError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn failures_in_separate_windows_do_not_add_up() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    fail_logins(&f, "ada@example.com", 9).await;
    f.clock.advance(TimeDelta::minutes(16));
    fail_logins(&f, "ada@example.com", 9).await;

    f.auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect("never 10 in one window");
}

#[tokio::test]
async fn the_limit_is_configurable() {
    let f = fixture();
    let auth = AuthService::new(
        f.db.clone(),
        PasswordHasher::with_workers(1).expect("hasher"),
        Arc::new(f.clock.clone()),
        Arc::new(SequentialIds::default()),
        AuthConfig {
            max_failed_logins: 2,
            failed_login_window: Duration::from_secs(60),
            ..AuthConfig::default()
        },
    );
    for _ in 0..2 {
        let _ = auth.login(creds("ada@example.com", "nope-nope")).await;
    }

    let err = auth
        .login(creds("ada@example.com", "nope-nope"))
        .await
        .expect_err("limited");

    assert!(
        matches!(err, AuthError::RateLimited { retry_after } if retry_after == Duration::from_secs(60)),
        "{err:?}"
    );
    assert_eq!(auth.config().max_failed_logins, 2);
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_revokes_the_other_sessions() {
    let f = fixture();
    let user = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    let (keep, other) = {
        let mut conn = f.test_db.conn();
        let row = UserRepository::get_by_id(&mut conn, &user.id).expect("row");
        (
            SessionFactory::for_user(&row).insert(&mut conn),
            SessionFactory::for_user(&row).insert(&mut conn),
        )
    };

    let revoked = f
        .auth
        .change_password(&user.id, &keep.id, change(PASSWORD, "a brand new password"))
        .await
        .expect("changed");

    assert_eq!(revoked, 1);
    let now = start().naive_utc();
    let left =
        f.db.read(move |conn| SessionRepository::list_valid_for_user(conn, &user.id, now))
            .await
            .expect("sessions");
    assert_eq!(left.iter().map(|s| &s.id).collect::<Vec<_>>(), [&keep.id]);
    assert_ne!(keep.id, other.id);
    f.auth
        .login(creds("ada@example.com", "a brand new password"))
        .await
        .expect("new password works");
    let err = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("old one not");
    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn change_password_for_an_account_that_is_gone_is_not_found() {
    let f = fixture();

    let err = f
        .auth
        .change_password(
            &"no-such-user".into(),
            &"s".into(),
            change(PASSWORD, "a brand new password"),
        )
        .await
        .expect_err("no account");

    assert!(matches!(err, AuthError::NotFound), "{err:?}");
}

#[tokio::test]
async fn change_password_refuses_a_wrong_current_password_or_a_bad_new_one() {
    let f = fixture();
    let user = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");

    let wrong = f
        .auth
        .change_password(
            &user.id,
            &"s".into(),
            change("not my password", "a brand new password"),
        )
        .await
        .expect_err("wrong current");
    let short = f
        .auth
        .change_password(&user.id, &"s".into(), change(PASSWORD, "short"))
        .await
        .expect_err("too short");

    assert!(matches!(wrong, AuthError::InvalidCredentials), "{wrong:?}");
    assert!(
        matches!(&short, AuthError::Validation(errors) if errors[0].field == "new_password"),
        "{short:?}"
    );
    f.auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect("unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_thirty_simultaneous_wrong_logins_only_the_allowance_is_checked() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    fail_logins(&f, "ada@example.com", 3).await;

    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let auth = f.auth.clone();
        attempts.spawn(async move { auth.login(creds("ada@example.com", "wrong password")).await });
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
    let user = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");

    for _ in 0..10 {
        let err = f
            .auth
            .change_password(
                &user.id,
                &"s".into(),
                change("not my password", "a brand new password"),
            )
            .await
            .expect_err("wrong");
        assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    }
    let right_but_limited = f
        .auth
        .change_password(
            &user.id,
            &"s".into(),
            change(PASSWORD, "a brand new password"),
        )
        .await
        .expect_err("limited");
    let login = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("the email is limited");

    assert!(
        matches!(right_but_limited, AuthError::RateLimited { .. }),
        "{right_but_limited:?}"
    );
    assert!(matches!(login, AuthError::RateLimited { .. }), "{login:?}");
    f.clock.advance(TimeDelta::minutes(15));
    f.auth
        .change_password(
            &user.id,
            &"s".into(),
            change(PASSWORD, "a brand new password"),
        )
        .await
        .expect("the window has passed");
    assert_eq!(
        failures(&f, "ada@example.com").await,
        None,
        "a right current password gives its attempt back"
    );
}

#[tokio::test]
async fn attempts_the_hasher_refused_or_a_disabled_account_are_given_back() {
    let f = fixture();
    f.auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("register");
    fail_logins(&f, "ada@example.com", 2).await;
    let refusing = AuthService::new(
        f.db.clone(),
        PasswordHasher::with_config(crate::password::HasherConfig {
            workers: 1,
            queue: 1,
            max_wait: Duration::ZERO,
        })
        .expect("hasher"),
        Arc::new(f.clock.clone()),
        Arc::new(SequentialIds::default()),
        AuthConfig::default(),
    );

    for _ in 0..12 {
        let err = refusing
            .login(creds("ada@example.com", "wrong password"))
            .await
            .expect_err("busy");
        assert!(matches!(err, AuthError::Busy { .. }), "{err:?}");
    }
    f.auth
        .set_active("ada@example.com", false)
        .await
        .expect("disable");
    let disabled = f
        .auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect_err("disabled");

    assert!(
        matches!(disabled, AuthError::AccountDisabled),
        "{disabled:?}"
    );
    assert_eq!(
        failures(&f, "ada@example.com").await,
        Some(2),
        "only the two real failures"
    );
}

#[tokio::test]
async fn list_sessions_marks_the_current_one_and_revoke_only_touches_ones_own() {
    let f = fixture();
    let ada = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("ada");
    let mut conn = f.test_db.conn();
    let ada_row = UserRepository::get_by_id(&mut conn, &ada.id).expect("row");
    let older = SessionFactory::for_user(&ada_row)
        .created_at(start().naive_utc())
        .insert(&mut conn);
    let newer = SessionFactory::for_user(&ada_row)
        .created_at((start() + TimeDelta::minutes(1)).naive_utc())
        .insert(&mut conn);
    let grace = UserFactory::new().insert(&mut conn);
    let graces = SessionFactory::for_user(&grace).insert(&mut conn);

    let listed = f
        .auth
        .list_sessions(&ada.id, &older.id)
        .await
        .expect("list");

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
    let err = f
        .auth
        .revoke_session(&ada.id, &graces.public_id, &older.id)
        .await
        .expect_err("not hers");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
    let err = f
        .auth
        .revoke_session(&ada.id, &newer.id.as_str().into(), &older.id)
        .await
        .expect_err("the key's hash names nothing");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
    let own = f
        .auth
        .revoke_session(&ada.id, &newer.public_id, &older.id)
        .await
        .expect("hers");
    assert!(!own, "not the caller's own");
    assert_eq!(
        f.auth
            .list_sessions(&ada.id, &older.id)
            .await
            .expect("list")
            .len(),
        1
    );
    let own = f
        .auth
        .revoke_session(&ada.id, &older.public_id, &older.id)
        .await
        .expect("her own");
    assert!(own);
}

#[tokio::test]
async fn disabling_a_user_deletes_their_sessions_and_enabling_restores_login() {
    let f = fixture();
    let ada = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("ada");
    {
        let mut conn = f.test_db.conn();
        let row = UserRepository::get_by_id(&mut conn, &ada.id).expect("row");
        SessionFactory::for_user(&row).insert(&mut conn);
    }

    let disabled = f
        .auth
        .set_active("ADA@example.com", false)
        .await
        .expect("disable");

    assert!(!disabled.is_active);
    assert!(
        f.auth
            .list_sessions(&ada.id, &"".into())
            .await
            .expect("list")
            .is_empty()
    );
    let enabled = f
        .auth
        .set_active("ada@example.com", true)
        .await
        .expect("enable");
    assert!(enabled.is_active);
    f.auth
        .login(creds("ada@example.com", PASSWORD))
        .await
        .expect("login again");
}

#[tokio::test]
async fn set_active_needs_a_valid_known_email() {
    let f = fixture();
    let unknown = f
        .auth
        .set_active("nobody@example.com", false)
        .await
        .expect_err("unknown");
    let malformed = f
        .auth
        .set_active("nobody", false)
        .await
        .expect_err("malformed");
    assert!(matches!(unknown, AuthError::NotFound), "{unknown:?}");
    assert!(
        matches!(malformed, AuthError::Validation(_)),
        "{malformed:?}"
    );
}

#[tokio::test]
async fn user_finds_an_account_by_id() {
    let f = fixture();
    let ada = f
        .auth
        .register(creds("ada@example.com", PASSWORD))
        .await
        .expect("ada");
    assert_eq!(f.auth.user(&ada.id).await.expect("found"), ada);
    let err = f.auth.user(&"nobody".into()).await.expect_err("missing");
    assert!(matches!(err, AuthError::NotFound), "{err:?}");
}

#[tokio::test]
async fn purge_expired_deletes_expired_sessions_and_closed_windows_in_batches() {
    let f = fixture();
    {
        let mut conn = f.test_db.conn();
        let user = UserFactory::new().insert(&mut conn);
        for _ in 0..5 {
            SessionFactory::for_user(&user)
                .created_at((start() - TimeDelta::days(8)).naive_utc())
                .insert(&mut conn);
        }
        SessionFactory::for_user(&user)
            .created_at(start().naive_utc())
            .insert(&mut conn);
    }
    fail_logins(&f, "old@example.com", 1).await;
    f.clock.advance(TimeDelta::minutes(20));
    fail_logins(&f, "new@example.com", 1).await;

    let (sessions, windows) = f.auth.purge_expired(2).await.expect("purge");

    assert_eq!((sessions, windows), (5, 1));
    assert_eq!(failures(&f, "old@example.com").await, None);
    assert_eq!(failures(&f, "new@example.com").await, Some(1));
}

#[test]
fn repository_errors_map_to_unavailable_or_unexpected() {
    let busy = RepoError::unavailable(promptyard_repositories::Unavailable::Busy, "locked");
    assert!(matches!(AuthError::from(busy), AuthError::Unavailable(_)));
    let other = AuthError::from(RepoError::ForeignKeyViolation);
    assert!(matches!(other, AuthError::Unexpected(_)));
    assert!(
        std::error::Error::source(&other).is_some(),
        "keeps its source"
    );
}
