//! [`check_schema_rs`]: diesel's `schema.rs` against the live schema.
//!
//! `schema.rs` is what the Rust code compiles against; the migrations are
//! what the database has. This reads the `table!` and `joinable!` blocks of
//! a `schema.rs` (as `diesel print-schema` writes them) and compares them,
//! table for table and column for column, with the migrated database:
//! names, SQL types (mapped from the declared SQLite types the way
//! print-schema maps them), nullability, primary keys, and the `joinable!`
//! lines print-schema would write for the foreign keys.

use std::collections::BTreeSet;

mod parse;

use self::parse::{Parser, Token, tokenize};
use super::backend::CheckConnection;
use super::snapshot::SchemaSnapshot;
use super::{Findings, failed};

/// A column of a `table!` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    /// The SQL type's last path segment, aliases resolved (`Text`, `Integer`, ...).
    pub sql_type: String,
    pub nullable: bool,
}

/// A `table!` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The table's SQL name (`#[sql_name]` if given).
    pub name: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<ColumnDef>,
}

/// The tables and `joinable!` lines of a `schema.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaRs {
    pub tables: Vec<TableDef>,
    /// `(child, parent, foreign key column)`.
    pub joinables: Vec<(String, String, String)>,
}

/// The diesel SQL type `diesel print-schema` writes for a column declared
/// with this SQLite type (the same rules as diesel_cli 2.3), or `None` if
/// print-schema refuses the type.
pub fn diesel_type_for(declared: &str) -> Option<&'static str> {
    let t = declared.to_lowercase();
    let t = if t == "generated always" {
        String::new()
    } else {
        t
    };
    let has = |s: &str| t.contains(s);
    Some(
        if t == "boolean" || t == "bool" || (has("tiny") && has("int")) {
            "Bool"
        } else if t == "int2" || (has("small") && has("int")) {
            "SmallInt"
        } else if t == "int8" || (has("big") && has("int")) {
            "BigInt"
        } else if has("int") {
            "Integer"
        } else if has("char") || has("clob") || has("text") {
            "Text"
        } else if has("blob") || has("binary") || t.is_empty() {
            "Binary"
        } else if has("float") || has("real") {
            "Float"
        } else if has("double") || has("num") || has("dec") {
            "Double"
        } else if t == "datetime" || t == "timestamp" {
            "Timestamp"
        } else if t == "date" {
            "Date"
        } else if t == "time" {
            "Time"
        } else {
            return None;
        },
    )
}

/// The diesel SQL type `diesel print-schema` writes for a PostgreSQL
/// column of this type (as `format_type` spells it: `integer`, `character
/// varying(20)`, `timestamp without time zone`, ...), aliases resolved as
/// `canonical_type` does (print-schema's `Int4` is `Integer`, `Bytea` is
/// `Binary`, `Varchar` is `Text`), or `None` for a type this check does not
/// know.
pub fn diesel_type_for_postgres(declared: &str) -> Option<&'static str> {
    let t = declared.to_lowercase();
    if t.ends_with("[]") {
        return Some("Array");
    }
    // The type without its modifiers: `character varying(20)`,
    // `numeric(10,2)`, `timestamp(3) without time zone`.
    let mut base = String::new();
    let mut depth = 0;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => base.push(c),
            _ => {}
        }
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match base.as_str() {
        "smallint" | "int2" => "SmallInt",
        "integer" | "int" | "int4" => "Integer",
        "bigint" | "int8" => "BigInt",
        "boolean" | "bool" => "Bool",
        "text" | "character varying" | "varchar" | "name" => "Text",
        "character" | "char" | "bpchar" => "Text",
        "real" | "float4" => "Float",
        "double precision" | "float8" => "Double",
        "numeric" | "decimal" => "Numeric",
        "bytea" => "Binary",
        "timestamp without time zone" | "timestamp" => "Timestamp",
        "timestamp with time zone" | "timestamptz" => "Timestamptz",
        "date" => "Date",
        "time without time zone" | "time" => "Time",
        "interval" => "Interval",
        "uuid" => "Uuid",
        "json" => "Json",
        "jsonb" => "Jsonb",
        "oid" => "Oid",
        "money" => "Money",
        "inet" => "Inet",
        "cidr" => "Cidr",
        "macaddr" => "MacAddr",
        "macaddr8" => "MacAddr8",
        _ => return None,
    })
}

/// diesel's aliases, resolved to the names print-schema writes.
fn canonical_type(name: &str) -> &str {
    match name {
        "VarChar" | "Varchar" | "Bpchar" => "Text",
        "Int2" => "SmallInt",
        "Int4" => "Integer",
        "Int8" => "BigInt",
        "Float4" => "Float",
        "Float8" => "Double",
        "Blob" | "Bytea" => "Binary",
        other => other,
    }
}

impl SchemaRs {
    /// Reads the `table!` and `joinable!` blocks of a `schema.rs`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            pos: 0,
        };
        let mut schema = Self::default();
        while let Some(token) = parser.next() {
            let Token::Ident(word) = token else { continue };
            if !parser.is_punct("!") {
                continue;
            }
            match word.as_str() {
                "table" => {
                    parser.next();
                    schema.tables.push(parser.table_body()?);
                }
                "joinable" => {
                    parser.next();
                    schema.joinables.push(parser.joinable()?);
                }
                _ => {}
            }
        }
        Ok(schema)
    }
}

