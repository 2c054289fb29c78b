//! Configuration: environment variables (or flags of the same name),
//! validated once at startup. Every error names the variable and the value
//! (never the value of `PROMPTYARD_SECRET_KEY`) in one line.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::Args;
use promptyard_services::AuthConfig;
use promptyard_services::db_url::{DatabaseUrl, redact};
use promptyard_services::password::HasherConfig;
use promptyard_services::providers::{ProviderRegistry, ProvidersFileError, load_providers_file};

/// Declares [`ConfigArgs`]: every setting is a global flag `--name` that
/// clap also reads from its environment variable (`env = ...`), with the
/// other clap options given per field.
macro_rules! config_args {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty { $($option:ident = $value:literal),* $(,)? },
    )*) => {
        /// The raw settings, as clap reads them from flags and the environment.
        /// Numbers and booleans are read as text so that a bad value gets our
        /// one-line error rather than clap's usage screen.
        #[derive(Clone, Debug, Args)]
        pub(crate) struct ConfigArgs {
            $(
                $(#[doc = $doc])*
                #[arg(long, global = true, $($option = $value),*)]
                pub(crate) $field: $ty,
            )*
        }
    };
}

config_args! {
    /// Address to listen on, HOST:PORT.
    bind: String { env = "PROMPTYARD_BIND", default_value = "127.0.0.1:8080" },
    /// SQLite database file; created if missing.
    database_url: UrlText { env = "PROMPTYARD_DATABASE_URL", default_value = "promptyard.db" },
    /// Key for signing session cookies, at least 64 bytes; by default one is
    /// generated once and kept next to the database (`<database>.secret`).
    secret_key: Option<Redacted<String>> { env = "PROMPTYARD_SECRET_KEY", hide_env_values = true },
    /// Session lifetime in seconds.
    session_ttl_secs: String { env = "PROMPTYARD_SESSION_TTL_SECS", default_value = "604800" },
    /// Add `Secure` to the session cookie (true/false).
    cookie_secure: String { env = "PROMPTYARD_COOKIE_SECURE", default_value = "false" },
    /// Comma-separated origins allowed to call the API with credentials.
    cors_origins: String { env = "PROMPTYARD_CORS_ORIGINS", default_value = "" },
    /// Failed logins per email that trigger the limit.
    login_max_failures: String { env = "PROMPTYARD_LOGIN_MAX_FAILURES", default_value = "10" },
    /// The window, in seconds, those failures are counted in.
    login_window_secs: String { env = "PROMPTYARD_LOGIN_WINDOW_SECS", default_value = "900" },
    /// How often, in seconds, expired sessions are purged.
    purge_interval_secs: String { env = "PROMPTYARD_PURGE_INTERVAL_SECS", default_value = "600" },
    /// Password hashing workers, each owning 19 MiB (default: one per two
    /// cores, at least one).
    hash_workers: Option<String> { env = "PROMPTYARD_HASH_WORKERS" },
    /// Logins, registrations and password changes that may wait for a
    /// hashing worker; one more gets 503 at once.
    hash_queue: String { env = "PROMPTYARD_HASH_QUEUE", default_value = "256" },
    /// How long, in milliseconds, one may wait for a hashing worker before
    /// it gets 503 with `Retry-After`.
    hash_max_wait_ms: String { env = "PROMPTYARD_HASH_MAX_WAIT_MS", default_value = "2000" },
    /// TOML file of LLM providers (OpenAI-compatible endpoints).
    providers_file: Option<String> { env = "PROMPTYARD_PROVIDERS_FILE" },
    /// Completion tokens an LLM request of a limited API key reserves when
    /// it sets no `max_tokens` (1 to 32768).
    default_reserved_tokens: String { env = "PROMPTYARD_DEFAULT_RESERVED_TOKENS", default_value = "1024" },
    /// Log filter (tracing's EnvFilter syntax).
    log: String { env = "RUST_LOG", default_value = "info" },
}

