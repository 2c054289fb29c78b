//! One head; upgrade, downgrade, upgrade again; every down undoes its up.

use promptyard_db_models::{MIGRATIONS, POSTGRES_MIGRATIONS};
use promptyard_test_support::TestDb;
use promptyard_test_support::migrations::{
    MigrationDir, check_embedded_matches_layout, check_layout, check_up_down_consistency,
    check_upgrade_downgrade,
};

use crate::{IRREVERSIBLE, migrations_dir, postgres_migrations_dir};

#[test]
fn there_is_a_single_head_and_every_migration_is_well_formed() {
    let layout = check_layout(&migrations_dir(), IRREVERSIBLE).unwrap_or_else(|f| panic!("\n{f}"));
    assert!(!layout.is_empty());
    check_embedded_matches_layout(&MIGRATIONS, &layout).unwrap_or_else(|f| panic!("\n{f}"));
}

#[test]
fn postgres_has_the_same_migrations_under_the_same_names() {
    let sqlite = check_layout(&migrations_dir(), IRREVERSIBLE).unwrap_or_else(|f| panic!("\n{f}"));
    let postgres =
        check_layout(&postgres_migrations_dir(), IRREVERSIBLE).unwrap_or_else(|f| panic!("\n{f}"));
    check_embedded_matches_layout(&POSTGRES_MIGRATIONS, &postgres)
        .unwrap_or_else(|f| panic!("\n{f}"));
    let names = |layout: &[_]| -> Vec<String> {
        layout
            .iter()
            .map(|m: &MigrationDir| m.name.clone())
            .collect()
    };
    assert_eq!(names(&postgres), names(&sqlite));
}

#[test]
fn upgrade_to_head_downgrade_one_and_all_then_upgrade_again() {
    let test_db = TestDb::empty();
    check_upgrade_downgrade(&mut test_db.sqlite_conn(), &MIGRATIONS)
        .unwrap_or_else(|f| panic!("\n{f}"));
}

#[test]
fn every_down_undoes_its_up_exactly() {
    let test_db = TestDb::empty();
    check_up_down_consistency(&mut test_db.sqlite_conn(), &MIGRATIONS)
        .unwrap_or_else(|f| panic!("\n{f}"));
}
