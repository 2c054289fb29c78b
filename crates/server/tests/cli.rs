//! The `promptyard` binary as a user runs it: a real process, real HTTP.

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use promptyard_test_support::process::{ServerProcess, run};
use promptyard_test_support::{TestDb, pragma};

const BIN: &str = env!("CARGO_BIN_EXE_promptyard");

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs the binary without arguments in `cwd` with these variables and
/// `RUST_BACKTRACE=1` (so that a panic would show more than one line).
fn promptyard(cwd: &Path, envs: &[(&str, &str)]) -> Output {
    let mut all = vec![("RUST_BACKTRACE", "1")];
    all.extend_from_slice(envs);
    run(Path::new(BIN), cwd, &[], &all)
}

/// Starts the binary as a server in `cwd` with these arguments and
/// variables.
fn start(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
    ServerProcess::start(Path::new(BIN), cwd, args, envs)
}

/// Asserts that the process exited with `code` after printing one line on
/// stderr, holding each of `parts`.
fn assert_one_line(output: &Output, code: i32, parts: &[&str]) {
    let lines = stderr_lines(output);
    assert_eq!(output.status.code(), Some(code), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        parts.iter().all(|part| lines[0].contains(part)),
        "{parts:?} in {lines:?}"
    );
}

#[test]
fn serve_with_no_configuration_creates_the_database_migrates_and_answers_health_checks() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let server = start(cwd.path(), &[], &[("PROMPTYARD_BIND", "127.0.0.1:0")]);

    let health = server.get("/healthz");
    let ready = server.get("/readyz");

    assert_eq!(health.status, 200);
    assert_eq!(health.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(ready.status, 200);
    let db_file = cwd.path().join("promptyard.db");
    assert!(
        db_file.is_file(),
        "promptyard.db created in the working directory"
    );
    #[cfg(unix)]
    for name in [
        "promptyard.db",
        "promptyard.db-wal",
        "promptyard.db-shm",
        "promptyard.db.secret",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cwd.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is its owner's only");
    }

    let (exit, logs) = server.terminate();
    assert!(
        exit.success(),
        "graceful exit on SIGTERM: {exit:?} {logs:?}"
    );
    assert!(logs.iter().any(|l| l.contains("stopped")), "{logs:?}");
    let mut conn = promptyard_db_models_conn(&db_file);
    assert_eq!(pragma(&mut conn, "journal_mode"), "wal");
    assert_eq!(pragma(&mut conn, "user_version"), "0");
    let tables = pragma_tables(&mut conn);
    assert!(tables.contains(&"users".to_owned()) && tables.contains(&"sessions".to_owned()));
}

#[test]
fn a_restart_keeps_the_database_and_applies_no_migration_twice() {
    let test_db = TestDb::empty();
    let envs = [
        ("PROMPTYARD_BIND", "127.0.0.1:0"),
        ("PROMPTYARD_DATABASE_URL", test_db.url()),
    ];
    let applied = |server: &ServerProcess| {
        server
            .startup_log()
            .iter()
            .find_map(|l| l.split("applied=").nth(1).map(|n| n.trim().to_owned()))
            .expect("a 'database ready' line")
    };

    let first = start(test_db.dir(), &["serve"], &envs);
    let applied_first = applied(&first);
    assert!(first.terminate().0.success());
    let second = start(test_db.dir(), &["serve"], &envs);
    let applied_second = applied(&second);

    assert_eq!(applied_first, migration_count().to_string());
    assert_eq!(applied_second, "0");
    assert_eq!(second.get("/readyz").status, 200);
}

#[test]
fn a_flag_overrides_its_environment_variable() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let server = start(
        cwd.path(),
        &["--bind", "127.0.0.1:0"],
        &[("PROMPTYARD_BIND", "not-an-address")],
    );
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn an_unparsable_bind_address_ends_the_process_with_one_line() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let output = promptyard(cwd.path(), &[("PROMPTYARD_BIND", "localhost")]);

    assert_one_line(&output, 2, &["PROMPTYARD_BIND", "localhost"]);
    assert!(
        !cwd.path().join("promptyard.db").exists(),
        "nothing created"
    );
}

