//! The same checks on PostgreSQL: the good history passes, and a copy of it
//! broken in one way fails, naming the fault. Each test needs
//! `PROMPTYARD_TEST_POSTGRES_URL` and says so when it is not set.

use diesel::PgConnection;

use super::*;
use crate::postgres::{POSTGRES_URL_VAR, PgTestDatabase, admin_url};

/// An empty PostgreSQL database and a connection to it, or `None` (said
/// on stderr) when no server is configured.
fn empty_pg(test: &str) -> Option<(PgTestDatabase, PgConnection)> {
    let Some(admin) = admin_url() else {
        eprintln!("{test}: {POSTGRES_URL_VAR} is not set: skipped on PostgreSQL");
        return None;
    };
    let db = PgTestDatabase::empty(&admin);
    let conn = db.conn();
    Some((db, conn))
}

fn pg_head(copy: &Copy, test: &str) -> Option<(PgTestDatabase, PgConnection)> {
    let (db, mut conn) = empty_pg(test)?;
    migrate_to_head(&mut conn, copy.source()).expect("to head");
    Some((db, conn))
}

type PgCheck = fn(&mut PgConnection, &FileBasedMigrations) -> Result<(), Findings>;

/// [`findings_of_broken`] on PostgreSQL.
fn pg_findings_of_broken(
    test: &str,
    check: PgCheck,
    broken: &[(&str, &str, &str)],
    needle: &str,
) -> Option<Findings> {
    let copy = Copy::good();
    for (migration, file, sql) in broken {
        copy.write(migration, file, sql);
    }
    let (_db, mut conn) = empty_pg(test)?;
    Some(expect_findings(check(&mut conn, &copy.source()), needle))
}

#[test]
fn the_good_history_passes_every_check_on_postgres() {
    let copy = Copy::good();
    let Some((_db, mut conn)) = empty_pg("good history") else {
        return;
    };
    check_upgrade_downgrade(&mut conn, &copy.source()).expect("up/down");
    let (_db2, mut conn2) = empty_pg("good history").expect("configured above");
    check_up_down_consistency(&mut conn2, &copy.source()).expect("consistency");
    check_schema_rs(&mut conn2, &good_schema_rs()).expect("schema.rs matches");
}

#[test]
fn a_postgres_snapshot_has_the_keys_indexes_and_constraints() {
    let copy = Copy::good();
    let Some((_db, mut conn)) = pg_head(&copy, "snapshot") else {
        return;
    };
    let snapshot = SchemaSnapshot::capture_postgres(&mut conn).expect("snapshot");
    assert_eq!(
        snapshot.tables.keys().collect::<Vec<_>>(),
        ["authors", "books"],
        "diesel's table is left out"
    );
    let books = &snapshot.tables["books"];
    assert_eq!(books.primary_key(), ["id"]);
    let columns: Vec<(&str, &str, i32)> = books
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.declared_type.as_str(), c.notnull))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "integer", 1),
            ("author_id", "integer", 1),
            ("title", "text", 1),
            ("published_at", "timestamp without time zone", 0),
            ("isbn", "text", 0),
        ]
    );
    let fk = &books.foreign_keys[0];
    assert_eq!(
        (fk.from.as_str(), fk.table.as_str(), fk.to.as_deref()),
        ("author_id", "authors", Some("id"))
    );
    assert_eq!(
        (fk.on_delete.as_str(), fk.on_update.as_str()),
        ("CASCADE", "NO ACTION")
    );
    let indexes: Vec<(&str, &str, bool, Vec<String>)> = books
        .indexes
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                i.origin.as_str(),
                i.unique,
                i.columns.clone(),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        [
            ("books_author_id_idx", "c", false, vec!["author_id".into()]),
            ("books_pkey", "pk", true, vec!["id".into()]),
            ("books_title_idx", "c", false, vec!["title".into()]),
        ]
    );
    assert!(
        snapshot.tables["authors"]
            .indexes
            .iter()
            .any(|i| i.name == "authors_name_key" && i.unique && i.columns == ["name"])
    );
    assert_eq!(
        snapshot.objects["constraint books.books_author_id_fkey"],
        "foreign key: FOREIGN KEY (author_id) REFERENCES authors(id) ON DELETE CASCADE"
    );
    assert!(
        !snapshot.objects.keys().any(|k| k.contains("__diesel")),
        "{:?}",
        snapshot.objects.keys()
    );
}

#[test]
fn a_failing_down_sql_fails_the_downgrade_on_postgres() {
    pg_findings_of_broken(
        "failing down.sql",
        check_upgrade_downgrade,
        &[(
            "2024-01-03-000001_add_books_isbn",
            "down.sql",
            "DROP TABLE no_such_table;",
        )],
        "downgrading one step from head failed",
    );
}

