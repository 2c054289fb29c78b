//! Configuration: environment variables (or flags of the same name),
//! validated once at startup into a [`Config`].

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Args;

/// The raw settings, as clap reads them from flags and the environment.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArgs {
    /// Address to listen on, HOST:PORT.
    #[arg(
        long,
        env = "PROMPTYARD_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub(crate) bind: String,
    /// SQLite database file; created if missing.
    #[arg(
        long,
        env = "PROMPTYARD_DATABASE_URL",
        default_value = "promptyard.db",
        global = true
    )]
    pub(crate) database_url: String,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub(crate) log: String,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) bind: Vec<SocketAddr>,
    pub(crate) bind_display: String,
    pub(crate) database_path: String,
    pub(crate) log_filter: String,
}

/// A setting that cannot be used; the message names the variable and the
/// value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("invalid PROMPTYARD_BIND {value:?}: {reason}")]
    Bind { value: String, reason: String },
    #[error("invalid PROMPTYARD_DATABASE_URL {value:?}: {reason}")]
    DatabaseUrl { value: String, reason: &'static str },
    #[error("invalid RUST_LOG {value:?}: {reason}")]
    LogFilter { value: String, reason: String },
}

impl Config {
    pub(crate) fn from_args(args: ConfigArgs) -> Result<Self, ConfigError> {
        let bind = parse_bind(&args.bind)?;
        let database_path = parse_database_url(&args.database_url)?;
        Ok(Self {
            bind,
            bind_display: args.bind,
            database_path,
            log_filter: args.log,
        })
    }
}

fn parse_bind(value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let error = |reason: String| ConfigError::Bind {
        value: value.to_owned(),
        reason,
    };
    if !value.contains(':') {
        return Err(error("expected HOST:PORT, e.g. 127.0.0.1:8080".to_owned()));
    }
    let addrs: Vec<SocketAddr> = value
        .to_socket_addrs()
        .map_err(|e| error(format!("{e} (expected HOST:PORT, e.g. 127.0.0.1:8080)")))?
        .collect();
    if addrs.is_empty() {
        return Err(error("the host resolves to no address".to_owned()));
    }
    Ok(addrs)
}

fn parse_database_url(value: &str) -> Result<String, ConfigError> {
    let path = value.strip_prefix("sqlite://").unwrap_or(value);
    let error = |reason| ConfigError::DatabaseUrl {
        value: value.to_owned(),
        reason,
    };
    if path.trim().is_empty() {
        return Err(error("expected a file path"));
    }
    if path == ":memory:" || path.starts_with("file::memory:") {
        return Err(error(
            "an in-memory database cannot use WAL and would vanish on exit; use a file path",
        ));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(bind: &str, database_url: &str) -> ConfigArgs {
        ConfigArgs {
            bind: bind.to_owned(),
            database_url: database_url.to_owned(),
            log: "info".to_owned(),
        }
    }

    #[test]
    fn the_contract_defaults_are_valid() {
        let config = Config::from_args(args("127.0.0.1:8080", "promptyard.db")).expect("valid");
        assert_eq!(config.bind, vec!["127.0.0.1:8080".parse().expect("addr")]);
        assert_eq!(config.database_path, "promptyard.db");
    }

    #[test]
    fn host_names_and_ipv6_addresses_are_accepted() {
        assert!(Config::from_args(args("localhost:0", "x.db")).is_ok());
        assert!(Config::from_args(args("[::1]:8080", "x.db")).is_ok());
    }

    #[test]
    fn an_unparsable_bind_address_is_one_line_naming_the_variable() {
        for bad in [
            "nonsense",
            "127.0.0.1",
            "127.0.0.1:notaport",
            "127.0.0.1:99999",
            "",
        ] {
            let err = Config::from_args(args(bad, "x.db")).expect_err(bad);
            let message = err.to_string();
            assert!(message.starts_with("invalid PROMPTYARD_BIND"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn an_empty_or_in_memory_database_url_is_refused() {
        for bad in [
            "",
            "  ",
            ":memory:",
            "sqlite://:memory:",
            "file::memory:?cache=shared",
        ] {
            let err = Config::from_args(args("127.0.0.1:8080", bad)).expect_err(bad);
            assert!(
                err.to_string()
                    .starts_with("invalid PROMPTYARD_DATABASE_URL"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_sqlite_scheme_prefix_is_accepted() {
        let config = Config::from_args(args("127.0.0.1:8080", "sqlite://data/p.db")).expect("ok");
        assert_eq!(config.database_path, "data/p.db");
    }
}
