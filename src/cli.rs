//! The subcommands of DESIGN §6.

use std::io::{BufRead, Write};

use crate::{
    config::{BootstrapArgs, Command, ServeArgs},
    database,
    error::Error,
    graphql,
    service::bootstrap::{self, BootstrapRequest},
    startup::{Application, print_bootstrap_banner},
};

/// Runs one subcommand to completion.
pub async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Bootstrap(args) => bootstrap(args).await,
        Command::Migrate(args) => {
            let db = database::connect(&args).await?;
            database::migrate(&db).await?;
            db.close().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    let app = Application::build(args).await?;
    if let Some(outcome) = app.bootstrapped() {
        print_bootstrap_banner(outcome);
    }
    app.run_until_stopped().await
}

async fn bootstrap(args: BootstrapArgs) -> Result<(), Error> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(Error::internal)?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    let db = database::connect(&args.database).await?;
    database::migrate(&db).await?;
    let outcome = bootstrap::bootstrap(
        &db,
        BootstrapRequest {
            organization_name: args.org,
            email: args.email,
            user_name: args.name,
            password,
        },
    )
    .await?;
    db.close().await?;
    if args.json {
        let json = serde_json::to_string(&outcome).map_err(Error::internal)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{json}").map_err(Error::internal)?;
    } else {
        print_bootstrap_banner(&outcome);
    }
    Ok(())
}
