//! `promptyard`: the Promptyard server.
//!
//! ```text
//! promptyard [serve]     apply pending migrations, then serve HTTP
//! ```
//!
//! Configuration comes from environment variables (`PROMPTYARD_BIND`,
//! `PROMPTYARD_DATABASE_URL`, `RUST_LOG`), each of which a flag of the same
//! name may override (`--bind`, `--database-url`). Bad configuration ends
//! the process with one line on stderr naming the problem and a non-zero
//! exit code: 2 for configuration, 1 for anything that failed at run time.

mod config;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigArgs};

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
}

/// A failure that ends the process: printed as one line, mapped to an exit
/// code.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) => ExitCode::from(2),
            Self::Serve(_) => ExitCode::from(1),
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
    let config = Config::from_args(cli.config)?;
    serve::init_tracing(&config.log_filter)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(serve::serve(config))?,
    }
    Ok(())
}