/// The `joinable!` lines print-schema would write for the live schema:
/// single-column foreign keys to a single-column primary key, between two
/// tables of the schema, not self-referencing, and at most one between a
/// pair of tables.
fn expected_joinables(snapshot: &SchemaSnapshot) -> BTreeSet<(String, String, String)> {
    let mut candidates = Vec::new();
    for (child, shape) in &snapshot.tables {
        for fk in shape.foreign_keys_grouped() {
            let Some(parent) = snapshot.tables.get(&fk.table) else {
                continue;
            };
            let parent_pk = parent.primary_key();
            let to_pk = match fk.to.first() {
                Some(Some(to)) => parent_pk.len() == 1 && parent_pk[0] == *to,
                _ => parent_pk.len() == 1,
            };
            if fk.from.len() == 1 && *child != fk.table && to_pk {
                candidates.push((child.clone(), fk.table.clone(), fk.from[0].clone()));
            }
        }
    }
    let pair = |(a, b, _): &(String, String, String)| {
        if a < b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        }
    };
    candidates
        .iter()
        .filter(|c| candidates.iter().filter(|d| pair(d) == pair(c)).count() == 1)
        .cloned()
        .collect()
}

/// Compares the `schema.rs` text with the schema of the database behind
/// `conn` (migrated to head). Finds: a table or column on one side only, a
/// type or nullability that differs, a different primary key, a missing or
/// extra `joinable!`.
///
/// On PostgreSQL, types map as `diesel print-schema` maps them there
/// ([`diesel_type_for_postgres`]); on SQLite, as
/// [`diesel_type_for`] says.
pub fn check_schema_rs<C: CheckConnection>(conn: &mut C, schema_rs: &str) -> Result<(), Findings> {
    let declared = SchemaRs::parse(schema_rs).map_err(Findings::one)?;
    let live = conn
        .capture_schema()
        .map_err(|e| failed("cannot read the schema", e))?;
    let mut findings = Vec::new();
    for table in &declared.tables {
        let Some(shape) = live.tables.get(&table.name) else {
            findings.push(format!(
                "table {} is in schema.rs but not in the database",
                table.name
            ));
            continue;
        };
        for column in &table.columns {
            let Some(live_column) = shape.columns.iter().find(|c| c.name == column.name) else {
                findings.push(format!(
                    "column {}.{} is in schema.rs but not in the database",
                    table.name, column.name
                ));
                continue;
            };
            match C::diesel_type(&live_column.declared_type) {
                None => findings.push(format!(
                    "column {}.{}: the database declares type {:?}, which diesel print-schema does not support",
                    table.name, column.name, live_column.declared_type
                )),
                Some(live_type) if live_type != column.sql_type => findings.push(format!(
                    "column {}.{}: schema.rs says {}, the database declares {:?} ({live_type})",
                    table.name, column.name, column.sql_type, live_column.declared_type
                )),
                Some(_) => {}
            }
            let live_nullable = live_column.notnull == 0;
            if live_nullable != column.nullable {
                let says = |nullable: bool| if nullable { "nullable" } else { "NOT NULL" };
                findings.push(format!(
                    "column {}.{}: schema.rs says {}, the database says {}",
                    table.name,
                    column.name,
                    says(column.nullable),
                    says(live_nullable)
                ));
            }
        }
        for live_column in &shape.columns {
            if !table.columns.iter().any(|c| c.name == live_column.name) {
                findings.push(format!(
                    "column {}.{} is in the database but not in schema.rs",
                    table.name, live_column.name
                ));
            }
        }
        let mut live_pk = shape.primary_key();
        if let (true, Some(implicit)) = (live_pk.is_empty(), C::IMPLICIT_PRIMARY_KEY) {
            live_pk.push(implicit.to_owned());
        }
        if live_pk != table.primary_key {
            findings.push(format!(
                "table {}: schema.rs names the primary key ({}), the database ({})",
                table.name,
                table.primary_key.join(", "),
                live_pk.join(", ")
            ));
        }
    }
    for table in live.tables.keys() {
        if !declared.tables.iter().any(|t| t.name == *table) {
            findings.push(format!(
                "table {table} is in the database but not in schema.rs"
            ));
        }
    }
    let expected = expected_joinables(&live);
    let written: BTreeSet<(String, String, String)> = declared.joinables.iter().cloned().collect();
    for (child, parent, column) in expected.difference(&written) {
        findings.push(format!(
            "schema.rs lacks diesel::joinable!({child} -> {parent} ({column})) for the database's foreign key"
        ));
    }
    for (child, parent, column) in written.difference(&expected) {
        findings.push(format!(
            "schema.rs has diesel::joinable!({child} -> {parent} ({column})) but the database has no such foreign key"
        ));
    }
    Findings(findings).into_result()
}

#[cfg(test)]
mod tests;
