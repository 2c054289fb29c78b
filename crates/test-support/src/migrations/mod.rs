//! Migration checks for any diesel project on SQLite or PostgreSQL: what
//! pytest-alembic gives Python, for `diesel_migrations`.
//!
//! diesel_migrations runs migrations (`run_pending_migrations`,
//! `run_next_migration`, `revert_last_migration`, ...) but checks nothing
//! about them. Each function here is one check; each returns the
//! [`Findings`] that make it fail, in sentences that name the migration,
//! table, column or index at fault.
//!
//! | check | function |
//! |---|---|
//! | one head: versions unique and ordered, names well formed, an `up.sql` and a non-empty `down.sql` each | [`check_layout`] |
//! | the embedded list is the directory's list | [`check_embedded_matches_layout`] |
//! | empty → head, down one, down all, head again | [`check_upgrade_downgrade`] |
//! | every migration's down undoes its up exactly | [`check_up_down_consistency`] |
//! | `schema.rs` matches the live schema | [`check_schema_rs`] |
//! | foreign keys indexed, `foreign_key_check` and `integrity_check` clean (SQLite) | [`check_schema_invariants`] |
//! | data written at one version survives to head | [`migrate_to`] then [`migrate_to_head`] |
//!
//! The checks but the last take any [`CheckConnection`]: a
//! `SqliteConnection` with `MigrationSource<Sqlite>`, or a `PgConnection`
//! with `MigrationSource<Pg>`.
//!
//! The schema is compared through [`SchemaSnapshot`]. On SQLite: every
//! table, index, trigger and view in `sqlite_schema` (SQL normalised), plus
//! `PRAGMA table_info`, `foreign_key_list` and `index_list` of each table.
//! On PostgreSQL ([`SchemaSnapshot::capture_postgres`]): the same shapes
//! read from `pg_catalog` for the schema `public`, and every table, index,
//! constraint (checks included), view, sequence, trigger, function, type,
//! collation and extension with its definition.
//!
//! Run every check on a fresh, empty database with production settings: on
//! SQLite a file with the production PRAGMAs (a
//! [`TestDb::empty`](crate::TestDb::empty)), so a migration that only works,
//! or only fails, under WAL or with foreign keys on is caught here; on
//! PostgreSQL a new database
//! ([`PgTestDatabase::empty`](crate::postgres::PgTestDatabase::empty)).

mod backend;
mod layout;
mod schema_rs;
mod snapshot;
mod snapshot_pg;

use std::fmt;

use diesel::SqliteConnection;
use diesel::backend::Backend;
use diesel::migration::{Migration, MigrationSource};
use diesel::prelude::*;
use diesel::sqlite::Sqlite;

pub use backend::CheckConnection;

pub use layout::{MigrationDir, check_embedded_matches_layout, check_layout};
pub use schema_rs::{
    SchemaRs, TableDef, check_schema_rs, diesel_type_for, diesel_type_for_postgres,
};
pub use snapshot::{ColumnShape, ForeignKeyShape, IndexShape, SchemaSnapshot, TableShape};

/// What a check found wrong, one sentence each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings(pub Vec<String>);

impl Findings {
    /// `Ok(())` when nothing was found.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// One finding.
    pub fn one(finding: impl Into<String>) -> Self {
        Self(vec![finding.into()])
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.0 {
            writeln!(f, "- {finding}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Findings {}

fn failed(context: &str, err: impl fmt::Display) -> Findings {
    Findings::one(format!("{context}: {err}"))
}

/// The migrations of `source`, oldest first, as (name, version).
pub fn migration_names<S: MigrationSource<Sqlite>>(
    source: &S,
) -> Result<Vec<(String, String)>, Findings> {
    names_of::<Sqlite, S>(source)
}

/// [`migration_names`] for a source of any backend.
fn names_of<DB: Backend, S: MigrationSource<DB>>(
    source: &S,
) -> Result<Vec<(String, String)>, Findings> {
    let migrations: Vec<Box<dyn Migration<DB>>> = source
        .migrations()
        .map_err(|e| failed("cannot list the migrations", e))?;
    let mut names: Vec<(String, String)> = migrations
        .iter()
        .map(|m| (m.name().to_string(), m.name().version().to_string()))
        .collect();
    names.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(names)
}

/// A source by reference, so the harness (which takes sources by value)
/// can be handed the same one again and again.
#[derive(Clone, Copy)]
struct ByRef<'a, S>(&'a S);

impl<DB: Backend, S: MigrationSource<DB>> MigrationSource<DB> for ByRef<'_, S> {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        self.0.migrations()
    }
}

fn applied<C: CheckConnection>(conn: &mut C) -> Result<Vec<String>, Findings> {
    conn.applied_migrations()
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| failed("cannot read the applied migrations", e))
}

