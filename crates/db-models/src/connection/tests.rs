use super::*;

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

fn pragma(conn: &mut SqliteConnection, name: &str) -> i64 {
    diesel::sql_query(format!("SELECT (SELECT * FROM pragma_{name}) AS value"))
        .get_result::<Value>(conn)
        .map(|v| v.value)
        .expect("pragma value")
}

fn temp_path() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite").display().to_string();
    (dir, path)
}

fn open_err(path: &str, options: &ConnectionOptions) -> OpenError {
    match open(path, options) {
        Ok(_) => panic!("opening {path:?} should fail"),
        Err(err) => err,
    }
}

#[test]
fn configure_connection_turns_on_each_pragma_a_bare_connection_lacks() {
    let (_dir, path) = temp_path();
    let mut conn = SqliteConnection::establish(&path).expect("bare");
    // Bundled SQLite enables foreign keys by default; start from off so
    // that dropping the PRAGMA from the function fails this test.
    conn.batch_execute("PRAGMA foreign_keys = OFF")
        .expect("off");
    assert_eq!(pragma(&mut conn, "foreign_keys"), 0);
    assert_eq!(pragma(&mut conn, "synchronous"), 2, "FULL by default");
    assert_eq!(pragma(&mut conn, "busy_timeout"), 0);

    configure_connection(&mut conn, &ConnectionOptions::read_write()).expect("configure");

    assert_eq!(pragma(&mut conn, "foreign_keys"), 1);
    assert_eq!(pragma(&mut conn, "synchronous"), 1);
    assert_eq!(pragma(&mut conn, "busy_timeout"), 5000);
    assert_eq!(
        pragma(&mut conn, "journal_size_limit"),
        i64::try_from(JOURNAL_SIZE_LIMIT).expect("fits")
    );
}

#[cfg(unix)]
#[test]
fn a_new_database_and_its_wal_and_shm_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = temp_path();
    let mut conn = open(&path, &ConnectionOptions::read_write()).expect("open");
    conn.batch_execute("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .expect("a write, so -wal and -shm exist");

    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[cfg(unix)]
#[test]
fn an_existing_database_keeps_the_mode_its_owner_gave_it() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = temp_path();
    drop(open(&path, &ConnectionOptions::read_write()).expect("create"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");

    drop(open(&path, &ConnectionOptions::read_write()).expect("reopen"));

    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn open_creates_the_file_and_applies_every_pragma() {
    let (_dir, path) = temp_path();
    let mut conn = open(&path, &ConnectionOptions::read_write()).expect("open");

    assert!(std::path::Path::new(&path).exists());
    assert_eq!(pragma(&mut conn, "busy_timeout"), 5000);
    assert_eq!(pragma(&mut conn, "synchronous"), 1, "NORMAL is 1");
    assert_eq!(pragma(&mut conn, "foreign_keys"), 1);
    assert_eq!(pragma(&mut conn, "query_only"), 0);
    let mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result::<JournalMode>(&mut conn)
        .expect("journal_mode");
    assert_eq!(mode.journal_mode, "wal");
}

#[test]
fn read_only_connections_refuse_writes() {
    let (_dir, path) = temp_path();
    let options = ConnectionOptions::read_only().with_busy_timeout(Duration::from_millis(250));
    let mut conn = open(&path, &options).expect("open");

    assert_eq!(pragma(&mut conn, "query_only"), 1);
    assert_eq!(pragma(&mut conn, "busy_timeout"), 250);
    let err = conn
        .batch_execute("CREATE TABLE t (x INTEGER)")
        .expect_err("a reader must not write");
    assert!(err.to_string().contains("readonly"), "{err}");
}

#[test]
fn in_memory_databases_are_refused_because_they_cannot_use_wal() {
    let err = open_err(":memory:", &ConnectionOptions::read_write());
    assert!(
        matches!(&err, OpenError::NotWal { mode, .. } if mode == "memory"),
        "{err:?}"
    );
}

#[test]
fn a_zero_busy_timeout_is_refused() {
    let (_dir, path) = temp_path();
    let options = ConnectionOptions::read_write().with_busy_timeout(Duration::ZERO);
    assert!(matches!(
        open_err(&path, &options),
        OpenError::ZeroBusyTimeout
    ));
}

#[test]
fn a_path_in_a_missing_directory_is_an_open_error_naming_the_path() {
    let (dir, _) = temp_path();
    let path = dir
        .path()
        .join("missing/dir/db.sqlite")
        .display()
        .to_string();
    let err = open_err(&path, &ConnectionOptions::read_write());
    assert!(matches!(err, OpenError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&path), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_a_configure_error() {
    let (_dir, path) = temp_path();
    std::fs::write(&path, vec![b'x'; 4096]).expect("write junk");
    let err = open_err(&path, &ConnectionOptions::read_write());
    assert!(matches!(err, OpenError::Configure { .. }), "{err:?}");
}

#[test]
fn the_default_options_are_a_read_write_connections() {
    assert_eq!(
        ConnectionOptions::default(),
        ConnectionOptions::read_write()
    );
    assert!(ConnectionOptions::read_only().read_only);
}

#[test]
fn postgres_refuses_a_zero_busy_timeout_before_connecting() {
    let url = DatabaseUrl::parse("postgres://ada:pw@127.0.0.1:1/p").expect("url");
    let zero = ConnectionOptions::read_write().with_busy_timeout(std::time::Duration::ZERO);
    assert!(matches!(
        open_postgres(&url, &zero),
        Err(OpenError::ZeroBusyTimeout)
    ));
}

#[test]
fn an_unreachable_postgres_server_is_one_line_naming_the_url_without_its_password() {
    let url = DatabaseUrl::parse("postgres://ada:hunter2@127.0.0.1:1/p").expect("url");
    let Err(err) = open_postgres(&url, &ConnectionOptions::read_write()) else {
        panic!("nobody listens on port 1");
    };
    let shown = err.to_string();
    assert!(matches!(err, OpenError::Open { .. }), "{err:?}");
    assert!(
        shown.contains("postgres://ada:***@127.0.0.1:1/p"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown:?}");
}
