//! Command line and configuration (docs/DESIGN.md §6.2): clap, with an environment
//! variable behind every setting.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, builder::RangedU64ValueParser};

pub use crate::database::{DEFAULT_DATABASE_URL, DatabaseArgs};

/// Largest SBOM accepted when not configured (`LYNK_MAX_SBOM_BYTES`): 10 MiB.
pub const DEFAULT_MAX_SBOM_BYTES: usize = 10 * 1024 * 1024;

/// Largest body read from a caller without a valid credential: the
/// public operations (`login`, `acceptInvitation`) are small.
pub const ANONYMOUS_BODY_LIMIT: usize = 64 * 1024;

/// Longest query text accepted from anyone. Large values (SBOM documents)
/// travel in variables or as a multipart upload, not in the query.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// The most objects one request may resolve (docs/DESIGN.md §4.3): every list adds
/// its length as it resolves, and the request is stopped past this.
pub const MAX_RESOLVED_OBJECTS: u32 = 10_000;

pub use crate::service::validate::MAX_NAME_LEN;

/// The largest `--max-sbom-bytes` accepted (1 GiB), so that sizes fit a
/// GraphQL `Int` and the derived body limit fits any `usize`.
pub const MAX_SBOM_BYTES_LIMIT: u64 = 1 << 30;

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
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing the settings would buy nothing"
)]
pub enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Create an organization and its first admin; print the credentials.
    Bootstrap(BootstrapArgs),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage user accounts (`lynk user reset-password --email …`).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the keys receipts are signed with (`lynk signing-key rotate`).
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// Check SBOM receipts offline (`lynk receipt verify`).
    #[command(subcommand)]
    Receipt(ReceiptCommand),
}

/// What `lynk signing-key` can do.
#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Make a new receipt signing key and sign with it from now on; the
    /// old key stays published in the JWKS, so its receipts stay valid.
    /// Running servers pick the new key up at their next upload.
    Rotate(RotateArgs),
}

/// Settings of `lynk signing-key rotate`.
#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The server's encryption key (as `lynk serve` takes it; with
    /// SQLite, `lynk.key` beside the database when not given).
    #[arg(
        long,
        env = "LYNK_ENCRYPTION_KEY",
        alias = "webhook-encryption-key",
        hide_env_values = true
    )]
    pub encryption_key: Option<crate::webhook::seal::SealingKey>,
}

/// What `lynk receipt` can do.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt and its SBOM file against the server's public keys,
    /// with no account. Exit code 0: valid; 1: invalid (altered, another
    /// file, an unknown key); 2: not checked (a file or the keys unreadable).
    Verify(VerifyReceiptArgs),
}

/// Settings of `lynk receipt verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt: a file holding `Sbom.receipt`, or the receipt itself.
    #[arg(long)]
    pub receipt: String,
    /// The SBOM document, byte for byte as uploaded.
    #[arg(long)]
    pub sbom: std::path::PathBuf,
    /// The key set: a JWKS file, or the server's
    /// `https://…/.well-known/jwks.json`.
    #[arg(long)]
    pub jwks: String,
}

/// What `lynk user` can do.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give a user a new generated password, printed once; ends their
    /// sessions (personal tokens keep working). Audited.
    ResetPassword(ResetPasswordArgs),
}