fn snapshot<C: CheckConnection>(conn: &mut C, when: &str) -> Result<SchemaSnapshot, Findings> {
    conn.capture_schema()
        .map_err(|e| failed(&format!("cannot read the schema {when}"), e))
}

/// Runs one step of a check; a failure ends the check with the findings
/// gathered so far plus this one.
fn step<T>(
    findings: &mut Vec<String>,
    what: &str,
    result: Result<T, impl fmt::Display>,
) -> Result<T, Findings> {
    result.map_err(|e| {
        findings.push(format!("{what}: {e}"));
        Findings(std::mem::take(findings))
    })
}

/// Runs every pending migration (a failure ends the check with the finding
/// `failure`), then snapshots the schema (`when`, for an error message).
fn upgrade_and_snapshot<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: &S,
    findings: &mut Vec<String>,
    failure: &str,
    when: &str,
) -> Result<SchemaSnapshot, Findings> {
    step(
        findings,
        failure,
        conn.run_pending_migrations(ByRef(source)).map(drop),
    )?;
    snapshot(conn, when)
}

/// Empty → head; down one step; down all steps; head again. Each step must
/// succeed, leave the expected number of migrations applied, and the last
/// must reproduce the first head's schema.
pub fn check_upgrade_downgrade<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: &S,
) -> Result<(), Findings> {
    let total = names_of(source)?.len();
    let mut findings = Vec::new();
    let empty = snapshot(conn, "before any migration")?;

    let head = upgrade_and_snapshot(
        conn,
        source,
        &mut findings,
        "upgrading an empty database to head failed",
        "at head",
    )?;
    let at_head = applied(conn)?.len();
    if at_head != total {
        findings.push(format!("{at_head} of {total} migrations applied at head"));
    }
    if total > 0 {
        step(
            &mut findings,
            "downgrading one step from head failed",
            conn.revert_last_migration(ByRef(source)).map(drop),
        )?;
        if applied(conn)?.len() != total - 1 {
            findings.push("downgrading one step did not revert exactly one migration".to_owned());
        }
    }
    down_to_empty_and_back(conn, source, &empty, &head, findings)
}

/// For every migration in order: snapshot, run it up, run it down,
/// snapshot again and require the two to be equal, then run it up again.
/// Finally all the way down to an empty schema and back up to the same
/// head. A `down.sql` that forgets an index, a column or a trigger fails
/// with a finding naming it (and the check stops at that migration: what
/// follows would only repeat it).
pub fn check_up_down_consistency<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: &S,
) -> Result<(), Findings> {
    let names = names_of(source)?;
    let mut findings = Vec::new();
    let empty = snapshot(conn, "before any migration")?;
    for (name, _) in &names {
        let before = snapshot(conn, &format!("before {name}"))?;
        step(
            &mut findings,
            &format!("{name}: up failed"),
            conn.run_next_migration(ByRef(source)).map(drop),
        )?;
        step(
            &mut findings,
            &format!("{name}: down failed"),
            conn.revert_last_migration(ByRef(source)).map(drop),
        )?;
        let after = snapshot(conn, &format!("after reverting {name}"))?;
        let differences = before.diff("before its up", &after, "after its down");
        if !differences.is_empty() {
            findings.extend(differences.into_iter().map(|d| format!("{name}: {d}")));
            return Err(Findings(findings));
        }
        step(
            &mut findings,
            &format!("{name}: up again after down failed"),
            conn.run_next_migration(ByRef(source)).map(drop),
        )?;
    }
    let head = snapshot(conn, "at head")?;
    down_to_empty_and_back(conn, source, &empty, &head, findings)
}

