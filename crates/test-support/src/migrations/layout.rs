//! [`check_layout`]: the migrations directory has one head.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diesel::migration::MigrationSource;
use diesel::sqlite::Sqlite;

use super::{Findings, migration_names};

/// One migration folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationDir {
    /// `2026-11-25-000001_create_users`
    pub name: String,
    /// `20261125000001`
    pub version: String,
    pub path: PathBuf,
}

/// `YYYY-MM-DD-HHMMSS_name` with a real date and time and a snake_case
/// name; returns the version (the digits).
fn parse_name(name: &str) -> Result<String, &'static str> {
    const FORMAT: &str = "is not named YYYY-MM-DD-HHMMSS_snake_case_name";
    let Some((stamp, label)) = name.split_once('_') else {
        return Err(FORMAT);
    };
    let parts: Vec<&str> = stamp.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lengths != [4, 2, 2, 6] || !parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
        return Err(FORMAT);
    }
    if label.is_empty()
        || !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(FORMAT);
    }
    let number = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);
    let (month, day) = (number(parts[1]), number(parts[2]));
    let time = parts[3];
    let (hour, minute, second) = (number(&time[..2]), number(&time[2..4]), number(&time[4..]));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err("has a timestamp that is not a real date and time");
    }
    Ok(parts.concat())
}

/// Whether `sql` has a statement once comments and whitespace are gone.
fn has_statement(sql: &str) -> bool {
    !super::snapshot::normalise_sql(sql)
        .trim_matches(|c: char| c == ';' || c.is_whitespace())
        .is_empty()
}

/// Checks the migrations directory `dir`: every sub-directory is named
/// `YYYY-MM-DD-HHMMSS_name` with a real timestamp, versions are unique (so
/// they order strictly: one head), and each has an `up.sql` with a
/// statement and a `down.sql` with a statement — unless its name is in
/// `irreversible`, the allow-list of migrations that may not be reverted
/// (empty for Promptyard). Returns the migrations in version order.
pub fn check_layout(dir: &Path, irreversible: &[&str]) -> Result<Vec<MigrationDir>, Findings> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Findings::one(format!("cannot read {}: {e}", dir.display())))?;
    let mut findings = Vec::new();
    let mut migrations = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let version = match parse_name(&name) {
            Ok(version) => version,
            Err(problem) => {
                findings.push(format!("migration {name} {problem}"));
                continue;
            }
        };
        let read = |file: &str| std::fs::read_to_string(path.join(file)).ok();
        match read("up.sql") {
            None => findings.push(format!("migration {name} has no up.sql")),
            Some(sql) if !has_statement(&sql) => {
                findings.push(format!("migration {name} has an empty up.sql"))
            }
            Some(_) => {}
        }
        if !irreversible.contains(&name.as_str()) {
            match read("down.sql") {
                None => findings.push(format!(
                    "migration {name} has no down.sql (list it as irreversible if it cannot have one)"
                )),
                Some(sql) if !has_statement(&sql) => findings.push(format!(
                    "migration {name} has an empty down.sql (list it as irreversible if it cannot have one)"
                )),
                Some(_) => {}
            }
        }
        migrations.push(MigrationDir {
            name,
            version,
            path,
        });
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version).then(a.name.cmp(&b.name)));
    let mut by_version: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in &migrations {
        by_version.entry(&m.version).or_default().push(&m.name);
    }
    for (version, names) in by_version {
        if names.len() > 1 {
            findings.push(format!(
                "version {version} is shared by {}: more than one head (diesel would silently run only one)",
                names.join(" and ")
            ));
        }
    }
    for name in irreversible {
        if !migrations.iter().any(|m| m.name == *name) {
            findings.push(format!(
                "the irreversible list names {name}, which does not exist"
            ));
        }
    }
    Findings(findings).into_result().map(|()| migrations)
}

/// The migrations `source` holds (e.g. `embed_migrations!`) are exactly the
/// directory's: none missing, none extra (an embedded list goes stale when a
/// build script forgets `cargo:rerun-if-changed`).
pub fn check_embedded_matches_layout<S: MigrationSource<Sqlite>>(
    source: &S,
    layout: &[MigrationDir],
) -> Result<(), Findings> {
    let embedded: Vec<String> = migration_names(source)?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let on_disk: Vec<String> = layout.iter().map(|m| m.name.clone()).collect();
    let mut findings = Vec::new();
    for name in &on_disk {
        if !embedded.contains(name) {
            findings.push(format!("migration {name} is on disk but not embedded"));
        }
    }
    for name in &embedded {
        if !on_disk.contains(name) {
            findings.push(format!("migration {name} is embedded but not on disk"));
        }
    }
    Findings(findings).into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_carry_a_real_timestamp_and_a_snake_case_label() {
        assert_eq!(
            parse_name("2026-11-25-000001_create_users"),
            Ok("20261125000001".to_owned())
        );
        for bad in [
            "create_users",
            "2026-11-25_create_users",
            "2026-11-25-000001",
            "2026-11-25-000001_",
            "2026-11-25-000001_Create-Users",
            "26-11-25-000001_x",
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_name("2026-13-25-000001_x"),
            Err("has a timestamp that is not a real date and time")
        );
        assert!(parse_name("2026-11-25-246000_x").is_err());
    }

    #[test]
    fn a_file_of_comments_has_no_statement() {
        assert!(!has_statement("-- nothing to undo\n  /* really */ \n;"));
        assert!(has_statement("-- undo\nDROP TABLE x;"));
    }
}
