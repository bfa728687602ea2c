//! The subcommands of docs/DESIGN.md §6.1.

use std::io::{BufRead, Write};

use crate::{
    config::{BootstrapArgs, Command, ResetPasswordArgs, ServeArgs, UserCommand},
    database,
    error::Error,
    graphql,
    service::{
        account,
        bootstrap::{self, BootstrapRequest},
    },
    startup::{Application, print_bootstrap_banner, shell_word},
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
        Command::User(UserCommand::ResetPassword(args)) => reset_password(args).await,
    }
}

async fn reset_password(args: ResetPasswordArgs) -> Result<(), Error> {
    let db = database::connect(&args.database).await?;
    database::migrate(&db).await?;
    let reset = account::reset_password(&db, &args.email).await;
    db.close().await?;
    let reset = reset?;
    tracing::info!(user_id = %reset.user_id, "password reset");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "New password for {}: {}", reset.email, reset.password);
    let _ = writeln!(
        out,
        "It is shown once. Their sessions were ended; personal tokens keep working.\n\
         Paste this line into your shell to sign in with it:\n  export LYNK_EMAIL={} LYNK_PASSWORD={}",
        shell_word(&reset.email),
        shell_word(&reset.password)
    );
    out.flush().map_err(Error::internal)
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    let app = Application::build(args).await?;
    match app.bootstrapped() {
        Some(outcome) => print_bootstrap_banner(outcome),
        None => tracing::info!(
            "database already bootstrapped; lost the admin's credentials? run: \
             lynk user reset-password --email <email>"
        ),
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
