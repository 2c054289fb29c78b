//! `promptyard`: the Promptyard server and its administration commands.
//!
//! ```text
//! promptyard [serve]                     apply pending migrations, then serve HTTP
//! promptyard migrate status|up|down [--all]
//! promptyard user disable|enable EMAIL
//! ```
//!
//! Configuration comes from environment variables (see `config.rs` and the
//! README), each of which a flag of the same name may override. Bad
//! configuration ends the process with one line on stderr naming the
//! problem: exit code 2; anything that fails at run time: exit code 1.
//! Command output goes to stdout, logs to stderr.

/// jemalloc rather than glibc's malloc: more posts per second for a few
/// MiB of memory (`docs/benchmarks.md`, "Allocator").
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod commands;
mod config;
mod secret;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigArgs, ServeConfig};

#[derive(Debug, Parser)]
#[command(name = "promptyard", version, about = "The Promptyard server")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve HTTP (the default).
    Serve,
    /// Inspect or move the database's migrations.
    Migrate {
        #[command(subcommand)]
        action: commands::MigrateAction,
    },
    /// Enable or disable an account.
    User {
        #[command(subcommand)]
        action: commands::UserAction,
    },
}

/// A failure that ends the process: printed as one line, mapped to an exit
/// code.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error(transparent)]
    Command(#[from] commands::CommandError),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) => ExitCode::from(2),
            Self::Serve(_) | Self::Command(_) => ExitCode::from(1),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("promptyard: error: {failure}");
            failure.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    serve::init_tracing(&cli.config.log)?;
    let database = config::database_url(&cli.config.database_url.0)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = ServeConfig::from_args(&cli.config, database)?;
            actix_web::rt::System::new().block_on(serve::serve(config))?;
        }
        Command::Migrate { action } => commands::migrate(&database, action)?,
        Command::User { action } => {
            actix_web::rt::System::new().block_on(commands::user(&database, action))?;
        }
    }
    Ok(())
}
