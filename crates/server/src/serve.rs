//! `promptyard serve`: open the database, migrate, serve until SIGINT or
//! SIGTERM, finishing in-flight requests; purge expired sessions meanwhile.

use std::io::IsTerminal;
use std::time::Duration;

use actix_web::HttpServer;
use promptyard_http::{AppState, HttpSettings};
use promptyard_services::migrations::MigrateError;
use promptyard_services::password::MEMORY_PER_WORKER;
use promptyard_services::{AuthService, Db, DbConfig, OpenDbError, PasswordHasher};
use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, ServeConfig};
use crate::secret::{self, SecretError};

/// Rows deleted per write by the purge job.
const PURGE_BATCH: i64 = 1000;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error(transparent)]
    Open(#[from] OpenDbError),
    #[error("cannot migrate database {path:?}: {source}")]
    Migrate {
        path: String,
        #[source]
        source: MigrateError,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot start: {0}")]
    Startup(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error("server stopped with an error: {0}")]
    Run(#[source] std::io::Error),
}

pub(crate) fn init_tracing(filter: &str) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(filter).map_err(|e| ConfigError::Invalid {
        variable: "RUST_LOG",
        value: filter.to_owned(),
        reason: e.to_string(),
    })?;
    // Logs go to stderr; stdout is kept for command output.
    // One line per request when its span closes: method, route, status,
    // request id, time taken (never headers, cookies or bodies).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

/// Raises this process's soft limit of open files to its hard limit (one
/// file per client connection: a default shell's 1024 would refuse the
/// 1025th client), and logs both. Best effort: a failure is logged, and
/// the server runs with the limit it has.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let show = |n: Option<u64>| n.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    match (before.current, before.maximum) {
        (Some(soft), Some(hard)) if soft < hard => {
            let raised = rustix::process::Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::info!(from = soft, to = hard, "raised the open files limit"),
                Err(err) => tracing::warn!(
                    limit = soft,
                    hard,
                    %err,
                    "cannot raise the open files limit"
                ),
            }
        }
        (soft, hard) => tracing::info!(limit = show(soft), hard = show(hard), "open files limit"),
    }
}

pub(crate) async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let db = Db::open(DbConfig::for_url(config.database.clone()))?;
    let applied = db.migrate().await.map_err(|source| ServeError::Migrate {
        path: config.database.to_string(),
        source,
    })?;
    tracing::info!(
        database = %config.database,
        applied = applied.len(),
        "database ready"
    );
    let cookie_key = secret::cookie_key(
        config.secret_key.as_deref().map(Vec::as_slice),
        config.database.sqlite_path(),
    )?;
    raise_open_files_limit();
    let mut settings = HttpSettings::new(cookie_key);
    settings.cookie_secure = config.cookie_secure;
    settings.cors_origins.clone_from(&config.cors_origins);
    for model in config.providers.models() {
        tracing::info!(model = %model.id, provider = %model.provider, "model available");
    }
    let hasher = PasswordHasher::with_config(config.hasher)
        .map_err(|e| ServeError::Startup(e.to_string()))?;
    tracing::info!(
        workers = config.hasher.workers,
        memory_mib = config.hasher.workers * MEMORY_PER_WORKER / (1024 * 1024),
        queue = config.hasher.queue,
        max_wait_ms = config.hasher.max_wait.as_millis(),
        "password hashing"
    );
    let state = AppState::new(db.clone(), config.auth, settings)
        .map_err(|e| ServeError::Startup(e.to_string()))?
        .with_hasher(hasher)
        .with_providers(config.providers)
        .with_default_reserve(config.default_reserved_tokens);
    let purge = actix_web::rt::spawn(purge_expired(state.auth.clone(), config.purge_interval));

    let server = HttpServer::new(move || promptyard_http::app(state.clone()))
        .bind(config.bind.as_slice())
        .map_err(|source| ServeError::Bind {
            addr: config.bind_display.clone(),
            source,
        })?
        // We handle SIGINT/SIGTERM ourselves, registered before we announce
        // the address, so a signal sent as soon as we listen is never missed.
        .disable_signals()
        .shutdown_timeout(30);
    let addrs = server.addrs();
    let server = server.run();
    let shutdown = shutdown_signal().map_err(ServeError::Signals)?;
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let signal = shutdown.await;
        tracing::info!(%signal, "shutting down: finishing in-flight requests");
        // Stop accepting; let in-flight requests finish (up to 30 s).
        handle.stop(true).await;
    });
    for addr in addrs {
        tracing::info!("listening on http://{addr}");
    }
    server.await.map_err(ServeError::Run)?;

    purge.abort();
    if let Err(err) = db.checkpoint().await {
        tracing::warn!(error = %err, "final WAL checkpoint failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Deletes expired sessions and closed login-failure windows now and every
/// `interval`.
async fn purge_expired(auth: AuthService, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match auth.purge_expired(PURGE_BATCH).await {
            Ok((0, 0)) => {}
            Ok((sessions, login_failures)) => {
                tracing::info!(sessions, login_failures, "purged expired rows");
            }
            Err(err) => tracing::warn!(error = %err, "purging expired rows failed"),
        }
    }
}

/// Registers SIGINT and SIGTERM handlers now; the returned future resolves
/// with the signal's name when one arrives.
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}
