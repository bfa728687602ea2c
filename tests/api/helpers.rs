//! Spawning the real application for a test, on SQLite by default or on
//! PostgreSQL when `LYNK_TEST_DATABASE_URL` is set (each test gets its own
//! database).

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use chrono::{DateTime, Duration, Utc};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope, verify::Verifier},
    config::{DatabaseArgs, ServeArgs},
    service::{
        bootstrap::{self, BootstrapOutcome, BootstrapRequest},
        token::{self, NewToken},
    },
    startup::Application,
};
use reqwest::{StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// The `lynk` binary this test run built, in an environment of its own:
/// no `DATABASE_URL` from the developer's shell, PostgreSQL's test key, and only warnings logged,
/// so that the test output stays clean (a test that reads the log sets
/// `RUST_LOG` with `.env`).
pub fn lynk_binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lynk"));
    command.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    // PostgreSQL needs the server's key; SQLite makes its own.
    if std::env::var("LYNK_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        command.env("LYNK_ENCRYPTION_KEY", POSTGRES_TEST_KEY);
    } else {
        command.env_remove("LYNK_ENCRYPTION_KEY");
    }
    command
}

/// Whether `sql` is one of the statements every instance runs behind the
/// requests (the webhook sender, the expiry notices' scan of sea-orm's
/// full token rows), not a request's own: statement counts leave them out.
pub fn is_background_statement(sql: &str) -> bool {
    sql.contains("webhook_delivery")
        || sql.contains("token_notice")
        || sql.starts_with(r#"SELECT "token"."id", "token"."kind""#)
}

/// The password of every bootstrapped test admin.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Every log line any test produced, at trace level.
pub fn captured_logs() -> String {
    let buffer = log_buffer().lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&buffer).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,hyper=info,hyper_util=info,h2=info,reqwest=info,rustls=info")
            .with_ansi(false)
            .with_writer(move || BufferWriter(buffer.clone()))
            .try_init();
    });
}

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL
/// database when `LYNK_TEST_DATABASE_URL` points at a server.
pub struct TestDatabase {
    pub url: String,
    /// The SQLite file, when on SQLite.
    pub sqlite_path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        match std::env::var("LYNK_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let name = format!("lynk_test_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&base)
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
                TestDatabase {
                    url: format!("{prefix}/{name}"),
                    sqlite_path: None,
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("lynk.db");
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    sqlite_path: Some(path),
                    _dir: Some(dir),
                }
            }
        }
    }
}

/// A running lynk and the credentials of its bootstrapped admin.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    /// The server's own verifier (its connections are the server's).
    pub verifier: Verifier,
    pub database: TestDatabase,
    pub admin: BootstrapOutcome,
}

/// One HTTP answer: status, headers, parsed JSON body (or the text).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// The first error's `extensions.code`.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The first error's message (empty when there is none).
    pub fn error_message(&self) -> &str {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
    }

    /// A GraphQL error answer: HTTP 200, the first error's code is `code`
    /// and its message contains `message_contains`.
    #[track_caller]
    pub fn assert_error(&self, code: &str, message_contains: &str) {
        self.assert_code(code);
        assert!(
            self.error_message().contains(message_contains),
            "the message lacks {message_contains:?}: {}",
            self.text
        );
    }

    /// [`Answer::assert_error`] with the whole message.
    #[track_caller]
    pub fn assert_error_exact(&self, code: &str, message: &str) {
        self.assert_code(code);
        assert_eq!(self.error_message(), message, "{}", self.text);
    }

    /// [`Answer::assert_error_exact`] for a refused operation: `data` is
    /// `null` too.
    #[track_caller]
    pub fn assert_refused(&self, code: &str, message: &str) {
        self.assert_error_exact(code, message);
        assert_eq!(self.body["data"], Value::Null, "{}", self.text);
    }

    #[track_caller]
    fn assert_code(&self, code: &str) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        assert_eq!(self.error_code(), Some(code), "{}", self.text);
    }
}

