//! Managing the embedded migrations on one connection: what `promptyard
//! migrate status|up|down [--all]` does.

use std::collections::BTreeMap;

use diesel::migration::{Migration, MigrationSource};
use diesel::sqlite::Sqlite;
use diesel_migrations::MigrationHarness;
use promptyard_db_models::connection::{ConnectionOptions, OpenError};
use promptyard_db_models::migrations::migrations_for;
use promptyard_db_models::{DatabaseUrl, DbConn, MIGRATIONS};

use crate::backend::per_backend;
use crate::error::{BoxError, RepoError};

/// One embedded migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// `2026-11-25-000001_create_users`
    pub name: String,
    /// `20261125000001`
    pub version: String,
    pub applied: bool,
}

/// Why migrating (up or down) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database holds migrations this binary does not know: a newer
    /// release migrated it. Nothing was changed.
    #[error(
        "the database holds migrations this binary does not know ({}): it was migrated by a newer release; nothing was changed",
        .0.join(", ")
    )]
    Unknown(Vec<String>),
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Opens the database file at `path` (creating it if missing) with the
/// production PRAGMAs.
pub fn connect(path: &str) -> Result<DbConn, OpenError> {
    promptyard_db_models::open(path, &ConnectionOptions::read_write()).map(DbConn::Sqlite)
}

/// Opens the database `url` names (a SQLite file is created if missing)
/// with the production settings.
pub fn connect_url(url: &DatabaseUrl) -> Result<DbConn, OpenError> {
    promptyard_db_models::open_url(url, &ConnectionOptions::read_write())
}

fn migration_error(err: BoxError) -> RepoError {
    match err.downcast::<diesel::result::Error>() {
        Ok(err) => RepoError::from(*err),
        Err(err) => RepoError::Unexpected(err),
    }
}

