//! Each check passes on a correct history and fails, naming the fault, on
//! a copy of it broken in one way. The copies are made in a temp directory
//! from `fixtures/migrations/good` and `fixtures/schema_good.rs`.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use super::*;
use crate::TestDb;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn good_schema_rs() -> String {
    std::fs::read_to_string(fixtures().join("schema_good.rs")).expect("schema_good.rs")
}

/// A copy of the good migrations, to break.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn good() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = fixtures().join("migrations/good");
        for entry in std::fs::read_dir(&source).expect("fixtures") {
            let entry = entry.expect("entry");
            let target = dir.path().join(entry.file_name());
            std::fs::create_dir(&target).expect("mkdir");
            for file in std::fs::read_dir(entry.path()).expect("migration") {
                let file = file.expect("file");
                std::fs::copy(file.path(), target.join(file.file_name())).expect("copy");
            }
        }
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, migration: &str, file: &str, sql: &str) -> &Self {
        let dir = self.path().join(migration);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(file), sql).expect("write");
        self
    }

    fn remove(&self, migration: &str, file: &str) -> &Self {
        std::fs::remove_file(self.path().join(migration).join(file)).expect("remove");
        self
    }

    fn source(&self) -> FileBasedMigrations {
        FileBasedMigrations::from_path(self.path()).expect("migrations dir")
    }
}

fn expect_findings(result: Result<(), Findings>, needle: &str) -> Findings {
    let findings = result.expect_err("the check must fail");
    assert!(
        findings.0.iter().any(|f| f.contains(needle)),
        "no finding mentions {needle:?}:\n{findings}"
    );
    findings
}

/// An empty database and a connection to it.
fn empty_db() -> (TestDb, SqliteConnection) {
    let test_db = TestDb::empty();
    let conn = test_db.sqlite_conn();
    (test_db, conn)
}

/// The findings of [`check_layout`] on `copy` with `allowed` irreversible
/// migrations; one must mention `needle`.
fn layout_findings(copy: &Copy, allowed: &[&str], needle: &str) -> Findings {
    expect_findings(check_layout(copy.path(), allowed).map(drop), needle)
}

fn head(copy: &Copy) -> (TestDb, SqliteConnection) {
    let (test_db, mut conn) = empty_db();
    migrate_to_head(&mut conn, copy.source()).expect("to head");
    (test_db, conn)
}

/// A check of a history, run on a connection.
type Check = fn(&mut SqliteConnection, &FileBasedMigrations) -> Result<(), Findings>;

/// The findings of `check`, run on an empty database, of the good history
/// with `file` of `migration` replaced by `sql`; one must mention `needle`.
fn findings_of_broken(
    check: Check,
    (migration, file, sql): (&str, &str, &str),
    needle: &str,
) -> Findings {
    let copy = Copy::good();
    copy.write(migration, file, sql);
    let (_db, mut conn) = empty_db();
    expect_findings(check(&mut conn, &copy.source()), needle)
}

// --- the correct history passes everything ------------------------------

#[test]
fn the_good_history_passes_every_check() {
    let copy = Copy::good();
    let layout = check_layout(copy.path(), &[]).expect("layout");
    assert_eq!(layout.len(), 3);
    assert_eq!(layout[0].version, "20240101000001");
    check_embedded_matches_layout(&copy.source(), &layout).expect("same list");

    check_upgrade_downgrade(&mut empty_db().1, &copy.source()).expect("up/down");
    check_up_down_consistency(&mut empty_db().1, &copy.source()).expect("consistency");
    let (_db, mut conn) = head(&copy);
    check_schema_rs(&mut conn, &good_schema_rs()).expect("schema.rs matches");
    check_schema_invariants(&mut conn).expect("invariants");
}

// --- single head ------------------------------------------------------------

#[test]
fn a_duplicate_version_is_more_than_one_head() {
    let copy = Copy::good();
    copy.write(
        "2024-01-02-000001_create_publishers",
        "up.sql",
        "CREATE TABLE publishers (id INTEGER PRIMARY KEY);",
    )
    .write(
        "2024-01-02-000001_create_publishers",
        "down.sql",
        "DROP TABLE publishers;",
    );

    let findings = layout_findings(
        &copy,
        &[],
        "version 20240101000001".replace("0101", "0102").as_str(),
    );
    assert!(
        findings.0[0].contains("2024-01-02-000001_create_books")
            && findings.0[0].contains("create_publishers"),
        "{findings}"
    );
}

#[test]
fn a_badly_named_folder_is_refused() {
    let copy = Copy::good();
    copy.write("add_more_things", "up.sql", "SELECT 1;");
    layout_findings(&copy, &[], "migration add_more_things is not named");
}

