//! One head; upgrade, downgrade, upgrade again; every down undoes its up.

use promptyard_db_models::{MIGRATIONS, POSTGRES_MIGRATIONS};
use promptyard_test_support::migrations::{
    MigrationDir, check_embedded_matches_layout, check_layout, check_up_down_consistency,
    check_upgrade_downgrade,
};

use crate::{Db, IRREVERSIBLE, migrations_dir, postgres_migrations_dir};

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
    for db in Db::empty_on_each_backend("upgrade/downgrade") {
        with_conn!(&db, |conn, migrations| check_upgrade_downgrade(
            conn,
            &migrations
        ))
        .unwrap_or_else(|f| db.fail(&f));
    }
}

#[test]
fn every_down_undoes_its_up_exactly() {
    for db in Db::empty_on_each_backend("up/down consistency") {
        with_conn!(&db, |conn, migrations| check_up_down_consistency(
            conn,
            &migrations
        ))
        .unwrap_or_else(|f| db.fail(&f));
    }
}
