//! The models match the DDL: `schema.rs` against the migrated database, and
//! the invariants of that database.

use std::path::Path;

use promptyard_db_models::MIGRATIONS;
use promptyard_test_support::TestDb;
use promptyard_test_support::migrations::{
    check_schema_invariants, check_schema_rs, migrate_to_head,
};

use crate::Db;

#[test]
fn schema_rs_matches_the_migrated_database() {
    // One schema.rs for both backends.
    let schema_rs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/db-models/src/schema.rs"),
    )
    .expect("schema.rs");
    for db in Db::empty_on_each_backend("schema.rs") {
        db.migrate_to_head();
        with_conn!(&db, |conn, _migrations| check_schema_rs(conn, &schema_rs))
            .unwrap_or_else(|f| db.fail(&f));
    }
}

#[test]
fn every_foreign_key_is_indexed_and_the_database_checks_clean() {
    // SQLite only: the check reads PRAGMAs.
    let test_db = TestDb::empty();
    let mut conn = test_db.sqlite_conn();
    migrate_to_head(&mut conn, MIGRATIONS).unwrap_or_else(|f| panic!("\n{f}"));
    check_schema_invariants(&mut conn).unwrap_or_else(|f| panic!("\n{f}"));
}