#[test]
fn a_missing_or_empty_down_sql_is_refused_unless_allow_listed() {
    let copy = Copy::good();
    copy.remove("2024-01-02-000001_create_books", "down.sql")
        .write(
            "2024-01-03-000001_add_books_isbn",
            "down.sql",
            "-- nothing to undo\n",
        );

    let findings = check_layout(copy.path(), &[]).expect_err("two findings");
    assert!(
        findings
            .0
            .iter()
            .any(|f| f.contains("create_books has no down.sql")),
        "{findings}"
    );
    assert!(
        findings
            .0
            .iter()
            .any(|f| f.contains("add_books_isbn has an empty down.sql")),
        "{findings}"
    );

    let allowed = [
        "2024-01-02-000001_create_books",
        "2024-01-03-000001_add_books_isbn",
    ];
    check_layout(copy.path(), &allowed).expect("allow-listed as irreversible");
    layout_findings(
        &copy,
        &["2099-01-01-000000_nope"],
        "names 2099-01-01-000000_nope, which does not exist",
    );
}

#[test]
fn a_missing_up_sql_is_refused() {
    let copy = Copy::good();
    copy.remove("2024-01-01-000001_create_authors", "up.sql");
    layout_findings(&copy, &[], "create_authors has no up.sql");
}

#[test]
fn an_embedded_list_that_went_stale_is_caught() {
    let copy = Copy::good();
    let stale = Copy::good();
    std::fs::remove_dir_all(stale.path().join("2024-01-03-000001_add_books_isbn")).expect("rm");
    let layout = check_layout(copy.path(), &[]).expect("layout");
    expect_findings(
        check_embedded_matches_layout(&stale.source(), &layout),
        "2024-01-03-000001_add_books_isbn is on disk but not embedded",
    );
}

// --- upgrade / downgrade ----------------------------------------------------

#[test]
fn a_failing_down_sql_or_up_sql_fails_the_downgrade_or_the_upgrade() {
    for (broken, needle) in [
        (
            (
                "2024-01-03-000001_add_books_isbn",
                "down.sql",
                "DROP TABLE no_such_table;",
            ),
            "downgrading one step from head failed",
        ),
        (
            (
                "2024-01-02-000001_create_books",
                "up.sql",
                "CREATE TABLE books (id INTEGER PRIMARY KEY,);",
            ),
            "upgrading an empty database to head failed",
        ),
    ] {
        findings_of_broken(check_upgrade_downgrade, broken, needle);
    }
}

// --- up/down consistency ----------------------------------------------------

#[test]
fn a_down_sql_that_skips_an_index_leaves_a_column_or_drops_too_much_is_named() {
    for (down_sql, needle) in [
        (
            "ALTER TABLE books DROP COLUMN isbn;",
            "index books_title_idx: exists after its down but not before its up",
        ),
        (
            "DROP INDEX books_title_idx;",
            "table books: column isbn exists after its down but not before its up",
        ),
        (
            "DROP INDEX books_title_idx; ALTER TABLE books DROP COLUMN isbn; DROP INDEX books_author_id_idx;",
            "books_author_id_idx: exists before its up but not after its down",
        ),
    ] {
        let findings = findings_of_broken(
            check_up_down_consistency,
            ("2024-01-03-000001_add_books_isbn", "down.sql", down_sql),
            needle,
        );
        assert!(
            findings
                .0
                .iter()
                .all(|f| f.starts_with("2024-01-03-000001_add_books_isbn: ")),
            "every finding names the migration:\n{findings}"
        );
    }
}

// --- schema.rs against the DDL ---------------------------------------------

fn schema_findings(schema_rs: &str, needle: &str) {
    let copy = Copy::good();
    let (_db, mut conn) = head(&copy);
    expect_findings(check_schema_rs(&mut conn, schema_rs), needle);
}

#[test]
fn a_column_only_in_schema_rs_is_named() {
    let schema = good_schema_rs().replace(
        "        isbn -> Nullable<Text>,\n",
        "        isbn -> Nullable<Text>,\n        pages -> Integer,\n",
    );
    schema_findings(
        &schema,
        "column books.pages is in schema.rs but not in the database",
    );
}

#[test]
fn a_column_only_in_the_database_is_named() {
    let schema = good_schema_rs().replace("        bio -> Nullable<Text>,\n", "");
    schema_findings(
        &schema,
        "column authors.bio is in the database but not in schema.rs",
    );
}

#[test]
fn a_type_changed_in_one_place_is_named() {
    let schema = good_schema_rs().replace("        title -> Text,", "        title -> Integer,");
    schema_findings(
        &schema,
        "column books.title: schema.rs says Integer, the database declares \"TEXT\" (Text)",
    );
}

#[test]
fn a_nullability_mismatch_is_named() {
    let schema = good_schema_rs().replace("bio -> Nullable<Text>", "bio -> Text");
    schema_findings(
        &schema,
        "column authors.bio: schema.rs says NOT NULL, the database says nullable",
    );
    let schema = good_schema_rs().replace("title -> Text", "title -> Nullable<Text>");
    schema_findings(
        &schema,
        "column books.title: schema.rs says nullable, the database says NOT NULL",
    );
}