/// A secret setting: used as its value, shown by `Debug` as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Redacted<T>(pub(crate) T);

impl<T> std::ops::Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How clap reads a secret flag or variable.
impl From<String> for Redacted<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// A database URL as given: used as its value, shown by `Debug` with its
/// password redacted.
#[derive(Clone)]
pub(crate) struct UrlText(pub(crate) String);

impl std::fmt::Debug for UrlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

/// How clap reads the database URL.
impl From<String> for UrlText {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Validated configuration of `serve`.
#[derive(Clone, Debug)]
pub(crate) struct ServeConfig {
    pub(crate) bind: Vec<SocketAddr>,
    pub(crate) bind_display: String,
    pub(crate) database: DatabaseUrl,
    pub(crate) secret_key: Option<Redacted<Vec<u8>>>,
    pub(crate) cookie_secure: bool,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) auth: AuthConfig,
    pub(crate) purge_interval: Duration,
    pub(crate) hasher: HasherConfig,
    pub(crate) providers: ProviderRegistry,
    /// What a limited key's request without `max_tokens` reserves.
    pub(crate) default_reserved_tokens: u32,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("invalid {variable} {value:?}: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid PROMPTYARD_SECRET_KEY: it must be at least {min} bytes (it is {0})", min = crate::secret::KEY_BYTES)]
    ShortSecret(usize),
    #[error("invalid PROMPTYARD_PROVIDERS_FILE: {0}")]
    Providers(#[from] ProvidersFileError),
}

fn invalid(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The database from `PROMPTYARD_DATABASE_URL`: a SQLite file path
/// (optionally prefixed `sqlite://`) or a PostgreSQL URL. An error shows
/// the value with its password redacted.
pub(crate) fn database_url(value: &str) -> Result<DatabaseUrl, ConfigError> {
    DatabaseUrl::parse(value).map_err(|err| ConfigError::Invalid {
        variable: "PROMPTYARD_DATABASE_URL",
        value: err.url,
        reason: err.reason.to_owned(),
    })
}

impl ServeConfig {
    pub(crate) fn from_args(args: &ConfigArgs, database: DatabaseUrl) -> Result<Self, ConfigError> {
        let secret_key = match &args.secret_key {
            Some(secret) if secret.len() < crate::secret::KEY_BYTES => {
                return Err(ConfigError::ShortSecret(secret.len()));
            }
            Some(secret) => Some(Redacted(secret.as_bytes().to_vec())),
            // Processes sharing a PostgreSQL database must sign cookies with
            // one key, and there is no file beside the database to keep it.
            None if database.sqlite_path().is_none() => {
                return Err(invalid(
                    "PROMPTYARD_SECRET_KEY",
                    "",
                    "required with a PostgreSQL database: every server process on it must sign cookies with the same key",
                ));
            }
            None => None,
        };
        let session_ttl = seconds("PROMPTYARD_SESSION_TTL_SECS", &args.session_ttl_secs)?;
        let max_failed_logins =
            positive("PROMPTYARD_LOGIN_MAX_FAILURES", &args.login_max_failures)?;
        let window = seconds("PROMPTYARD_LOGIN_WINDOW_SECS", &args.login_window_secs)?;
        Ok(Self {
            bind: parse_bind(&args.bind)?,
            bind_display: args.bind.clone(),
            database,
            secret_key,
            cookie_secure: boolean("PROMPTYARD_COOKIE_SECURE", &args.cookie_secure)?,
            cors_origins: origins(&args.cors_origins)?,
            auth: AuthConfig {
                session_ttl,
                max_failed_logins: u32::try_from(max_failed_logins).map_err(|_| {
                    invalid(
                        "PROMPTYARD_LOGIN_MAX_FAILURES",
                        &args.login_max_failures,
                        "too large",
                    )
                })?,
                failed_login_window: window,
            },
            purge_interval: seconds("PROMPTYARD_PURGE_INTERVAL_SECS", &args.purge_interval_secs)?,
            hasher: hasher(args)?,
            default_reserved_tokens: reserved_tokens(&args.default_reserved_tokens)?,
            providers: match &args.providers_file {
                Some(path) if !path.trim().is_empty() => {
                    load_providers_file(std::path::Path::new(path))?
                }
                _ => ProviderRegistry::with_echo(),
            },
        })
    }
}

/// `PROMPTYARD_DEFAULT_RESERVED_TOKENS`: 1 to `max_tokens`' own maximum.
fn reserved_tokens(value: &str) -> Result<u32, ConfigError> {
    const VARIABLE: &str = "PROMPTYARD_DEFAULT_RESERVED_TOKENS";
    let max = promptyard_services::playground::MAX_TOKENS_MAX;
    let n = positive(VARIABLE, value)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| invalid(VARIABLE, value, format!("at most {max}")))
}

