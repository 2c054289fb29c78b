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

use diesel::SqliteConnection;

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

/// diesel's aliases, resolved to the names print-schema writes.
fn canonical_type(name: &str) -> &str {
    match name {
        "VarChar" | "Varchar" => "Text",
        "Int2" => "SmallInt",
        "Int4" => "Integer",
        "Int8" => "BigInt",
        "Float4" => "Float",
        "Float8" => "Double",
        "Blob" | "Bytea" => "Binary",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            tokens.push(Token::Str(
                chars[start..i.min(chars.len())].iter().collect(),
            ));
            i += 1;
        } else if c == '-' && next == Some('>') {
            tokens.push(Token::Punct("->"));
            i += 2;
        } else if c == ':' && next == Some(':') {
            tokens.push(Token::Punct("::"));
            i += 2;
        } else {
            let punct = match c {
                '{' => "{",
                '}' => "}",
                '(' => "(",
                ')' => ")",
                '[' => "[",
                ']' => "]",
                '<' => "<",
                '>' => ">",
                ',' => ",",
                ';' => ";",
                '!' => "!",
                '#' => "#",
                '=' => "=",
                '.' => ".",
                '*' => "*",
                _ => return Err(format!("unexpected character {c:?} in schema.rs")),
            };
            tokens.push(Token::Punct(punct));
            i += 1;
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if *q == p)
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(q)) if q == p => Ok(()),
            other => Err(format!("expected `{p}` in schema.rs, found {other:?}")),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(name)) => Ok(name),
            other => Err(format!("expected a name in schema.rs, found {other:?}")),
        }
    }

    /// Skips `#[...]` attributes; returns the `sql_name` one, if any.
    fn attributes(&mut self) -> Result<Option<String>, String> {
        let mut sql_name = None;
        while self.is_punct("#") {
            self.next();
            self.expect_punct("[")?;
            let mut depth = 1;
            let mut inner = Vec::new();
            while depth > 0 {
                match self.next() {
                    Some(Token::Punct("[")) => depth += 1,
                    Some(Token::Punct("]")) => depth -= 1,
                    Some(token) => inner.push(token),
                    None => return Err("unclosed attribute in schema.rs".to_owned()),
                }
            }
            if let [Token::Ident(key), Token::Punct("="), Token::Str(value)] = inner.as_slice()
                && key == "sql_name"
            {
                sql_name = Some(value.clone());
            }
        }
        Ok(sql_name)
    }

    /// A type up to a `,` or `}` at depth 0: `(name, nullable)`.
    fn column_type(&mut self) -> Result<(String, bool), String> {
        let mut idents = Vec::new();
        let mut depth = 0;
        loop {
            match self.peek() {
                Some(Token::Punct(",")) | Some(Token::Punct("}")) if depth == 0 => break,
                None => return Err("unfinished column in schema.rs".to_owned()),
                _ => {}
            }
            match self.next() {
                Some(Token::Punct("<")) => depth += 1,
                Some(Token::Punct(">")) => depth -= 1,
                Some(Token::Ident(name)) => idents.push((name, depth)),
                _ => {}
            }
        }
        // The outermost type is the last identifier at depth 0; with
        // `Nullable<T>`, T is the last identifier at depth 1.
        let outer = idents
            .iter()
            .rev()
            .find(|(_, d)| *d == 0)
            .map(|(n, _)| n.clone())
            .ok_or("a column without a type in schema.rs")?;
        if outer == "Nullable" {
            let inner = idents
                .iter()
                .rev()
                .find(|(_, d)| *d == 1)
                .map(|(n, _)| n.clone())
                .ok_or("Nullable<> without a type in schema.rs")?;
            Ok((canonical_type(&inner).to_owned(), true))
        } else {
            Ok((canonical_type(&outer).to_owned(), false))
        }
    }

    fn table_body(&mut self) -> Result<TableDef, String> {
        self.expect_punct("{")?;
        // `use` lines for custom types.
        while matches!(self.peek(), Some(Token::Ident(word)) if word == "use") {
            while !self.is_punct(";") {
                self.next().ok_or("unfinished use in schema.rs")?;
            }
            self.next();
        }
        let table_sql_name = self.attributes()?;
        let mut name = self.ident()?;
        if self.is_punct(".") {
            self.next();
            name = self.ident()?;
        }
        let mut primary_key = Vec::new();
        if self.is_punct("(") {
            self.next();
            while !self.is_punct(")") {
                match self.next() {
                    Some(Token::Ident(column)) => primary_key.push(column),
                    Some(Token::Punct(",")) => {}
                    other => return Err(format!("unexpected {other:?} in a primary key")),
                }
            }
            self.next();
        } else {
            primary_key.push("id".to_owned());
        }
        self.expect_punct("{")?;
        let mut columns = Vec::new();
        while !self.is_punct("}") {
            let sql_name = self.attributes()?;
            let rust_name = self.ident()?;
            self.expect_punct("->")?;
            let (sql_type, nullable) = self.column_type()?;
            columns.push(ColumnDef {
                name: sql_name.unwrap_or(rust_name),
                sql_type,
                nullable,
            });
            if self.is_punct(",") {
                self.next();
            }
        }
        self.expect_punct("}")?;
        self.expect_punct("}")?;
        Ok(TableDef {
            name: table_sql_name.unwrap_or(name),
            primary_key,
            columns,
        })
    }

    fn joinable(&mut self) -> Result<(String, String, String), String> {
        self.expect_punct("(")?;
        let child = self.ident()?;
        self.expect_punct("->")?;
        let parent = self.ident()?;
        self.expect_punct("(")?;
        let column = self.ident()?;
        self.expect_punct(")")?;
        self.expect_punct(")")?;
        Ok((child, parent, column))
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
pub fn check_schema_rs(conn: &mut SqliteConnection, schema_rs: &str) -> Result<(), Findings> {
    let declared = SchemaRs::parse(schema_rs).map_err(Findings::one)?;
    let live = SchemaSnapshot::capture(conn).map_err(|e| failed("cannot read the schema", e))?;
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
            match diesel_type_for(&live_column.declared_type) {
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
        if live_pk.is_empty() {
            live_pk.push("rowid".to_owned());
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
mod tests {
    use super::*;

    #[test]
    fn print_schema_output_parses() {
        let schema = SchemaRs::parse(
            r#"
// @generated automatically by Diesel CLI.

diesel::table! {
    /// Doc comments are fine.
    posts (id) {
        id -> Integer,
        #[sql_name = "type"]
        kind -> Text,
        body -> Nullable<diesel::sql_types::Text>,
        rating -> diesel::sql_types::Nullable<Float8>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    tags (post_id, name) {
        post_id -> Integer,
        name -> VarChar,
    }
}

diesel::joinable!(tags -> posts (post_id));

diesel::allow_tables_to_appear_in_same_query!(posts, tags,);
"#,
        )
        .expect("parse");

        assert_eq!(schema.tables.len(), 2);
        let posts = &schema.tables[0];
        assert_eq!(posts.name, "posts");
        assert_eq!(posts.primary_key, ["id"]);
        let columns: Vec<(&str, &str, bool)> = posts
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.sql_type.as_str(), c.nullable))
            .collect();
        assert_eq!(
            columns,
            [
                ("id", "Integer", false),
                ("type", "Text", false),
                ("body", "Text", true),
                ("rating", "Double", true),
            ]
        );
        assert_eq!(schema.tables[1].primary_key, ["post_id", "name"]);
        assert_eq!(schema.tables[1].columns[1].sql_type, "Text");
        assert_eq!(
            schema.joinables,
            [("tags".to_owned(), "posts".to_owned(), "post_id".to_owned())]
        );
    }

    #[test]
    fn declared_types_map_as_print_schema_maps_them() {
        for (declared, expected) in [
            ("TEXT", Some("Text")),
            ("VARCHAR(255)", Some("Text")),
            ("INTEGER", Some("Integer")),
            ("BIGINT", Some("BigInt")),
            ("SMALLINT", Some("SmallInt")),
            ("TINYINT", Some("Bool")),
            ("BOOLEAN", Some("Bool")),
            ("TIMESTAMP", Some("Timestamp")),
            ("DATETIME", Some("Timestamp")),
            ("DATE", Some("Date")),
            ("REAL", Some("Float")),
            ("DOUBLE PRECISION", Some("Double")),
            ("NUMERIC", Some("Double")),
            ("BLOB", Some("Binary")),
            ("", Some("Binary")),
            ("TIMESTAMPTZ", None),
            ("JSON", None),
        ] {
            assert_eq!(diesel_type_for(declared), expected, "{declared:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(SchemaRs::parse("diesel::table! { posts (id) { id -> ").is_err());
        assert!(SchemaRs::parse("diesel::table! { posts (id) { id Integer } }").is_err());
        assert!(SchemaRs::parse("table! { x (id) { id -> Text } } @").is_err());
    }
}