/// Starts lynk on port 0 with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts lynk with adjusted settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    init_logging();
    let database = TestDatabase::new().await;
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_org = "Acme Corp".into();
    config.bootstrap_email = "admin@acme.test".into();
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    configure(&mut config);
    postgres_needs_a_key(&mut config);
    let app = Application::build(config).await.expect("build app");
    let address = app.local_addr();
    let db = app.db().clone();
    let verifier = app.verifier().clone();
    let admin = match app.bootstrapped() {
        Some(outcome) => clone_outcome(outcome),
        None => panic!("a fresh database is bootstrapped"),
    };
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        verifier,
        database,
        admin,
    }
}

/// The encryption key of PostgreSQL test servers given none (SQLite
/// makes its own `lynk.key` beside the database).
pub const POSTGRES_TEST_KEY: &str = "dGVzdCBrZXkgZm9yIHBvc3RncmVzIHRlc3RzIDMyYis=";

/// Gives a PostgreSQL server the test key unless it has one.
pub fn postgres_needs_a_key(config: &mut ServeArgs) {
    if config.database.database_url.starts_with("postgres") && config.encryption_key.is_none() {
        config.encryption_key = Some(POSTGRES_TEST_KEY.parse().expect("a 32-byte key"));
    }
}

fn clone_outcome(outcome: &BootstrapOutcome) -> BootstrapOutcome {
    // BootstrapOutcome is deliberately not Clone (it holds secrets); tests
    // need their own copy.
    serde_json::from_value(serde_json::to_value(outcome).expect("serialize"))
        .map(|v: OutcomeCopy| v.into_outcome())
        .expect("deserialize")
}

#[derive(serde::Deserialize)]
struct OutcomeCopy {
    organization: IdName,
    user: IdEmail,
    password: Option<String>,
    token: String,
}

#[derive(serde::Deserialize)]
struct IdName {
    id: Uuid,
    name: String,
}

#[derive(serde::Deserialize)]
struct IdEmail {
    id: Uuid,
    email: String,
}

impl OutcomeCopy {
    fn into_outcome(self) -> BootstrapOutcome {
        BootstrapOutcome {
            organization: bootstrap::OrganizationSummary {
                id: self.organization.id,
                name: self.organization.name,
            },
            user: bootstrap::UserSummary {
                id: self.user.id,
                email: self.user.email,
            },
            password: self.password,
            token: self.token,
        }
    }
}

impl TestApp {
    /// The GraphQL endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/lynkapi", self.address)
    }

    /// POSTs a GraphQL query with a bearer token.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        let mut request = self.client.post(self.url()).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// Sends any request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// The admin's bootstrap token.
    pub fn admin_token(&self) -> &str {
        &self.admin.token
    }

    /// Bootstraps another organization with its own admin.
    pub async fn other_organization(&self, name: &str, email: &str) -> BootstrapOutcome {
        bootstrap::bootstrap(
            &self.db,
            BootstrapRequest {
                organization_name: name.into(),
                email: email.into(),
                user_name: None,
                password: Some(ADMIN_PASSWORD.into()),
            },
        )
        .await
        .expect("bootstrap another organization")
    }

    /// The id of a built-in role of the admin's organization.
    pub async fn role_id(&self, name: &str) -> Uuid {
        self.role_id_in(self.admin.organization.id, name).await
    }

    /// The id of a role by name in an organization.
    pub async fn role_id_in(&self, organization_id: Uuid, name: &str) -> Uuid {
        use lynk::entity::role;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        role::Entity::find()
            .filter(role::Column::OrganizationId.eq(organization_id))
            .filter(role::Column::Name.eq(name))
            .one(&self.db)
            .await
            .expect("query role")
            .expect("role exists")
            .id
    }

    /// Issues a token directly through the library (for states the API
    /// refuses to create, like an already expired token).
    pub async fn issue_token(&self, new: NewToken) -> (Uuid, String) {
        let (model, secret) = token::issue(&self.db, new, Utc::now())
            .await
            .expect("issue token");
        (model.id, secret.expose().to_owned())
    }

    /// A personal token of the admin, expiring at `expires_at`.
    pub async fn admin_personal_token(&self, expires_at: DateTime<Utc>) -> (Uuid, String) {
        self.issue_token(NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(self.admin.organization.id),
            name: "test".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(self.admin.user.id),
            created_by_user_id: Some(self.admin.user.id),
            projects: ProjectScope::All,
            expires_at: Some(expires_at),
        })
        .await
    }

    /// A service token of the admin's organization with a built-in role.
    /// A service token whose custom role holds exactly `permissions` (the
    /// role is named after them).
    pub async fn token_with(&self, permissions: &[&str]) -> String {
        let answer = self
            .gql(
                Some(self.admin_token()),
                "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
                json!({ "input": { "name": permissions.join(" "), "permissions": permissions } }),
            )
            .await;
        let role_id = answer.body["data"]["createRole"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("{}", answer.text));
        self.issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(self.admin.organization.id),
            name: "narrow".into(),
            scopes: None,
            role_id: Some(role_id),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::All,
            expires_at: None,
        })
        .await
        .1
    }

    pub async fn service_token(&self, role: &str) -> (Uuid, String) {
        let role_id = self.role_id(role).await;
        self.issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(self.admin.organization.id),
            name: format!("{role} pipeline"),
            scopes: None,
            role_id: Some(role_id),
            owner_user_id: None,
            created_by_user_id: Some(self.admin.user.id),
            projects: ProjectScope::All,
            expires_at: None,
        })
        .await
    }

    /// Runs a statement against the test database.
    pub async fn execute(&self, sql: &str, values: Vec<sea_orm::Value>) {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .expect("execute");
    }
}