/// Settings of `lynk user reset-password`.
#[derive(Debug, Clone, Args)]
pub struct ResetPasswordArgs {
    /// The user's email address.
    #[arg(long)]
    pub email: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Settings of `lynk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LYNK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The address people reach lynk at, as a browser would open it
    /// (`https://lynk.example.com`; a path prefix too, if a proxy adds
    /// one): invitation links start with it. Defaults to `http://` and
    /// the listen address.
    #[arg(long, env = "LYNK_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Lifetime of a session from `login`, e.g. `12h`, `30m`.
    #[arg(long, env = "LYNK_SESSION_TTL", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// Largest SBOM document accepted, in bytes (at most 1 GiB). The HTTP
    /// body limit of `/lynkapi` follows from it: twice this plus 1 MiB,
    /// since JSON escaping can double a document.
    #[arg(
        long,
        env = "LYNK_MAX_SBOM_BYTES",
        default_value_t = DEFAULT_MAX_SBOM_BYTES,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_SBOM_BYTES_LIMIT)
    )]
    pub max_sbom_bytes: usize,
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
    /// Longest a request may take before it is answered `408`.
    #[arg(long, env = "LYNK_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Accept trusted publishers whose OIDC issuer is plain `http` or at a
    /// private address (a test issuer on loopback); never in production.
    #[arg(long, env = "LYNK_OIDC_ALLOW_HTTP_ISSUERS")]
    pub oidc_allow_http_issuers: bool,
    /// Least time between two fetches of one OIDC issuer's keys (an
    /// unknown key id refreshes them at most this often).
    #[arg(long, env = "LYNK_OIDC_MIN_REFRESH", default_value = "60s", value_parser = humantime::parse_duration)]
    pub oidc_min_refresh: Duration,
    /// Let webhooks use plain `http` and loopback, private or link-local
    /// addresses (a receiver on the same machine); never in production.
    #[arg(long, env = "LYNK_ALLOW_PRIVATE_WEBHOOK_URLS")]
    pub allow_private_webhook_urls: bool,
    /// The server's encryption key: 32 random bytes, base64 (`openssl
    /// rand -base64 32`). It seals webhook secrets and receipt signing
    /// keys at rest; every instance needs the same one. Without it, SQLite
    /// uses `lynk.key` beside the database file (made on first start);
    /// PostgreSQL requires it. `--webhook-encryption-key` and
    /// `LYNK_WEBHOOK_ENCRYPTION_KEY` are accepted as its old names.
    #[arg(
        long,
        env = "LYNK_ENCRYPTION_KEY",
        alias = "webhook-encryption-key",
        hide_env_values = true
    )]
    pub encryption_key: Option<crate::webhook::seal::SealingKey>,
    /// How long a webhook delivery, once claimed by an instance, is left
    /// to it before another may send it again (at least 2s; the request
    /// waits at most half of it). Shortened only by tests of a killed
    /// instance.
    #[arg(long, env = "LYNK_WEBHOOK_LEASE", hide = true, default_value = "60s", value_parser = parse_lease)]
    pub webhook_lease: Duration,
    /// Serve requests but send no webhook deliveries (other instances
    /// send them). Used by tests of a killed sender.
    #[arg(long, env = "LYNK_NO_WEBHOOK_SENDER", hide = true)]
    pub no_webhook_sender: bool,
    /// GitHub's secret-scanning public keys (its key-list JSON), which sign
    /// reports to `POST /secret-scanning/revoke`. Without it the endpoint
    /// answers 404.
    #[arg(long, env = "LYNK_SECRET_SCANNING_KEYS")]
    pub secret_scanning_keys: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Abuse limits (GraphQL shape, failed authentications, failed logins).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Deepest selection nesting a query may have.
    #[arg(long, env = "LYNK_MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: usize,
    /// Largest query complexity (every field, aliases included, counts).
    #[arg(long, env = "LYNK_MAX_QUERY_COMPLEXITY", default_value_t = 5000)]
    pub max_query_complexity: usize,
    /// Failed token authentications a client address may make per 10 minutes.
    #[arg(long, env = "LYNK_AUTH_FAILURES_PER_IP", default_value_t = 100)]
    pub auth_failures_per_ip: u32,
    /// Failed logins per account per hour (OWASP ASVS: at most 100).
    #[arg(long, env = "LYNK_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = 100)]
    pub login_failures_per_account: u32,
    /// Failed logins a client address may make per hour.
    #[arg(long, env = "LYNK_LOGIN_FAILURES_PER_IP", default_value_t = 300)]
    pub login_failures_per_ip: u32,
    /// Proxies in front of lynk that append to `X-Forwarded-For` (a load
    /// balancer: 1). 0 trusts no header and uses the TCP peer address.
    #[arg(long, env = "LYNK_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,
    /// Most keys (addresses, accounts) each failure budget tracks in
    /// memory (SQLite). Spent windows are kept until they expire; when
    /// all are spent, new keys are refused (`429`) until one does.
    #[arg(long, env = "LYNK_FAILURE_BUDGET_KEYS", default_value_t = crate::auth::rate_limit::DEFAULT_MEMORY_CAPACITY, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub failure_budget_keys: usize,
    /// Most password checks in progress at once, hashing or waiting for a
    /// hashing thread; past it, a login is answered `503` at once with
    /// `Retry-After`, before anything is counted (0 refuses them all).
    #[arg(long, env = "LYNK_PASSWORD_CHECK_QUEUE", default_value_t = crate::auth::password::DEFAULT_QUEUE)]
    pub password_check_queue: usize,
    /// Objects one request may resolve before it is stopped (docs/DESIGN.md §4.3:
    /// 10,000, the most accepted). Lowered only by tests.
    #[arg(
        long,
        env = "LYNK_MAX_RESOLVED_OBJECTS",
        hide = true,
        default_value_t = MAX_RESOLVED_OBJECTS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RESOLVED_OBJECTS))
    )]
    pub max_resolved_objects: u32,
}

impl Default for LimitArgs {
    fn default() -> Self {
        LimitArgs {
            max_query_depth: 12,
            max_query_complexity: 5000,
            auth_failures_per_ip: 100,
            login_failures_per_account: 100,
            login_failures_per_ip: 300,
            trusted_proxy_hops: 0,
            failure_budget_keys: crate::auth::rate_limit::DEFAULT_MEMORY_CAPACITY,
            password_check_queue: crate::auth::password::DEFAULT_QUEUE,
            max_resolved_objects: MAX_RESOLVED_OBJECTS,
        }
    }
}

