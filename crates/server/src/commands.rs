//! `promptyard migrate ...` and `promptyard user ...`: administration from
//! the command line, on the same database file the server uses (safe while
//! it runs: SQLite's locking and WAL keep both consistent).

use std::io::Write;

use clap::Subcommand;
use promptyard_services::db_url::DatabaseUrl;
use promptyard_services::migrations::{self, MigrateError, MigrationState};
use promptyard_services::{
    AuthConfig, AuthError, AuthService, Db, DbConfig, PasswordHasher, SystemClock, UuidV7Ids,
};

#[derive(Debug, Subcommand)]
pub(crate) enum MigrateAction {
    /// List every migration and whether it is applied.
    Status,
    /// Apply every pending migration.
    Up,
    /// Revert the latest migration (or all of them with --all).
    Down {
        /// Revert every applied migration.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserAction {
    /// Disable an account: its sessions and keys stop working at once.
    Disable { email: String },
    /// Enable a disabled account.
    Enable { email: String },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error(transparent)]
    Open(#[from] promptyard_services::OpenDbError),
    #[error("cannot open database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error("no user with email {0}")]
    NoSuchUser(String),
    #[error("invalid email {email:?}: {reason}")]
    InvalidEmail { email: String, reason: String },
    #[error("{0}")]
    Failed(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

pub(crate) fn migrate(database: &DatabaseUrl, action: MigrateAction) -> Result<(), CommandError> {
    let mut conn =
        migrations::connect_url(database).map_err(|e| CommandError::Connect(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match action {
        MigrateAction::Status => {
            for MigrationState { name, applied, .. } in
                migrations::status(&mut conn).map_err(MigrateError::from)?
            {
                writeln!(
                    out,
                    "{} {name}",
                    if applied { "applied" } else { "pending" }
                )?;
            }
            // Applied by a newer release: this binary has no name for them.
            for version in migrations::unknown_versions(&mut conn).map_err(MigrateError::from)? {
                writeln!(out, "unknown {version}")?;
            }
        }
        MigrateAction::Up => {
            let applied = migrations::apply_pending(&mut conn)?;
            if applied.is_empty() {
                writeln!(out, "nothing to apply")?;
            }
            for name in applied {
                writeln!(out, "applied {name}")?;
            }
        }
        MigrateAction::Down { all } => {
            let reverted = if all {
                migrations::revert_all(&mut conn)
            } else {
                migrations::revert_last(&mut conn).map(|r| r.into_iter().collect())
            }?;
            if reverted.is_empty() {
                writeln!(out, "nothing to revert")?;
            }
            for name in reverted {
                writeln!(out, "reverted {name}")?;
            }
        }
    }
    Ok(())
}

pub(crate) async fn user(database: &DatabaseUrl, action: UserAction) -> Result<(), CommandError> {
    let (email, active) = match action {
        UserAction::Disable { email } => (email, false),
        UserAction::Enable { email } => (email, true),
    };
    let db = Db::open(DbConfig::for_url(database.clone()).with_readers(1))?;
    let mut conn =
        migrations::connect_url(database).map_err(|e| CommandError::Connect(e.to_string()))?;
    let unknown = migrations::unknown_versions(&mut conn).map_err(MigrateError::from)?;
    if !unknown.is_empty() {
        return Err(MigrateError::Unknown(unknown).into());
    }
    let pending = migrations::status(&mut conn)
        .map_err(MigrateError::from)?
        .iter()
        .any(|m| !m.applied);
    if pending {
        return Err(CommandError::Failed(
            "the database has pending migrations; run `promptyard migrate up` first".to_owned(),
        ));
    }
    let auth = AuthService::new(
        db,
        PasswordHasher::with_workers(1).map_err(|e| CommandError::Failed(e.to_string()))?,
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(UuidV7Ids),
        AuthConfig::default(),
    );
    let user = auth
        .set_active(&email, active)
        .await
        .map_err(|err| match err {
            AuthError::NotFound => CommandError::NoSuchUser(email.clone()),
            AuthError::Validation(errors) => CommandError::InvalidEmail {
                email: email.clone(),
                reason: errors
                    .first()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            },
            other => CommandError::Failed(other.to_string()),
        })?;
    let verb = if active { "enabled" } else { "disabled" };
    writeln!(std::io::stdout().lock(), "{verb} {}", user.email)?;
    Ok(())
}