/// The embedded migrations' names by version: oldest first, and looked up
/// by the version the database records. Both backends' directories hold
/// the same versions under the same names (a test checks it), so the
/// SQLite list serves for both.
fn embedded() -> Result<BTreeMap<String, String>, RepoError> {
    let migrations: Vec<Box<dyn Migration<Sqlite>>> =
        MigrationSource::<Sqlite>::migrations(&MIGRATIONS).map_err(migration_error)?;
    Ok(migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

fn name_of(version: &str) -> Result<String, RepoError> {
    Ok(embedded()?
        .remove(version)
        .unwrap_or_else(|| version.to_owned()))
}

fn applied(conn: &mut DbConn) -> Result<Vec<String>, RepoError> {
    Ok(per_backend!(conn, |c| c.applied_migrations())
        .map_err(migration_error)?
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// The versions applied to the database that no embedded migration has
/// (a newer release applied them), oldest first.
pub fn unknown_versions(conn: &mut DbConn) -> Result<Vec<String>, RepoError> {
    let known = embedded()?;
    let mut unknown: Vec<String> = applied(conn)?
        .into_iter()
        .filter(|version| !known.contains_key(version))
        .collect();
    unknown.sort();
    Ok(unknown)
}

/// [`MigrateError::Unknown`] if the database holds versions this binary
/// does not know.
fn refuse_unknown(conn: &mut DbConn) -> Result<(), MigrateError> {
    match unknown_versions(conn)? {
        unknown if unknown.is_empty() => Ok(()),
        unknown => Err(MigrateError::Unknown(unknown)),
    }
}

/// Every embedded migration, oldest first, with whether it is applied
/// (versions it does not know: [`unknown_versions`]).
pub fn status(conn: &mut DbConn) -> Result<Vec<MigrationState>, RepoError> {
    let applied = applied(conn)?;
    Ok(embedded()?
        .into_iter()
        .map(|(version, name)| MigrationState {
            applied: applied.contains(&version),
            name,
            version,
        })
        .collect())
}

/// Applies every pending migration, each in its own transaction; returns
/// their names. Refuses, changing nothing, a database that holds versions
/// this binary does not know.
pub fn apply_pending(conn: &mut DbConn) -> Result<Vec<String>, MigrateError> {
    refuse_unknown(conn)?;
    let versions: Vec<String> = per_backend!(conn, |c| c
        .run_pending_migrations(migrations_for(c))
        .map(|done| done.iter().map(ToString::to_string).collect()))
    .map_err(migration_error)?;
    Ok(versions
        .iter()
        .map(|v| name_of(v))
        .collect::<Result<_, _>>()?)
}

/// Reverts the latest applied migration; returns its name, or `None` if
/// none is applied. Refuses, like [`apply_pending`], a database that holds
/// versions this binary does not know (their `down.sql` is not here).
pub fn revert_last(conn: &mut DbConn) -> Result<Option<String>, MigrateError> {
    refuse_unknown(conn)?;
    if applied(conn)?.is_empty() {
        return Ok(None);
    }
    let version = per_backend!(conn, |c| c
        .revert_last_migration(migrations_for(c))
        .map(|version| version.to_string()))
    .map_err(migration_error)?;
    Ok(name_of(&version).map(Some)?)
}

/// Reverts every applied migration, newest first; returns their names.
pub fn revert_all(conn: &mut DbConn) -> Result<Vec<String>, MigrateError> {
    let mut reverted = Vec::new();
    while let Some(name) = revert_last(conn)? {
        reverted.push(name);
    }
    Ok(reverted)
}

#[cfg(test)]
mod tests {
    use promptyard_test_support::TestDb;

    use super::*;

    #[test]
    fn status_lists_every_migration_oldest_first() {
        let test_db = TestDb::empty();
        let conn = &mut test_db.conn();

        let pending = status(conn).expect("status");
        apply_pending(conn).expect("up");
        let applied = status(conn).expect("status");

        assert!(!pending.is_empty());
        assert!(pending.iter().all(|m| !m.applied));
        assert!(applied.iter().all(|m| m.applied));
        assert_eq!(pending[0].name, "2026-11-25-000001_create_users");
        assert_eq!(pending[0].version, "20261125000001");
        assert!(pending.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn up_down_and_down_all_name_what_they_did() {
        let test_db = TestDb::empty();
        let conn = &mut test_db.conn();
        let all: Vec<String> = status(conn)
            .expect("status")
            .into_iter()
            .map(|m| m.name)
            .collect();

        assert_eq!(apply_pending(conn).expect("up"), all);
        assert!(apply_pending(conn).expect("up again").is_empty());
        assert_eq!(revert_last(conn).expect("down"), all.last().cloned());
        let states = status(conn).expect("status");
        assert!(!states.last().expect("last").applied);
        assert!(states[0].applied);

        let mut newest_first = all.clone();
        newest_first.pop();
        newest_first.reverse();
        assert_eq!(revert_all(conn).expect("down all"), newest_first);
        assert_eq!(revert_last(conn).expect("nothing left"), None);
    }

    #[test]
    fn a_database_migrated_by_a_newer_release_is_refused_both_ways_unchanged() {
        use diesel::connection::SimpleConnection as _;

        let test_db = TestDb::empty();
        let conn = &mut test_db.conn();
        apply_pending(conn).expect("up");
        assert!(unknown_versions(conn).expect("none yet").is_empty());
        // What a newer release leaves behind: versions this one lacks.
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('99990102000000'), ('99990101000000')",
        )
        .expect("a newer release's versions");
        let before = status(conn).expect("status");

        let unknown = unknown_versions(conn).expect("unknown");
        let refused = |result: Result<_, MigrateError>| match result {
            Err(MigrateError::Unknown(versions)) => versions,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            unknown,
            ["99990101000000", "99990102000000"],
            "oldest first"
        );
        assert_eq!(refused(apply_pending(conn).map(|_| ())), unknown);
        assert_eq!(refused(revert_last(conn).map(|_| ())), unknown);
        assert_eq!(refused(revert_all(conn).map(|_| ())), unknown);
        assert_eq!(status(conn).expect("status"), before, "nothing changed");
    }

    #[test]
    fn connect_refuses_what_is_not_a_database_file() {
        let test_db = TestDb::empty();
        let junk = test_db.dir().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).expect("write");
        assert!(connect(junk.to_str().expect("utf-8")).is_err());
    }
}
