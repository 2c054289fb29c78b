//! Upgrade to head, downgrade one step and all steps, upgrade again.

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use diesel_migrations::MigrationHarness;
use promptyard_db_models::MIGRATIONS;
use promptyard_test_support::TestDb;

fn tables(conn: &mut SqliteConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    diesel::sql_query(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') \
         AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load::<Name>(conn)
    .expect("schema")
    .into_iter()
    .map(|n| n.name)
    .collect()
}

#[test]
fn upgrade_to_head_downgrade_one_and_all_then_upgrade_again() {
    let test_db = TestDb::empty();
    let conn = &mut test_db.conn();
    let total = MigrationSource::<Sqlite>::migrations(&MIGRATIONS)
        .expect("embedded")
        .len();

    let applied = conn.run_pending_migrations(MIGRATIONS).expect("up");
    assert_eq!(applied.len(), total);
    let at_head = tables(conn);
    assert!(at_head.contains(&"users".to_owned()), "{at_head:?}");

    conn.revert_last_migration(MIGRATIONS).expect("down one");
    assert_eq!(conn.applied_migrations().expect("applied").len(), total - 1);

    conn.revert_all_migrations(MIGRATIONS).expect("down all");
    assert!(tables(conn).is_empty(), "{:?}", tables(conn));

    conn.run_pending_migrations(MIGRATIONS).expect("up again");
    assert_eq!(tables(conn), at_head);
}