/// A moment `days` from now.
pub fn days_from_now(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

/// The exact 401 body of docs/DESIGN.md §1.
pub const UNAUTHORIZED_BODY: &str =
    r#"{"errors":[{"message":"Unauthorized","extensions":{"code":"UNAUTHORIZED"}}]}"#;

/// The exact request-level 403 body of docs/DESIGN.md §4.1.
pub const FORBIDDEN_BODY: &str =
    r#"{"errors":[{"message":"Forbidden","extensions":{"code":"FORBIDDEN"}}]}"#;

/// Asserts an answer is the exact 401 of docs/DESIGN.md §4.1.
#[track_caller]
pub fn assert_unauthorized(answer: &Answer, token_was_sent: bool) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.text, UNAUTHORIZED_BODY);
    let expected = if token_was_sent {
        r#"Bearer realm="lynk", error="invalid_token""#
    } else {
        r#"Bearer realm="lynk""#
    };
    assert_eq!(
        answer
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(expected)
    );
}

/// A signed-in user of a test: their id and session token.
pub struct SignedIn {
    pub user_id: Uuid,
    pub session: String,
}

impl TestApp {
    /// POSTs a GraphQL query with a bearer token and `X-Organization-ID`.
    pub async fn gql_in(
        &self,
        token: &str,
        organization_id: Uuid,
        query: &str,
        variables: Value,
    ) -> Answer {
        self.send(
            self.client
                .post(self.url())
                .bearer_auth(token)
                .header("X-Organization-ID", organization_id.to_string())
                .json(&json!({ "query": query, "variables": variables })),
        )
        .await
    }

