//! `promptyard serve`: open the database, migrate, serve until SIGINT or
//! SIGTERM, finishing in-flight requests.

use std::io::IsTerminal;

use actix_web::{App, HttpServer};
use promptyard_http::{AppState, configure};
use promptyard_services::{Db, DbConfig, OpenDbError, RepoError};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError};

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error(transparent)]
    Open(#[from] OpenDbError),
    #[error("cannot migrate database {path:?}: {source}")]
    Migrate {
        path: String,
        #[source]
        source: RepoError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server stopped with an error: {0}")]
    Run(#[source] std::io::Error),
}

pub(crate) fn init_tracing(filter: &str) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(filter).map_err(|e| ConfigError::LogFilter {
        value: filter.to_owned(),
        reason: e.to_string(),
    })?;
    // Logs go to stderr; stdout is kept for command output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

pub(crate) async fn serve(config: Config) -> Result<(), ServeError> {
    let db = Db::open(DbConfig::new(config.database_path.clone()))?;
    let applied = db.migrate().await.map_err(|source| ServeError::Migrate {
        path: config.database_path.clone(),
        source,
    })?;
    tracing::info!(
        database = %config.database_path,
        applied = applied.len(),
        "database ready"
    );

    let state = AppState::new(db.clone());
    let server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .bind(config.bind.as_slice())
        .map_err(|source| ServeError::Bind {
            addr: config.bind_display.clone(),
            source,
        })?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}");
    }
    // actix-web stops on SIGINT/SIGTERM: it stops accepting, lets in-flight
    // requests finish (up to 30 s), then returns here.
    server.run().await.map_err(ServeError::Run)?;

    if let Err(err) = db.checkpoint().await {
        tracing::warn!(error = %err, "final WAL checkpoint failed");
    }
    tracing::info!("stopped");
    Ok(())
}