impl ServeArgs {
    /// Defaults for everything but the listen address and database.
    pub fn new(listen: SocketAddr, database: DatabaseArgs) -> Self {
        ServeArgs {
            listen,
            public_url: None,
            database,
            session_ttl: Duration::from_secs(12 * 3600),
            max_sbom_bytes: DEFAULT_MAX_SBOM_BYTES,
            bootstrap_org: "Acme Corp".into(),
            bootstrap_email: "admin@example.com".into(),
            bootstrap_password: None,
            request_timeout: Duration::from_secs(30),
            oidc_allow_http_issuers: false,
            oidc_min_refresh: Duration::from_secs(60),
            allow_private_webhook_urls: false,
            encryption_key: None,
            webhook_lease: crate::webhook::sender::DEFAULT_LEASE,
            no_webhook_sender: false,
            secret_scanning_keys: None,
            limits: LimitArgs::default(),
        }
    }
}

/// A public URL: absolute `http` or `https`, without a query or a
/// fragment, kept without its trailing slash so links append to it.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(
            "must be an http or https URL with a host, e.g. https://lynk.example.com".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must have no query, fragment or user name: links are built on it".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A webhook lease: a duration of at least 2 seconds.
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if lease < Duration::from_secs(2) {
        return Err("the webhook lease must be at least 2s".to_owned());
    }
    Ok(lease)
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
        assert_eq!(args.max_sbom_bytes, 10_485_760);
        assert!(!args.oidc_allow_http_issuers);
        assert_eq!(args.oidc_min_refresh, Duration::from_secs(60));
    }

    #[test]
    fn http_issuers_are_allowed_only_on_request() {
        let cli = Cli::try_parse_from(["lynk", "serve", "--oidc-allow-http-issuers"]).unwrap();
        assert!(matches!(cli.into_command(), Command::Serve(s) if s.oidc_allow_http_issuers));
    }

    #[test]
    fn sbom_size_limit_is_bounded() {
        let parse = |value: &str| {
            Cli::try_parse_from(["lynk", "serve", "--max-sbom-bytes", value]).map(|cli| {
                match cli.into_command() {
                    Command::Serve(args) => args.max_sbom_bytes,
                    _ => 0,
                }
            })
        };
        assert_eq!(parse("1024").unwrap(), 1024);
        assert!(parse("0").is_err());
        assert!(parse("1073741825").is_err());
    }

    #[test]
    fn the_webhook_lease_is_hidden_and_at_least_two_seconds() {
        let parse = |value: &str| {
            Cli::try_parse_from(["lynk", "serve", "--webhook-lease", value]).map(|cli| {
                match cli.into_command() {
                    Command::Serve(args) => args.webhook_lease,
                    _ => Duration::ZERO,
                }
            })
        };
        assert_eq!(parse("6s").unwrap(), Duration::from_secs(6));
        assert!(parse("1s").is_err());
        assert!(parse("soon").is_err());
        let Command::Serve(defaults) = Cli::try_parse_from(["lynk"]).unwrap().into_command() else {
            panic!("expected serve");
        };
        assert_eq!(defaults.webhook_lease, Duration::from_secs(60));
        let mut help = Vec::new();
        <Cli as clap::CommandFactory>::command()
            .write_long_help(&mut help)
            .unwrap();
        assert!(!String::from_utf8(help).unwrap().contains("webhook-lease"));
    }

    #[test]
    fn the_resolved_object_limit_is_hidden_and_can_only_be_lowered() {
        let parse = |value: &str| {
            Cli::try_parse_from(["lynk", "serve", "--max-resolved-objects", value]).map(|cli| {
                match cli.into_command() {
                    Command::Serve(args) => args.limits.max_resolved_objects,
                    _ => 0,
                }
            })
        };
        assert_eq!(parse("10").unwrap(), 10);
        assert_eq!(parse("10000").unwrap(), 10_000);
        assert!(parse("10001").is_err());
        assert!(parse("0").is_err());
        let Command::Serve(defaults) = Cli::try_parse_from(["lynk"]).unwrap().into_command() else {
            panic!("expected serve");
        };
        assert_eq!(defaults.limits.max_resolved_objects, 10_000);
        let mut help = Vec::new();
        <Cli as clap::CommandFactory>::command()
            .write_long_help(&mut help)
            .unwrap();
        let mut serve_help = Vec::new();
        <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("serve")
            .expect("serve")
            .write_long_help(&mut serve_help)
            .unwrap();
        for help in [help, serve_help] {
            let help = String::from_utf8(help).unwrap();
            assert!(help.contains("--max-query-complexity"), "{help}");
            assert!(!help.contains("resolved-objects"), "{help}");
            assert!(!help.contains("RESOLVED_OBJECTS"), "{help}");
        }
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
        let cli = Cli::try_parse_from([
            "lynk",
            "user",
            "reset-password",
            "--email",
            "a@b.c",
            "--database-url",
            "sqlite://x.db",
        ])
        .unwrap();
        assert!(matches!(
            cli.into_command(),
            Command::User(UserCommand::ResetPassword(r))
                if r.email == "a@b.c" && r.database.database_url == "sqlite://x.db"
        ));
    }
}
