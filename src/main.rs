//! The `lynk` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use lynk::{cli, config::Cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().into_command();
    telemetry::init();
    match cli::run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Errors carry stable codes; internal causes are shown here, on
            // the operator's terminal, never to an API client.
            match &err {
                lynk::error::Error::Internal(cause) => eprintln!("lynk: {cause}"),
                other => eprintln!("lynk: {}", other.message()),
            }
            ExitCode::FAILURE
        }
    }
}
