//! The `lynk` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use lynk::{cli, config::Cli, telemetry};

/// mimalloc: a request allocates and frees many small objects (headers,
/// the GraphQL document and response, the principal), and glibc's
/// allocator spent 7% of the server's CPU on them under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().into_command();
    let logs = telemetry::init();
    let result = cli::run(command).await;
    // The queued log lines first, then the error below them.
    drop(logs);
    match result {
        Ok(code) => code,
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
