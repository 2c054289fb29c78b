//! [`SchemaSnapshot`]: the shape of a SQLite schema, comparable and diffable.

use std::collections::BTreeMap;

use diesel::SqliteConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};

/// Tables SQLite or diesel own, never part of a project's schema.
fn is_internal(name: &str) -> bool {
    name.starts_with("sqlite_") || name == "__diesel_schema_migrations"
}

/// One column, from `PRAGMA table_info`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ColumnShape {
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The declared type, as written.
    #[diesel(sql_type = Text, column_name = "type")]
    pub declared_type: String,
    #[diesel(sql_type = Integer)]
    pub notnull: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub dflt_value: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    #[diesel(sql_type = Integer)]
    pub pk: i32,
}

/// One column of one foreign key, from `PRAGMA foreign_key_list`.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ForeignKeyShape {
    #[diesel(sql_type = Integer)]
    pub id: i32,
    #[diesel(sql_type = Integer)]
    pub seq: i32,
    /// The parent table.
    #[diesel(sql_type = Text)]
    pub table: String,
    #[diesel(sql_type = Text)]
    pub from: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub to: Option<String>,
    #[diesel(sql_type = Text)]
    pub on_update: String,
    #[diesel(sql_type = Text)]
    pub on_delete: String,
}

/// A whole foreign key (all its columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub table: String,
    pub from: Vec<String>,
    pub to: Vec<Option<String>>,
}

/// One index, from `PRAGMA index_list` and `index_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    pub name: String,
    pub unique: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    pub origin: String,
    pub partial: bool,
    pub columns: Vec<String>,
}

/// A table's columns, foreign keys and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableShape {
    pub columns: Vec<ColumnShape>,
    pub foreign_keys: Vec<ForeignKeyShape>,
    pub indexes: Vec<IndexShape>,
}

impl TableShape {
    /// The foreign keys with their columns gathered.
    pub fn foreign_keys_grouped(&self) -> Vec<ForeignKey> {
        let mut by_id: BTreeMap<i32, ForeignKey> = BTreeMap::new();
        let mut rows = self.foreign_keys.clone();
        rows.sort_by_key(|r| (r.id, r.seq));
        for row in rows {
            let fk = by_id.entry(row.id).or_insert_with(|| ForeignKey {
                table: row.table.clone(),
                from: Vec::new(),
                to: Vec::new(),
            });
            fk.from.push(row.from);
            fk.to.push(row.to);
        }
        by_id.into_values().collect()
    }

    /// The primary key's columns, in key order.
    pub fn primary_key(&self) -> Vec<String> {
        let mut pk: Vec<&ColumnShape> = self.columns.iter().filter(|c| c.pk > 0).collect();
        pk.sort_by_key(|c| c.pk);
        pk.into_iter().map(|c| c.name.clone()).collect()
    }
}

/// The shape of a schema: every object of `sqlite_schema` with its SQL
/// normalised, and every table's [`TableShape`]. SQLite's and diesel's own
/// tables are left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaSnapshot {
    /// `"table users"`, `"index users_email_key"`, ... → normalised SQL.
    pub objects: BTreeMap<String, String>,
    pub tables: BTreeMap<String, TableShape>,
}

#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = Text, column_name = "type")]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

#[derive(QueryableByName)]
struct IndexListRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    unique: i32,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Integer)]
    partial: i32,
}

#[derive(QueryableByName)]
struct IndexInfoRow {
    #[diesel(sql_type = Integer)]
    seqno: i32,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL with comments removed, whitespace collapsed, and no space inside
/// parentheses or before commas, so formatting alone never differs. String
/// literals and quoted names are kept as they are.
pub(crate) fn normalise_sql(sql: &str) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote_char: Option<char> = None;
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        if let Some(q) = quote_char {
            out.push(c);
            if c == q {
                quote_char = None;
            }
            continue;
        }
        let is_comment =
            (c == '-' && chars.peek() == Some(&'-')) || (c == '/' && chars.peek() == Some(&'*'));
        if is_comment && c == '-' {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            pending_space = true;
            continue;
        }
        if is_comment {
            chars.next();
            let mut last = ' ';
            for c in chars.by_ref() {
                if last == '*' && c == '/' {
                    break;
                }
                last = c;
            }
            pending_space = true;
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let glued = matches!(c, ')' | ',') || out.ends_with('(') || out.is_empty();
        if pending_space && !glued {
            out.push(' ');
        }
        pending_space = false;
        if matches!(c, '\'' | '"' | '`') {
            quote_char = Some(c);
        }
        out.push(c);
    }
    out
}