#[test]
fn a_missing_or_extra_table_is_named() {
    let without_books = {
        let text = good_schema_rs();
        let start = text
            .find("diesel::table! {\n    books")
            .expect("books block");
        let end = text[start..].find("\n}\n").expect("end") + start + 3;
        format!("{}{}", &text[..start], &text[end..])
            .replace("diesel::joinable!(books -> authors (author_id));\n", "")
    };
    schema_findings(
        &without_books,
        "table books is in the database but not in schema.rs",
    );
    let with_extra = format!(
        "{}\ndiesel::table! {{\n    reviews (id) {{\n        id -> Integer,\n    }}\n}}\n",
        good_schema_rs()
    );
    schema_findings(
        &with_extra,
        "table reviews is in schema.rs but not in the database",
    );
}

#[test]
fn a_different_primary_key_is_named() {
    let schema = good_schema_rs().replace("authors (id)", "authors (name)");
    schema_findings(
        &schema,
        "table authors: schema.rs names the primary key (name), the database (id)",
    );
}

#[test]
fn a_missing_or_invented_joinable_is_named() {
    let without =
        good_schema_rs().replace("diesel::joinable!(books -> authors (author_id));\n", "");
    schema_findings(
        &without,
        "lacks diesel::joinable!(books -> authors (author_id))",
    );
    let invented = format!(
        "{}\ndiesel::joinable!(authors -> books (id));\n",
        good_schema_rs()
    );
    schema_findings(
        &invented,
        "has diesel::joinable!(authors -> books (id)) but the database has no such foreign key",
    );
}

// --- invariants -------------------------------------------------------------

#[test]
fn a_foreign_key_without_an_index_is_named() {
    let copy = Copy::good();
    copy.write(
        "2024-01-02-000001_create_books",
        "up.sql",
        "CREATE TABLE books (id INTEGER NOT NULL PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors (id), title TEXT NOT NULL, published_at TIMESTAMP);",
    )
    .write("2024-01-02-000001_create_books", "down.sql", "DROP TABLE books;");
    let (_db, mut conn) = head(&copy);
    expect_findings(
        check_schema_invariants(&mut conn),
        "table books: foreign key (author_id) -> authors has no index on its child column(s)",
    );
}

#[test]
fn rows_that_break_a_foreign_key_are_reported() {
    let copy = Copy::good();
    let (_db, mut conn) = head(&copy);
    conn.batch_execute(
        "PRAGMA foreign_keys = OFF; INSERT INTO books (id, author_id, title) VALUES (1, 99, 'orphan'); PRAGMA foreign_keys = ON;",
    )
    .expect("insert an orphan behind the database's back");
    expect_findings(
        check_schema_invariants(&mut conn),
        "a row of books references a missing row of authors",
    );
}

// --- data survives ----------------------------------------------------------

#[test]
fn rows_written_at_an_older_version_survive_to_head() {
    let copy = Copy::good();
    let (_db, mut conn) = empty_db();

    migrate_to(&mut conn, &copy.source(), "2024-01-02-000001_create_books").expect("stop at books");
    conn.batch_execute(
        "INSERT INTO authors (id, name) VALUES (1, 'Le Guin'); \
         INSERT INTO books (id, author_id, title) VALUES (1, 1, 'The Dispossessed');",
    )
    .expect("rows at that version");
    migrate_to_head(&mut conn, copy.source()).expect("continue to head");

    assert_eq!(
        crate::json_rows(&mut conn, "title, isbn", "FROM books"),
        [serde_json::json!(["The Dispossessed", null])]
    );
}

#[test]
fn migrate_to_accepts_a_version_and_refuses_an_unknown_name() {
    let copy = Copy::good();
    let (_db, mut conn) = empty_db();

    migrate_to(&mut conn, &copy.source(), "20240101000001").expect("by version");
    assert_eq!(conn.applied_migrations().expect("applied").len(), 1);
    migrate_to(&mut conn, &copy.source(), "20240101000001").expect("already there: nothing to do");
    expect_findings(
        migrate_to(&mut conn, &copy.source(), "2030-01-01-000000_nope"),
        "no migration named",
    );
}

// --- snapshots ----------------------------------------------------------------

#[test]
fn formatting_and_comments_do_not_make_sql_differ() {
    use super::snapshot::normalise_sql;
    assert_eq!(
        normalise_sql("CREATE TABLE t ( -- a comment\n  id INTEGER , /* another */ name TEXT\n)"),
        normalise_sql("CREATE TABLE t (id INTEGER, name TEXT)")
    );
    assert_ne!(
        normalise_sql("CREATE TABLE t (x TEXT DEFAULT 'a  b')"),
        normalise_sql("CREATE TABLE t (x TEXT DEFAULT 'a b')")
    );
}

#[test]
fn findings_print_one_per_line() {
    let findings = Findings(vec!["first".into(), "second".into()]);
    assert_eq!(findings.to_string(), "- first\n- second\n");
    assert!(Findings(vec![]).into_result().is_ok());
}

// --- the same checks on PostgreSQL -------------------------------------------

mod postgres;
