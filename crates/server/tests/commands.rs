//! `promptyard migrate ...`, `promptyard user ...`, and what a restart or a
//! shutdown does to sessions and requests: the binary as a real process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use promptyard_services::db_url::Backend;
use promptyard_test_support::TestDb;
use promptyard_test_support::api::{Actor, PASSWORD, Wire, credentials};
use promptyard_test_support::process::{POSTGRES_SECRET_KEY, ServerProcess, run};

const BIN: &str = env!("CARGO_BIN_EXE_promptyard");

fn promptyard(test_db: &TestDb, args: &[&str]) -> (Option<i32>, Vec<String>, String) {
    promptyard_logging(test_db, args, "warn")
}

/// [`promptyard`] with this log filter.
fn promptyard_logging(
    test_db: &TestDb,
    args: &[&str],
    log: &str,
) -> (Option<i32>, Vec<String>, String) {
    let output = run(
        Path::new(BIN),
        test_db.dir(),
        args,
        &[
            ("PROMPTYARD_DATABASE_URL", test_db.url()),
            ("RUST_LOG", log),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (
        output.status.code(),
        stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn migration_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("migrations/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("up.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn serve(test_db: &TestDb) -> ServerProcess {
    serve_with(test_db, &[])
}

/// [`serve`] with these variables set too.
fn serve_with(test_db: &TestDb, envs: &[(&str, &str)]) -> ServerProcess {
    let mut all = vec![
        ("PROMPTYARD_BIND", "127.0.0.1:0"),
        ("PROMPTYARD_DATABASE_URL", test_db.url()),
    ];
    all.extend_from_slice(envs);
    ServerProcess::start(Path::new(BIN), test_db.dir(), &[], &all)
}

/// [`serve_with`], and the wire to it.
fn serve_wired(test_db: &TestDb, envs: &[(&str, &str)]) -> (ServerProcess, Wire) {
    let server = serve_with(test_db, envs);
    let wire = Wire(server.addr());
    (server, wire)
}

/// Signs Ada up on the server at `wire`: someone anonymous there, and
/// Ada's session.
async fn sign_up_ada(wire: &Wire) -> (Actor<'_, Wire>, Actor<'_, Wire>) {
    let anon = Actor::anonymous(wire);
    let ada = anon.sign_up("ada@example.com").await;
    (anon, ada)
}

#[test]
fn migrate_status_up_down_and_down_all() {
    let test_db = TestDb::empty();
    let names = migration_names();
    let listed = |state: &str, names: &[String]| -> Vec<String> {
        names.iter().map(|n| format!("{state} {n}")).collect()
    };

    let last = names.last().expect("a migration").clone();
    let mut after_down = listed("applied", &names[..names.len() - 1]);
    after_down.push(format!("pending {last}"));
    let mut rest: Vec<String> = names[..names.len() - 1].to_vec();
    rest.reverse();

    for (args, expected) in [
        (&["migrate", "status"][..], listed("pending", &names)),
        (&["migrate", "up"], listed("applied", &names)),
        (&["migrate", "up"], vec!["nothing to apply".to_owned()]),
        (&["migrate", "status"], listed("applied", &names)),
        (&["migrate", "down"], vec![format!("reverted {last}")]),
        (&["migrate", "status"], after_down),
        (&["migrate", "down", "--all"], listed("reverted", &rest)),
        (&["migrate", "down"], vec!["nothing to revert".to_owned()]),
        (&["migrate", "status"], listed("pending", &names)),
    ] {
        let (code, out, err) = promptyard(&test_db, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(out, expected, "{args:?}");
    }

    assert_eq!(
        promptyard(&test_db, &["migrate", "up"]).0,
        Some(0),
        "and up again"
    );
}

#[tokio::test]
async fn user_disable_stops_a_live_session_at_once_and_enable_restores_login() {
    let test_db = TestDb::new();
    let (_server, wire) = serve_wired(&test_db, &[]);
    let (anon, ada) = sign_up_ada(&wire).await;
    assert_eq!(ada.get("/api/v1/auth/me").await.status, 200);

    let (code, out, err) = promptyard(&test_db, &["user", "disable", "Ada@Example.com"]);

    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, ["disabled ada@example.com"]);
    assert_eq!(ada.get("/api/v1/auth/me").await.status, 401);
    let refused = anon.login("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["code"], "account_disabled");

    let (code, out, _) = promptyard(&test_db, &["user", "enable", "ada@example.com"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, ["enabled ada@example.com"]);
    assert_eq!(anon.login("ada@example.com", PASSWORD).await.status, 200);
}

#[test]
fn user_commands_name_an_unknown_or_malformed_email_in_one_line() {
    let test_db = TestDb::new();
    for (email, expected) in [
        (
            "nobody@example.com",
            "no user with email nobody@example.com",
        ),
        ("nobody", "invalid email \"nobody\""),
    ] {
        let (code, out, err) = promptyard(&test_db, &["user", "disable", email]);
        assert_eq!(code, Some(1));
        assert!(out.is_empty());
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(expected), "{err}");
    }
}

#[tokio::test]
async fn a_restart_keeps_sessions_valid_with_the_key_kept_next_to_the_database() {
    // SQLite: the key file lives beside the database file (on PostgreSQL
    // the key is PROMPTYARD_SECRET_KEY, required, and no file is written).
    let test_db = TestDb::sqlite();
    let first = serve(&test_db);
    let cookie = Actor::anonymous(&Wire(first.addr()))
        .sign_up("ada@example.com")
        .await
        .credential;
    assert!(first.terminate().0.success());

    let key_file = format!("{}.secret", test_db.url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    let (_second, wire) = serve_wired(&test_db, &[]);

    let me = Actor::with(&wire, cookie).get("/api/v1/auth/me").await;

    assert_eq!(me.status, 200);
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_before_exiting() {
    let test_db = TestDb::new();
    let server = serve(&test_db);
    let body = credentials("ada@example.com", PASSWORD).to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    write!(
        stream,
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .expect("send the first half");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(100));

    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(tail.as_bytes()).expect("send the rest");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");

    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let (exit, logs) = server.wait();
    assert!(exit.success(), "{exit:?}");
    assert!(logs.iter().any(|l| l.contains("shutting down")), "{logs:?}");
}

#[tokio::test]
async fn logs_never_show_passwords_cookies_or_keys_even_at_debug_level() {
    let test_db = TestDb::new();
    let (server, wire) = serve_wired(&test_db, &[("RUST_LOG", "debug")]);
    let (anon, ada) = sign_up_ada(&wire).await;
    assert_eq!(ada.get("/api/v1/auth/me").await.status, 200);
    let wrong = anon.login("ada@example.com", "a-wrong-password-123").await;
    assert_eq!(wrong.status, 401);
    let changed = ada.change_password(PASSWORD, "the-next-password-456").await;
    assert_eq!(changed.status, 200);

    let (_, logs) = server.terminate();
    let logs = logs.join("\n");
    // The cookie key: the file the server keeps beside a SQLite database,
    // or the PROMPTYARD_SECRET_KEY it was given on PostgreSQL.
    let key = match test_db.backend() {
        Backend::Sqlite => {
            std::fs::read_to_string(format!("{}.secret", test_db.url())).expect("key file")
        }
        Backend::Postgres => POSTGRES_SECRET_KEY.to_owned(),
    };
    assert!(
        logs.contains("request_id="),
        "requests are logged with their id"
    );
    for secret in [
        PASSWORD,
        "a-wrong-password-123",
        "the-next-password-456",
        ada.cookie(),
        key.trim(),
        "$argon2id$",
    ] {
        assert!(!logs.contains(secret), "the logs show {secret:?}");
    }
}

#[test]
fn the_server_purges_expired_sessions_at_startup_and_then_periodically() {
    use promptyard_test_support::{SessionFactory, UserFactory};
    let test_db = TestDb::new();
    let (expired, live) = {
        let mut conn = test_db.conn();
        let user = UserFactory::new().insert(&mut conn);
        let long_ago = promptyard_test_support::factories::now() - chrono::TimeDelta::days(30);
        (
            SessionFactory::for_user(&user)
                .created_at(long_ago)
                .ttl(chrono::TimeDelta::days(1))
                .insert(&mut conn),
            SessionFactory::for_user(&user).insert(&mut conn),
        )
    };
    let count = |id: &promptyard_services::SessionId| -> i64 {
        use diesel::prelude::*;
        use diesel::sql_types::{BigInt, Text};
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let placeholder = match test_db.backend() {
            Backend::Sqlite => "?",
            Backend::Postgres => "$1",
        };
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM sessions WHERE id = {placeholder}"
        ))
        .bind::<Text, _>(id.as_str())
        .get_result::<N>(&mut test_db.conn())
        .expect("count")
        .n
    };
    assert_eq!(count(&expired.id), 1);

    let _server = serve_with(&test_db, &[("PROMPTYARD_PURGE_INTERVAL_SECS", "1")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&expired.id) == 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired session was never purged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(count(&live.id), 1, "live sessions stay");
}

/// The soft and hard `Max open files` of process `pid`.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open files line");
    let mut numbers = line["Max open files".len()..].split_whitespace();
    (
        numbers.next().expect("soft").to_owned(),
        numbers.next().expect("hard").to_owned(),
    )
}

#[test]
fn serve_raises_its_open_files_limit_to_the_hard_limit_and_logs_it() {
    let test_db = TestDb::new();
    // Started from a shell whose soft limit is low, as a default shell's
    // 1024 is for a thousand clients.
    let server = ServerProcess::start(
        Path::new("/bin/sh"),
        test_db.dir(),
        &["-c", "ulimit -Sn 256 && exec \"$0\"", BIN],
        &[
            ("PROMPTYARD_BIND", "127.0.0.1:0"),
            ("PROMPTYARD_DATABASE_URL", test_db.url()),
        ],
    );

    let (soft, hard) = open_files_limits(server.pid());

    assert!(
        hard == "unlimited" || hard.parse::<u64>().expect("a number") > 256,
        "the test needs a hard limit above 256, not {hard}"
    );
    assert_eq!(soft, hard, "soft raised to hard");
    let logged = format!("raised the open files limit from=256 to={hard}");
    assert!(
        server.startup_log().iter().any(|l| l.contains(&logged)),
        "{:?}",
        server.startup_log()
    );
}

/// Every table's and index's SQL, and the applied versions.
fn schema_and_versions(test_db: &TestDb) -> (Vec<String>, Vec<String>) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut conn = test_db.conn();
    let mut load = |sql: &str| -> Vec<String> {
        diesel::sql_query(sql)
            .load::<Text>(&mut conn)
            .expect(sql)
            .into_iter()
            .map(|t| t.value)
            .collect()
    };
    let schema = match test_db.backend() {
        Backend::Sqlite => "SELECT coalesce(sql, name) AS value FROM sqlite_schema ORDER BY name",
        Backend::Postgres => {
            "SELECT value FROM (\
                 SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
                     || ' ' || coalesce(column_default, '') AS value \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' \
                 UNION ALL SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
             ) AS schema ORDER BY value"
        }
    };
    (
        load(schema),
        load("SELECT version AS value FROM __diesel_schema_migrations ORDER BY version"),
    )
}

#[test]
fn a_database_from_a_newer_release_is_refused_by_serve_and_migrate_and_left_unchanged() {
    use diesel::connection::SimpleConnection;
    let test_db = TestDb::new();
    let last = migration_names().last().expect("a migration").clone();
    assert_eq!(promptyard(&test_db, &["migrate", "down"]).0, Some(0));
    test_db
        .conn()
        .batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000000'), ('20991231000001')",
        )
        .expect("versions a newer release applied");
    let before = schema_and_versions(&test_db);

    let (code, status, _) = promptyard(&test_db, &["migrate", "status"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        status[status.len() - 3..],
        [
            format!("pending {last}"),
            "unknown 20991231000000".to_owned(),
            "unknown 20991231000001".to_owned()
        ]
    );
    for args in [
        &["migrate", "up"][..],
        &["migrate", "down"],
        &["serve"],
        &[],
    ] {
        let (code, out, err) = promptyard(&test_db, args);
        assert_eq!(code, Some(1), "{args:?}: {out:?} {err}");
        let line = err.lines().last().unwrap_or_default();
        assert!(
            line.contains("does not know (20991231000000, 20991231000001)")
                && line.contains("newer release"),
            "{args:?}: {err}"
        );
        assert_eq!(
            schema_and_versions(&test_db),
            before,
            "{args:?} changed nothing (the pending {last} was not applied)"
        );
    }
}

#[tokio::test]
async fn security_events_are_logged_once_each_with_the_request_id_and_the_user_id() {
    let test_db = TestDb::new();
    let (server, wire) = serve_wired(&test_db, &[("RUST_LOG", "info")]);
    let (anon, ada) = sign_up_ada(&wire).await;
    let ada_id = ada.get("/api/v1/auth/me").await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for _ in 0..10 {
        assert_eq!(
            anon.login("ada@example.com", "a-wrong-password-123")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        anon.login("ada@example.com", "a-wrong-password-123")
            .await
            .status,
        429
    );
    assert_eq!(
        anon.login("nobody@example.com", "a-wrong-password-123")
            .await
            .status,
        401
    );
    let (key, created) = ada.mint_key("ci").await;
    let revoke = format!("/api/v1/api-keys/{}", created["id"].as_str().expect("id"));
    assert_eq!(ada.delete(&revoke).await.status, 204);
    let sessions = ada.get("/api/v1/auth/sessions").await.json();
    let session_id = sessions[0]["id"].as_str().expect("id").to_owned();
    let changed = ada
        .change_password("not-it-at-all-789", "the-next-password-456")
        .await;
    assert_eq!(changed.status, 429, "the email is limited");
    let grace = anon.sign_up("grace@example.com").await;
    let changed = grace
        .change_password(PASSWORD, "the-next-password-456")
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(grace.logout().await.status, 200);
    let revoke = format!("/api/v1/auth/sessions/{session_id}");
    assert_eq!(ada.delete(&revoke).await.status, 204);
    let (_, logs) = server.terminate();
    let (code, _, cli) =
        promptyard_logging(&test_db, &["user", "disable", "grace@example.com"], "info");
    assert_eq!(code, Some(0), "{cli}");
    let (code, _, cli_enable) =
        promptyard_logging(&test_db, &["user", "enable", "grace@example.com"], "info");
    assert_eq!(code, Some(0), "{cli_enable}");

    let lines = |event: &str| -> Vec<String> {
        logs.iter()
            .filter(|l| l.contains(&format!("event=\"{event}\"")))
            .cloned()
            .collect()
    };
    for (event, count, with_user) in [
        ("login_failed", 11, false),
        ("rate_limited", 2, true),
        ("api_key_created", 1, true),
        ("api_key_revoked", 1, true),
        ("password_changed", 1, false),
        ("logout", 1, false),
        ("session_revoked", 1, true),
    ] {
        let found = lines(event);
        assert_eq!(found.len(), count, "{event}: {found:#?}");
        for line in &found {
            assert!(line.contains("request_id="), "{event}: {line}");
            if with_user {
                assert!(line.contains(&ada_id), "{event} names the user: {line}");
            } else if event != "login_failed" {
                assert!(line.contains("user_id="), "{event}: {line}");
            }
        }
    }
    let failed = lines("login_failed");
    let naming_ada = failed.iter().filter(|l| l.contains(&ada_id)).count();
    let naming_nobody = failed.iter().filter(|l| !l.contains("user_id=")).count();
    assert_eq!(
        (naming_ada, naming_nobody),
        (10, 1),
        "an unknown email has no user id to name"
    );
    for (cli, event) in [(&cli, "user_disabled"), (&cli_enable, "user_enabled")] {
        assert!(cli.contains(&format!("event=\"{event}\"")), "{cli}");
        assert!(cli.contains("user_id="), "{cli}");
    }
    let everything = format!("{}\n{cli}\n{cli_enable}", logs.join("\n"));
    for secret in [
        PASSWORD,
        "a-wrong-password-123",
        "the-next-password-456",
        "not-it-at-all-789",
        ada.cookie(),
        grace.cookie(),
        key.key(),
        "$argon2id$",
    ] {
        assert!(!everything.contains(secret), "the logs show {secret:?}");
    }
}
