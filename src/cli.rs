//! The subcommands of docs/DESIGN.md §6.1.

use std::{
    io::{BufRead, Write},
    process::ExitCode,
};

use crate::{
    config::{
        BootstrapArgs, Command, ReceiptCommand, ResetPasswordArgs, RotateArgs, ServeArgs,
        SigningKeyCommand, UserCommand,
    },
    database, encryption_key,
    error::Error,
    graphql, receipt,
    service::{
        account,
        bootstrap::{self, BootstrapRequest},
    },
    startup::{Application, print_bootstrap_banner, shell_word},
};

/// Runs one subcommand to completion; its exit code when it succeeds.
pub async fn run(command: Command) -> Result<ExitCode, Error> {
    if let Command::Receipt(ReceiptCommand::Verify(args)) = &command {
        let outcome = receipt::offline::verify(&args.receipt, &args.sbom, &args.jwks).await;
        let mut out = std::io::stdout().lock();
        let _ = match &outcome {
            receipt::offline::Outcome::Valid(payload) => writeln!(
                out,
                "valid: SBOM {} of project {} (SHA-256 {}), provenance {}",
                payload["sbom"].as_str().unwrap_or("?"),
                payload["project"].as_str().unwrap_or("?"),
                payload["sha256"].as_str().unwrap_or("?"),
                payload["provenance"]
            ),
            receipt::offline::Outcome::Invalid(why) => writeln!(out, "INVALID: {why}"),
            receipt::offline::Outcome::Unusable(why) => writeln!(out, "not checked: {why}"),
        };
        return Ok(ExitCode::from(outcome.exit_code()));
    }
    run_to_end(command).await.map(|()| ExitCode::SUCCESS)
}

async fn run_to_end(command: Command) -> Result<(), Error> {
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
        Command::SigningKey(SigningKeyCommand::Rotate(args)) => rotate_signing_key(args).await,
        // Answered by `run` with its own exit code.
        Command::Receipt(_) => Ok(()),
    }
}

async fn rotate_signing_key(args: RotateArgs) -> Result<(), Error> {
    let db = database::connect(&args.database).await?;
    database::migrate(&db).await?;
    let rotated = async {
        let key =
            encryption_key::resolve(args.encryption_key, &args.database.database_url, &db).await?;
        receipt::keys::ensure(&db, &key).await?;
        receipt::keys::rotate(&db, &key).await
    }
    .await;
    db.close().await?;
    let kid = rotated?;
    tracing::info!(kid = %kid, "receipt signing key rotated");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "New receipt signing key {kid}: receipts are signed with it from the next upload. \
         The previous keys stay in /.well-known/jwks.json, so their receipts stay valid."
    )
    .map_err(Error::internal)
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

async fn serve(mut args: ServeArgs) -> Result<(), Error> {
    // The key's old variable name still works.
    if args.encryption_key.is_none()
        && let Ok(old) = std::env::var("LYNK_WEBHOOK_ENCRYPTION_KEY")
    {
        args.encryption_key = Some(old.parse().map_err(|err: String| {
            Error::internal(format!("LYNK_WEBHOOK_ENCRYPTION_KEY: {err}"))
        })?);
    }
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