impl SchemaSnapshot {
    /// Reads the schema of the database behind `conn`.
    pub fn capture(conn: &mut SqliteConnection) -> QueryResult<Self> {
        let rows =
            diesel::sql_query("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
                .load::<SchemaRow>(conn)?;
        let mut snapshot = Self::default();
        for row in rows {
            if is_internal(&row.name) {
                continue;
            }
            let sql = row.sql.as_deref().map(normalise_sql).unwrap_or_default();
            snapshot
                .objects
                .insert(format!("{} {}", row.kind, row.name), sql);
            if row.kind == "table" {
                let table = Self::table(conn, &row.name)?;
                snapshot.tables.insert(row.name, table);
            }
        }
        Ok(snapshot)
    }

    fn table(conn: &mut SqliteConnection, name: &str) -> QueryResult<TableShape> {
        let columns = diesel::sql_query(format!("PRAGMA table_info({})", quote(name)))
            .load::<ColumnShape>(conn)?;
        let foreign_keys = diesel::sql_query(format!("PRAGMA foreign_key_list({})", quote(name)))
            .load::<ForeignKeyShape>(conn)?;
        let mut indexes = Vec::new();
        for index in diesel::sql_query(format!("PRAGMA index_list({})", quote(name)))
            .load::<IndexListRow>(conn)?
        {
            let mut info = diesel::sql_query(format!("PRAGMA index_info({})", quote(&index.name)))
                .load::<IndexInfoRow>(conn)?;
            info.sort_by_key(|i| i.seqno);
            indexes.push(IndexShape {
                name: index.name,
                unique: index.unique != 0,
                origin: index.origin,
                partial: index.partial != 0,
                columns: info
                    .into_iter()
                    .map(|i| i.name.unwrap_or_else(|| "<expression>".to_owned()))
                    .collect(),
            });
        }
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(TableShape {
            columns,
            foreign_keys,
            indexes,
        })
    }

    /// What differs from `self` (taken `label`) to `other` (taken
    /// `other_label`), one sentence per difference; empty when equal.
    pub fn diff(&self, label: &str, other: &Self, other_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (object, sql) in &self.objects {
            match other.objects.get(object) {
                None => out.push(format!("{object}: exists {label} but not {other_label}")),
                Some(other_sql) if other_sql != sql => out.push(format!(
                    "{object}: its SQL differs; {label}: `{sql}`; {other_label}: `{other_sql}`"
                )),
                Some(_) => {}
            }
        }
        for object in other.objects.keys() {
            if !self.objects.contains_key(object) {
                out.push(format!("{object}: exists {other_label} but not {label}"));
            }
        }
        for (table, shape) in &self.tables {
            let Some(other_shape) = other.tables.get(table) else {
                continue;
            };
            diff_list(
                &mut out,
                &format!("table {table}: column"),
                &shape.columns,
                &other_shape.columns,
                |c| c.name.clone(),
                (label, other_label),
            );
            diff_list(
                &mut out,
                &format!("table {table}: foreign key"),
                &shape.foreign_keys,
                &other_shape.foreign_keys,
                |f| {
                    format!(
                        "{} -> {}.{}",
                        f.from,
                        f.table,
                        f.to.as_deref().unwrap_or("<primary key>")
                    )
                },
                (label, other_label),
            );
            diff_list(
                &mut out,
                &format!("table {table}: index"),
                &shape.indexes,
                &other_shape.indexes,
                |i| i.name.clone(),
                (label, other_label),
            );
        }
        out
    }
}

fn diff_list<T: PartialEq + std::fmt::Debug>(
    out: &mut Vec<String>,
    what: &str,
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> String,
    (label, other_label): (&str, &str),
) {
    for item in before {
        match after.iter().find(|a| key(a) == key(item)) {
            None => out.push(format!(
                "{what} {} exists {label} but not {other_label}",
                key(item)
            )),
            Some(other) if other != item => out.push(format!(
                "{what} {} differs; {label}: {item:?}; {other_label}: {other:?}",
                key(item)
            )),
            Some(_) => {}
        }
    }
    for item in after {
        if !before.iter().any(|b| key(b) == key(item)) {
            out.push(format!(
                "{what} {} exists {other_label} but not {label}",
                key(item)
            ));
        }
    }
}