/// All the way down (nothing may remain applied, and the schema must be
/// `empty`'s again), then back up to a schema equal to `head`'s.
fn down_to_empty_and_back<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: &S,
    empty: &SchemaSnapshot,
    head: &SchemaSnapshot,
    mut findings: Vec<String>,
) -> Result<(), Findings> {
    step(
        &mut findings,
        "downgrading all the way failed",
        conn.revert_all_migrations(ByRef(source)).map(drop),
    )?;
    if !applied(conn)?.is_empty() {
        findings.push("migrations remain applied after downgrading all".to_owned());
    }
    let bottom = snapshot(conn, "after all downgrades")?;
    findings.extend(empty.diff("before any migration", &bottom, "after downgrading all"));
    let again = upgrade_and_snapshot(
        conn,
        source,
        &mut findings,
        "upgrading to head again failed",
        "at head again",
    )?;
    findings.extend(head.diff("at head", &again, "at head again"));
    Findings(findings).into_result()
}

/// Applies pending migrations up to and including the one whose name or
/// version is `target` (pytest-alembic's `at_revision_data`: stop there,
/// write rows with plain SQL, then [`migrate_to_head`]).
pub fn migrate_to<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: &S,
    target: &str,
) -> Result<(), Findings> {
    let names = names_of(source)?;
    let Some(position) = names
        .iter()
        .position(|(name, version)| name == target || version == target)
    else {
        return Err(Findings::one(format!("no migration named {target}")));
    };
    let done = applied(conn)?;
    for (name, version) in &names[..=position] {
        if !done.contains(version) {
            conn.run_next_migration(ByRef(source))
                .map_err(|e| failed(&format!("{name}: up failed"), e))?;
        }
    }
    Ok(())
}

/// Applies every pending migration.
pub fn migrate_to_head<C: CheckConnection, S: MigrationSource<C::Db>>(
    conn: &mut C,
    source: S,
) -> Result<(), Findings> {
    conn.run_pending_migrations(source)
        .map(drop)
        .map_err(|e| failed("upgrading to head failed", e))
}

/// Invariants of the live SQLite schema: every foreign key's child columns are
/// indexed (the leading columns of some index), and `PRAGMA
/// foreign_key_check` and `PRAGMA integrity_check` report nothing.
pub fn check_schema_invariants(conn: &mut SqliteConnection) -> Result<(), Findings> {
    let snapshot = snapshot(conn, "for its invariants")?;
    let mut findings = Vec::new();
    for (table, shape) in &snapshot.tables {
        for fk in shape.foreign_keys_grouped() {
            let indexed = shape.indexes.iter().any(|index| {
                index.columns.len() >= fk.from.len()
                    && index.columns[..fk.from.len()] == fk.from[..]
            });
            if !indexed {
                findings.push(format!(
                    "table {table}: foreign key ({}) -> {} has no index on its child column(s)",
                    fk.from.join(", "),
                    fk.table
                ));
            }
        }
    }
    #[derive(QueryableByName)]
    struct FkViolation {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        parent: String,
    }
    let violations = diesel::sql_query("PRAGMA foreign_key_check")
        .load::<FkViolation>(conn)
        .map_err(|e| failed("PRAGMA foreign_key_check failed", e))?;
    findings.extend(violations.into_iter().map(|v| {
        format!(
            "foreign_key_check: a row of {} references a missing row of {}",
            v.table, v.parent
        )
    }));
    #[derive(QueryableByName)]
    struct Integrity {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let integrity = diesel::sql_query("PRAGMA integrity_check")
        .load::<Integrity>(conn)
        .map_err(|e| failed("PRAGMA integrity_check failed", e))?;
    findings.extend(
        integrity
            .into_iter()
            .map(|row| row.integrity_check)
            .filter(|line| line != "ok")
            .map(|line| format!("integrity_check: {line}")),
    );
    Findings(findings).into_result()
}

#[cfg(test)]
mod tests;
