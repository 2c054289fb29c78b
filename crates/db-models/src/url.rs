//! [`DatabaseUrl`]: where the database is, read from one string, and shown
//! only with its password redacted.
//!
//! A PostgreSQL URL carries a password (`postgres://user:password@host/db`,
//! or `?password=...`). Every error, log line and `Debug` output that names
//! a database goes through [`DatabaseUrl`]'s `Display` or `Debug`, which
//! print `***` in its place; only [`DatabaseUrl::expose`] gives the whole
//! string, for the driver.

use std::fmt;

/// `***`: what a redacted password reads as.
pub const REDACTED: &str = "***";

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server (`postgres://` or `postgresql://`).
    Postgres,
}

/// A database location: a SQLite file path (optionally `sqlite://path`) or
/// a PostgreSQL URL. `Display` and `Debug` redact the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// The file path (SQLite, `sqlite://` stripped) or the whole URL.
    value: String,
}

/// Why a string is not a usable database location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid database URL {url}: {reason}")]
pub struct UrlError {
    /// The URL, redacted.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DatabaseUrl {
    /// Reads `value`: `postgres://` and `postgresql://` name a PostgreSQL
    /// server, anything else a SQLite file (`sqlite://` is stripped). An
    /// empty path, an in-memory SQLite database (it cannot use WAL and
    /// would vanish on exit) and a PostgreSQL URL without a host are
    /// refused; the error shows the value redacted.
    pub fn parse(value: &str) -> Result<Self, UrlError> {
        let refuse = |reason| UrlError {
            url: redact(value),
            reason,
        };
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let rest = &value[value.find("://").map_or(0, |at| at + 3)..];
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            if host.is_empty() || host.starts_with(['/', '?']) {
                return Err(refuse("expected postgres://user:password@host:port/dbname"));
            }
            return Ok(Self {
                backend: Backend::Postgres,
                value: value.to_owned(),
            });
        }
        let path = value.strip_prefix("sqlite://").unwrap_or(value);
        if path.trim().is_empty() {
            return Err(refuse("expected a file path"));
        }
        if path == ":memory:" || path.starts_with("file::memory:") {
            return Err(refuse(
                "an in-memory database cannot use WAL and would vanish on exit; use a file path",
            ));
        }
        Ok(Self {
            backend: Backend::Sqlite,
            value: path.to_owned(),
        })
    }

    /// The SQLite file at `path`, taken as it is (no `sqlite://` to strip,
    /// no check: opening it reports what is wrong).
    pub fn sqlite(path: impl Into<String>) -> Self {
        Self {
            backend: Backend::Sqlite,
            value: path.into(),
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file's path, if this is one.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.value.as_str())
    }

    /// The whole string, password included: for the driver only, never for
    /// a message.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.value))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", redact(&self.value))
    }
}

/// `value` with any password replaced by [`REDACTED`]: the part of a URL's
/// user info after the first `:` (everything up to the LAST `@`, so that a
/// password holding an unencoded `@` or `/` is hidden whole), and the value
/// of every `password=` parameter or keyword (up to the next `&` or space).
/// A plain file path comes back as it is.
pub fn redact(value: &str) -> String {
    let (head, rest) = match value.find("://") {
        Some(at) => value.split_at(at + 3),
        None => ("", value),
    };
    let mut out = String::from(head);
    let mut rest = rest;
    if !head.is_empty()
        && let Some((userinfo, host)) = rest.rsplit_once('@')
    {
        match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:{REDACTED}@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
        rest = host;
    }
    const KEY: &str = "password=";
    while let Some(at) = rest.find(KEY) {
        let starts_a_parameter = at == 0
            || rest[..at].ends_with(['?', '&'])
            || rest[..at].ends_with(char::is_whitespace);
        let value_start = at + KEY.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if starts_a_parameter {
            out.push_str(REDACTED);
            rest = &rest[rest
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(rest.len())..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_recognised_by_either_scheme() {
        for url in [
            "postgres://ada:pw@db.example:5432/promptyard",
            "postgresql://ada:pw@db.example/promptyard",
            "POSTGRES://ada@localhost/promptyard",
        ] {
            let parsed = DatabaseUrl::parse(url).expect(url);
            assert_eq!(parsed.backend(), Backend::Postgres, "{url}");
            assert_eq!(parsed.expose(), url);
            assert_eq!(parsed.sqlite_path(), None);
        }
    }

    #[test]
    fn anything_else_is_a_sqlite_file_with_an_optional_scheme() {
        for (url, path) in [
            ("promptyard.db", "promptyard.db"),
            ("sqlite://data/p.db", "data/p.db"),
            ("/var/lib/p.db", "/var/lib/p.db"),
        ] {
            let parsed = DatabaseUrl::parse(url).expect(url);
            assert_eq!(parsed.backend(), Backend::Sqlite, "{url}");
            assert_eq!(parsed.sqlite_path(), Some(path), "{url}");
            assert_eq!(parsed.to_string(), path, "a path has nothing to redact");
        }
    }

    #[test]
    fn unusable_values_are_refused_with_a_reason() {
        for (url, reason) in [
            ("", "expected a file path"),
            ("sqlite://  ", "expected a file path"),
            (":memory:", "an in-memory database"),
            ("file::memory:?cache=shared", "an in-memory database"),
            ("postgres://", "expected postgres://"),
            ("postgres://ada:pw@/db", "expected postgres://"),
        ] {
            let err = DatabaseUrl::parse(url).expect_err(url);
            assert!(err.reason.starts_with(reason), "{url}: {err}");
        }
    }

    #[test]
    fn passwords_never_show_in_display_debug_or_errors() {
        let secret = "s3cr%40t/x";
        for url in [
            format!("postgres://ada:{secret}@db:5432/p"),
            format!("postgresql://ada:{secret}@db/p?sslmode=require"),
            format!("postgres://ada@db/p?password={secret}&sslmode=disable"),
            format!("postgres://db/p?sslmode=disable&password={secret}"),
            // An unencoded `@` and `/` in the password: still hidden whole.
            "postgres://ada:p@ss/w@rd@db/p".to_owned(),
        ] {
            let parsed = DatabaseUrl::parse(&url).expect(&url);
            for shown in [parsed.to_string(), format!("{parsed:?}")] {
                assert!(!shown.contains(secret), "{shown}");
                assert!(!shown.contains("ss/w"), "{shown}");
                assert!(shown.contains(REDACTED), "{shown}");
            }
        }
        let err = DatabaseUrl::parse(&format!("postgres://ada:{secret}@")).expect_err("no host");
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(err.to_string().contains("ada:***@"), "{err}");
    }

    #[test]
    fn redaction_keeps_everything_but_the_password() {
        assert_eq!(
            redact("postgres://ada:pw@db:5432/p?sslmode=require&password=x"),
            "postgres://ada:***@db:5432/p?sslmode=require&password=***"
        );
        assert_eq!(
            redact("postgres://ada@db/p?application_name=password=x"),
            "postgres://ada@db/p?application_name=password=x",
            "only a parameter named password is one"
        );
        assert_eq!(redact("postgres://db/p"), "postgres://db/p");
        assert_eq!(
            redact("host=db password=x user=ada"),
            "host=db password=*** user=ada",
            "a libpq keyword string mistaken for a path"
        );
        assert_eq!(redact("data/promptyard.db"), "data/promptyard.db");
    }
}