    /// Signs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let answer = self
            .gql(
                None,
                "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }",
                json!({ "email": email, "password": password }),
            )
            .await;
        answer.body["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {}", answer.text))
            .to_owned()
    }

    /// The bootstrapped admin's session.
    pub async fn admin_session(&self) -> String {
        self.login("admin@acme.test", ADMIN_PASSWORD).await
    }

    /// Invites `email` with a built-in or custom role (by name) and accepts
    /// the invitation as a new user.
    pub async fn add_member(&self, admin_session: &str, email: &str, role: &str) -> SignedIn {
        let role_id = self.role_id(role).await;
        let answer = self
            .gql(
                Some(admin_session),
                "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
                json!({ "input": { "email": email, "roleId": role_id.to_string() } }),
            )
            .await;
        let code = answer.body["data"]["inviteMember"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("invite failed: {}", answer.text))
            .to_owned();
        let answer = self
            .gql(
                None,
                "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token user { id } } }",
                json!({ "input": { "code": code, "name": email, "password": ADMIN_PASSWORD } }),
            )
            .await;
        let payload = &answer.body["data"]["acceptInvitation"];
        SignedIn {
            user_id: payload["user"]["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("accept failed: {}", answer.text)),
            session: payload["token"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Creates a personal token with a session; returns (id, secret).
    pub async fn create_personal_token(
        &self,
        session: &str,
        scopes: Option<Vec<&str>>,
    ) -> (String, String) {
        let answer = self
            .gql(
                Some(session),
                "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id } secret } }",
                json!({ "input": {
                    "name": "laptop",
                    "expiresAt": days_from_now(30).to_rfc3339(),
                    "scopes": scopes,
                } }),
            )
            .await;
        let created = &answer.body["data"]["createPersonalToken"];
        (
            created["token"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("create failed: {}", answer.text))
                .to_owned(),
            created["secret"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

impl TestApp {
    /// Starts another lynk on this app's database, as a second instance
    /// behind the same load balancer would run. It shares nothing with the
    /// first but the database (it finds it bootstrapped, so it reuses the
    /// first admin's credentials). Keep the first app alive meanwhile: it
    /// owns the SQLite file.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// [`TestApp::another_instance`] with adjusted settings.
    pub async fn another_instance_with(&self, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
        let mut config = ServeArgs::new(
            "127.0.0.1:0".parse().expect("address"),
            DatabaseArgs::new(self.database.url.clone()),
        );
        configure(&mut config);
        postgres_needs_a_key(&mut config);
        let app = Application::build(config).await.expect("build app");
        assert!(
            app.bootstrapped().is_none(),
            "a bootstrapped database is reused"
        );
        let address = app.local_addr();
        let db = app.db().clone();
        let verifier = app.verifier().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        TestApp {
            address,
            client: reqwest::Client::new(),
            db,
            verifier,
            database: TestDatabase {
                url: self.database.url.clone(),
                sqlite_path: self.database.sqlite_path.clone(),
                _dir: None,
            },
            admin: clone_outcome(&self.admin),
        }
    }
}

impl TestApp {
    /// Creates a project with the admin's token; returns its id.
    pub async fn create_project(&self, name: &str) -> String {
        let answer = self
            .gql(
                Some(self.admin_token()),
                "mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }",
                json!({ "input": { "name": name } }),
            )
            .await;
        answer.body["data"]["createProject"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("createProject failed: {}", answer.text))
            .to_owned()
    }

    /// Uploads an SBOM document inline with `uploadSbom`, selecting `fields`.
    pub async fn upload_sbom(
        &self,
        token: &str,
        project_id: &str,
        document: &str,
        fields: &str,
    ) -> Answer {
        self.gql(
            Some(token),
            &format!(
                "mutation($input: UploadSbomInput!) {{ uploadSbom(input: $input) {{ {fields} }} }}"
            ),
            json!({ "input": { "projectId": project_id, "document": document } }),
        )
        .await
    }

    /// Uploads a file with `uploadSbomFile` the way `curl -F` does: a
    /// GraphQL multipart request with `operations`, `map` and file part `0`.
    pub async fn upload_sbom_file(
        &self,
        token: Option<&str>,
        project_id: &str,
        file: Vec<u8>,
        fields: &str,
    ) -> Answer {
        let operations = json!({
            "query": format!(
                "mutation($projectId: ID!, $file: Upload!) {{ uploadSbomFile(projectId: $projectId, file: $file) {{ {fields} }} }}"
            ),
            "variables": { "projectId": project_id, "file": null },
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", r#"{"0":["variables.file"]}"#)
            .part(
                "0",
                reqwest::multipart::Part::bytes(file)
                    .file_name("bom.json")
                    .mime_str("application/json")
                    .expect("mime"),
            );
        let mut request = self.client.post(self.url()).multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }
}

/// POSTs `body` to `/lynkapi` with `Transfer-Encoding: chunked` over a raw
/// connection (reqwest always sends a length), in chunks of `chunk` bytes,
/// reading the answer meanwhile; returns its status line.
pub async fn post_chunked(app: &TestApp, token: Option<&str>, body: &str, chunk: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /lynkapi HTTP/1.1\r\nHost: {}\r\n{authorization}\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        app.address
    );
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let _ = writer.write_all(head.as_bytes()).await;
        for piece in body.as_bytes().chunks(chunk) {
            let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    };
    let read = async {
        let mut response = Vec::new();
        let _ = reader.read_to_end(&mut response).await;
        response
    };
    let ((), response) = tokio::join!(write, read);
    let response = String::from_utf8_lossy(&response).into_owned();
    response.lines().next().unwrap_or_default().to_owned()
}