#[test]
fn an_unwritable_database_path_ends_the_process_with_one_line() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let not_a_dir = cwd.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    let db_path = not_a_dir.join("promptyard.db");
    let db_path = db_path.to_str().expect("utf-8");

    let output = promptyard(
        cwd.path(),
        &[
            ("PROMPTYARD_BIND", "127.0.0.1:0"),
            ("PROMPTYARD_DATABASE_URL", db_path),
        ],
    );

    assert_one_line(&output, 1, &["cannot open database", db_path]);
}

#[test]
fn a_database_url_that_cannot_be_used_is_echoed_without_its_password() {
    let cwd = tempfile::tempdir().expect("temp dir");
    for command in [
        &[][..],
        &["migrate", "status"],
        &["user", "disable", "a@b.c"],
    ] {
        let output = run(
            Path::new(BIN),
            cwd.path(),
            command,
            &[
                ("PROMPTYARD_BIND", "127.0.0.1:0"),
                (
                    "PROMPTYARD_DATABASE_URL",
                    "postgres://ada:hunter2secret@127.0.0.1:1/promptyard",
                ),
                ("PROMPTYARD_SECRET_KEY", &"k".repeat(64)),
            ],
        );

        assert_one_line(
            &output,
            1,
            &[
                "cannot open database",
                "postgres://ada:***@127.0.0.1:1/promptyard",
            ],
        );
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("hunter2"),
            "{command:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(cwd.path()).expect("cwd").count(),
        0,
        "nothing created"
    );
}

#[test]
fn an_address_in_use_ends_the_process_with_one_line() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();

    let output = promptyard(
        cwd.path(),
        &[("PROMPTYARD_BIND", &addr), ("RUST_LOG", "off")],
    );

    assert_one_line(&output, 1, &["cannot listen on", &addr]);
}

/// How many migration folders the repository holds.
fn migration_count() -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
    std::fs::read_dir(dir)
        .expect("migrations/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("up.sql").is_file())
        .count()
}

fn promptyard_db_models_conn(path: &Path) -> diesel::SqliteConnection {
    use diesel::Connection;
    diesel::SqliteConnection::establish(path.to_str().expect("utf-8")).expect("open")
}

fn pragma_tables(conn: &mut diesel::SqliteConnection) -> Vec<String> {
    use diesel::prelude::*;
    diesel::sql_query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .load::<TableName>(conn)
        .expect("tables")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[derive(diesel::QueryableByName)]
struct TableName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[test]
fn a_bad_providers_file_stops_startup_with_one_line_naming_the_file_and_the_problem() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let file = cwd.path().join("providers.toml");
    let path = file.to_str().expect("utf-8");
    for (content, problem) in [
        ("[[providers]\nname = ", "invalid TOML at line 1"),
        (
            "[[providers]]\nname = \"x\"\nkind = \"grpc\"\nbase_url = \"http://h/v1\"\nmodels = [\"m\"]\n",
            "unknown kind \"grpc\"",
        ),
        (
            "[[providers]]\nname = \"x\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\nmodels = [\"echo-1\"]\n",
            "model id \"echo-1\" is already served",
        ),
        (
            "[[providers]]\nname = \"x\"\nkind = \"openai\"\nbase_url = \"http://h/v1\"\nmodels = [\"m\"]\napi_key_env = \"NO_SUCH_VARIABLE_SET\"\n",
            "the key variable NO_SUCH_VARIABLE_SET is not set",
        ),
    ] {
        std::fs::write(&file, content).expect("write");
        let output = promptyard(
            cwd.path(),
            &[
                ("PROMPTYARD_BIND", "127.0.0.1:0"),
                ("PROMPTYARD_PROVIDERS_FILE", path),
            ],
        );
        assert_one_line(&output, 2, &[path, problem]);
    }
    let output = promptyard(
        cwd.path(),
        &[
            ("PROMPTYARD_BIND", "127.0.0.1:0"),
            ("PROMPTYARD_PROVIDERS_FILE", "/no/such/providers.toml"),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_lines(&output)[0].contains("/no/such/providers.toml: cannot be read"));
}
