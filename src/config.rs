//! Command line and configuration (DESIGN §6): clap, with an environment
//! variable behind every setting.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://lynk.db?mode=rwc";

/// lynk: role-based token authentication with a GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "lynk", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `lynk` alone means `lynk serve`; its flags are accepted here too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The subcommand to run; `serve` when none was given.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// What `lynk` can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Create an organization and its first admin; print the credentials.
    Bootstrap(BootstrapArgs),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://…` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "LYNK_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a request waits for a pooled connection.
    #[arg(long, env = "LYNK_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_acquire_timeout: Duration,
}

impl DatabaseArgs {
    /// Settings for a database URL, with the defaults otherwise.
    pub fn new(database_url: impl Into<String>) -> Self {
        DatabaseArgs {
            database_url: database_url.into(),
            db_max_connections: 16,
            db_acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Settings of `lynk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LYNK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Lifetime of a session from `login`, e.g. `12h`, `30m`.
    #[arg(long, env = "LYNK_SESSION_TTL", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// Organization created when `serve` starts on an empty database.
    #[arg(long, env = "LYNK_BOOTSTRAP_ORG", default_value = "Acme Corp")]
    pub bootstrap_org: String,
    /// Email of the first admin created on an empty database.
    #[arg(
        long,
        env = "LYNK_BOOTSTRAP_EMAIL",
        default_value = "admin@example.com"
    )]
    pub bootstrap_email: String,
    /// Password of that admin; generated and printed when unset.
    #[arg(long, env = "LYNK_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    pub bootstrap_password: Option<String>,
}

impl ServeArgs {
    /// Defaults for everything but the listen address and database.
    pub fn new(listen: SocketAddr, database: DatabaseArgs) -> Self {
        ServeArgs {
            listen,
            database,
            session_ttl: Duration::from_secs(12 * 3600),
            bootstrap_org: "Acme Corp".into(),
            bootstrap_email: "admin@example.com".into(),
            bootstrap_password: None,
        }
    }
}

/// Settings of `lynk bootstrap`.
#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    /// Name of the organization to create.
    #[arg(long)]
    pub org: String,
    /// Email of its first admin (an existing user is reused).
    #[arg(long)]
    pub email: String,
    /// Display name of a new admin user (default: the email's local part).
    #[arg(long)]
    pub name: Option<String>,
    /// Read the admin's password from standard input instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lynk_means_serve_with_defaults() {
        let cli = Cli::try_parse_from(["lynk"]).unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("expected serve");
        };
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.session_ttl, Duration::from_secs(43_200));
    }

    #[test]
    fn flags_go_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "lynk",
            "serve",
            "--listen",
            "127.0.0.1:9000",
            "--database-url",
            "sqlite://x.db?mode=rwc",
            "--session-ttl",
            "30m",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("expected serve");
        };
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.database.database_url, "sqlite://x.db?mode=rwc");
        assert_eq!(args.session_ttl, Duration::from_secs(1800));
        let cli = Cli::try_parse_from([
            "lynk",
            "bootstrap",
            "--org",
            "Acme",
            "--email",
            "a@b.c",
            "--json",
        ])
        .unwrap();
        assert!(matches!(cli.into_command(), Command::Bootstrap(b) if b.json && b.org == "Acme"));
    }
}