#[test]
fn a_down_sql_that_skips_an_index_a_column_or_a_check_is_named_on_postgres() {
    const ISBN: &str = "2024-01-03-000001_add_books_isbn";
    let up_with_check = "ALTER TABLE books ADD COLUMN isbn TEXT; \
         ALTER TABLE books ADD CONSTRAINT books_title_not_blank CHECK (title <> ''); \
         CREATE INDEX books_title_idx ON books (title);";
    for (broken, needle) in [
        (
            vec![(ISBN, "down.sql", "ALTER TABLE books DROP COLUMN isbn;")],
            "index books_title_idx: exists after its down but not before its up",
        ),
        (
            vec![(ISBN, "down.sql", "DROP INDEX books_title_idx;")],
            "table books: column isbn exists after its down but not before its up",
        ),
        (
            vec![
                (ISBN, "up.sql", up_with_check),
                (
                    ISBN,
                    "down.sql",
                    "DROP INDEX books_title_idx; ALTER TABLE books DROP COLUMN isbn;",
                ),
            ],
            "constraint books.books_title_not_blank: exists after its down but not before its up",
        ),
        (
            vec![(
                ISBN,
                "down.sql",
                "DROP INDEX books_title_idx; ALTER TABLE books DROP COLUMN isbn; \
                 ALTER TABLE books ALTER COLUMN published_at SET DEFAULT now();",
            )],
            "table books: column published_at differs",
        ),
    ] {
        let Some(findings) = pg_findings_of_broken(
            "broken down.sql",
            check_up_down_consistency,
            &broken,
            needle,
        ) else {
            return;
        };
        assert!(
            findings
                .0
                .iter()
                .all(|f| f.starts_with(&format!("{ISBN}: "))),
            "every finding names the migration:\n{findings}"
        );
    }
}

#[test]
fn a_down_sql_that_leaves_on_delete_changed_is_named_on_postgres() {
    const ISBN: &str = "2024-01-03-000001_add_books_isbn";
    let up = "ALTER TABLE books ADD COLUMN isbn TEXT; \
         CREATE INDEX books_title_idx ON books (title); \
         ALTER TABLE books DROP CONSTRAINT books_author_id_fkey; \
         ALTER TABLE books ADD CONSTRAINT books_author_id_fkey \
             FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE RESTRICT;";
    pg_findings_of_broken(
        "ON DELETE left changed",
        check_up_down_consistency,
        &[(ISBN, "up.sql", up)],
        "constraint books.books_author_id_fkey: its SQL differs",
    );
}

fn pg_schema_findings(schema_rs: &str, needle: &str) {
    let copy = Copy::good();
    let Some((_db, mut conn)) = pg_head(&copy, "schema.rs mismatch") else {
        return;
    };
    expect_findings(check_schema_rs(&mut conn, schema_rs), needle);
}

#[test]
fn a_schema_rs_that_differs_from_postgres_is_named() {
    pg_schema_findings(
        &good_schema_rs().replace("        title -> Text,", "        title -> Integer,"),
        "column books.title: schema.rs says Integer, the database declares \"text\" (Text)",
    );
    pg_schema_findings(
        &good_schema_rs().replace("bio -> Nullable<Text>", "bio -> Text"),
        "column authors.bio: schema.rs says NOT NULL, the database says nullable",
    );
    pg_schema_findings(
        &good_schema_rs().replace("        bio -> Nullable<Text>,\n", ""),
        "column authors.bio is in the database but not in schema.rs",
    );
    pg_schema_findings(
        &good_schema_rs().replace("authors (id)", "authors (name)"),
        "table authors: schema.rs names the primary key (name), the database (id)",
    );
}

#[test]
fn print_schema_names_for_postgres_types_are_accepted() {
    // What `diesel print-schema` writes on PostgreSQL (Int4, Varchar,
    // Bytea, ...) resolves to the same types as the live columns.
    let Some((_db, mut conn)) = empty_pg("print-schema names") else {
        return;
    };
    use diesel::connection::SimpleConnection;
    conn.batch_execute(
        "CREATE TABLE t (id INT4 PRIMARY KEY, big BIGINT NOT NULL, small SMALLINT, \
         flag BOOLEAN NOT NULL, data BYTEA, at TIMESTAMP NOT NULL, name VARCHAR(20), \
         ratio DOUBLE PRECISION, tags TEXT[])",
    )
    .expect("create");
    let schema = "diesel::table! {\n    t (id) {\n        id -> Int4,\n        big -> Int8,\n        \
         small -> Nullable<Int2>,\n        flag -> Bool,\n        data -> Nullable<Bytea>,\n        \
         at -> Timestamp,\n        name -> Nullable<Varchar>,\n        ratio -> Nullable<Float8>,\n        \
         tags -> Nullable<Array<Nullable<Text>>>,\n    }\n}\n";
    check_schema_rs(&mut conn, schema).expect("print-schema's names match");
    expect_findings(
        check_schema_rs(&mut conn, &schema.replace("big -> Int8", "big -> Int4")),
        "column t.big: schema.rs says Integer, the database declares \"bigint\" (BigInt)",
    );
}