fn hasher(args: &ConfigArgs) -> Result<HasherConfig, ConfigError> {
    let bounded = |variable: &'static str, value: &str, max: u64| {
        positive(variable, value).and_then(|n| {
            if n > max {
                Err(invalid(variable, value, format!("at most {max}")))
            } else {
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        })
    };
    let workers = match &args.hash_workers {
        Some(value) if !value.trim().is_empty() => {
            bounded("PROMPTYARD_HASH_WORKERS", value, MAX_HASH_WORKERS)?
        }
        _ => HasherConfig::default_workers(),
    };
    let queue = bounded("PROMPTYARD_HASH_QUEUE", &args.hash_queue, MAX_HASH_QUEUE)?;
    let wait = bounded(
        "PROMPTYARD_HASH_MAX_WAIT_MS",
        &args.hash_max_wait_ms,
        MAX_HASH_WAIT_MS,
    )?;
    Ok(HasherConfig {
        workers,
        queue,
        max_wait: Duration::from_millis(u64::try_from(wait).unwrap_or(u64::MAX)),
    })
}

/// At most this many hashing workers (19 MiB each: 1.2 GiB).
const MAX_HASH_WORKERS: u64 = 64;
/// At most this many jobs waiting for one.
const MAX_HASH_QUEUE: u64 = 100_000;
/// At most this long a wait for one, in milliseconds (a minute).
const MAX_HASH_WAIT_MS: u64 = 60_000;

fn parse_bind(value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    const EXPECTED: &str = "expected HOST:PORT, e.g. 127.0.0.1:8080";
    if !value.contains(':') {
        return Err(invalid("PROMPTYARD_BIND", value, EXPECTED));
    }
    let addrs: Vec<SocketAddr> = value
        .to_socket_addrs()
        .map_err(|e| invalid("PROMPTYARD_BIND", value, format!("{e} ({EXPECTED})")))?
        .collect();
    if addrs.is_empty() {
        return Err(invalid(
            "PROMPTYARD_BIND",
            value,
            "the host resolves to no address",
        ));
    }
    Ok(addrs)
}

fn positive(variable: &'static str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            variable,
            value,
            "expected a whole number greater than 0",
        )),
    }
}

fn seconds(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    const MAX: u64 = 100 * 365 * 24 * 3600;
    let secs = positive(variable, value)?;
    if secs > MAX {
        return Err(invalid(variable, value, "more than 100 years"));
    }
    Ok(Duration::from_secs(secs))
}

fn boolean(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(invalid(variable, value, "expected true or false")),
    }
}

fn origins(value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| origin.trim_end_matches('/'))
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains('/') && !host.contains(' ') => {
                    Ok(origin.to_owned())
                }
                _ => Err(invalid(
                    "PROMPTYARD_CORS_ORIGINS",
                    value,
                    format!("{origin:?} is not an origin like https://app.example.com"),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
