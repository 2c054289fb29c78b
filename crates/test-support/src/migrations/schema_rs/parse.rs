//! A tokenizer and parser for the `table!` and `joinable!` blocks of a
//! `schema.rs`, as `diesel print-schema` writes them.

use super::{ColumnDef, TableDef, canonical_type};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Ident(String),
    Str(String),
    Punct(&'static str),
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, String> {
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

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) pos: usize,
}

impl Parser {
    pub(super) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub(super) fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    pub(super) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token::Punct(q)) if *q == p)
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(q)) if q == p => Ok(()),
            other => Err(format!("expected `{p}` in schema.rs, found {other:?}")),
        }
    }

    pub(super) fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(name)) => Ok(name),
            other => Err(format!("expected a name in schema.rs, found {other:?}")),
        }
    }

    /// Skips `#[...]` attributes; returns the `sql_name` one, if any.
    pub(super) fn attributes(&mut self) -> Result<Option<String>, String> {
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
    pub(super) fn column_type(&mut self) -> Result<(String, bool), String> {
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
        let last_at = |depth, missing: &str| {
            idents
                .iter()
                .rev()
                .find(|(_, d)| *d == depth)
                .map(|(n, _)| n.clone())
                .ok_or_else(|| missing.to_owned())
        };
        let outer = last_at(0, "a column without a type in schema.rs")?;
        if outer == "Nullable" {
            let inner = last_at(1, "Nullable<> without a type in schema.rs")?;
            Ok((canonical_type(&inner).to_owned(), true))
        } else {
            Ok((canonical_type(&outer).to_owned(), false))
        }
    }

    pub(super) fn table_body(&mut self) -> Result<TableDef, String> {
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

    pub(super) fn joinable(&mut self) -> Result<(String, String, String), String> {
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
