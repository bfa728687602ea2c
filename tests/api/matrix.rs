//! The authorization matrix: every query field and mutation, as every kind
//! of caller, with the expected outcome. A field missing from the table
//! fails `every_field_is_in_the_matrix`, so nothing ships unguarded.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, Answer, TestApp, spawn_app};

/// What happened, as far as authorization goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed authorization (data, or an error about the input).
    A,
    /// Field-level FORBIDDEN.
    F,
    /// HTTP 401.
    U,
}
use Outcome::{A, F, U};

/// The callers, in column order.
const CALLERS: [&str; 5] = [
    "anonymous",
    "admin session",
    "viewer personal token",
    "uploader service token",
    "token scoped to tokens:read",
];

/// One row: a field as `Type.field`, the operation that reaches it, and the
/// outcome per caller (in `CALLERS` order).
pub struct Case {
    pub field: &'static str,
    pub query: &'static str,
    pub expect: [Outcome; 5],
}

// Ids in variables are random: a caller that passes authorization gets
// NOT_FOUND or BAD_USER_INPUT, so the matrix changes no state.
#[rustfmt::skip]
pub const CASES: &[Case] = &[
    Case { field: "Query.organization", query: "{ organization { id name createdAt maxTokenLifetimeDays } }", expect: [U, A, A, A, A] },
    Case { field: "Query.viewer", query: "{ viewer { kind user { id } token { id } role { id } permissions } }", expect: [U, A, A, A, A] },
    Case { field: "Viewer.personalTokens", query: "{ viewer { personalTokens { edges { cursor } } } }", expect: [U, A, A, A, A] },
    Case { field: "Query.organizations", query: "{ organizations { id } }", expect: [U, A, A, A, A] },
    Case { field: "Query.token", query: "query($id: ID!) { token(id: $id) { id } }", expect: [U, A, A, A, A] },
    Case { field: "Query.role", query: "query($id: ID!) { role(id: $id) { id } }", expect: [U, A, A, F, F] },
    Case { field: "Query.permissions", query: "{ permissions { name } }", expect: [U, A, A, A, A] },
    Case { field: "Query.auditActions", query: "{ auditActions }", expect: [U, A, A, A, A] },
    Case { field: "Query.webhookEvents", query: "{ webhookEvents { name } }", expect: [U, A, A, A, A] },
    Case { field: "Organization.members", query: "{ organization { members { edges { cursor } } } }", expect: [U, A, A, F, F] },
    Case { field: "Organization.invitations", query: "{ organization { invitations { id } } }", expect: [U, A, A, F, F] },
    Case { field: "Organization.roles", query: "{ organization { roles { id } } }", expect: [U, A, A, F, F] },
    Case { field: "Organization.tokens", query: "{ organization { tokens { edges { cursor } } } }", expect: [U, A, F, F, A] },
    Case { field: "Organization.auditEvents", query: "{ organization { auditEvents { edges { cursor } } } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.login", query: r#"mutation { login(email: "admin@acme.test", password: "correct horse battery staple") { expiresAt } }"#, expect: [A, A, A, A, A] },
    Case { field: "Query.invitationPreview", query: r#"{ invitationPreview(code: "nope") { email } }"#, expect: [A, A, A, A, A] },
    Case { field: "Mutation.acceptInvitation", query: r#"mutation { acceptInvitation(input: {code: "nope", name: "x", password: "y"}) { expiresAt } }"#, expect: [A, A, A, A, A] },
    Case { field: "Mutation.changePassword", query: r#"mutation { changePassword(currentPassword: "x", newPassword: "short") }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.createOrganization", query: r#"mutation { createOrganization(name: "") { id } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateOrganization", query: "mutation { updateOrganization(maxTokenLifetimeDays: 0) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.createPersonalToken", query: r#"mutation { createPersonalToken(input: {name: "x", expiresAt: "2000-01-01T00:00:00Z"}) { secret } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.createServiceToken", query: r#"mutation($id: ID!) { createServiceToken(input: {name: "x", roleId: $id}) { secret } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.revokeToken", query: "mutation($id: ID!) { revokeToken(id: $id) { id } }", expect: [U, A, A, A, A] },
    Case { field: "Mutation.rotateToken", query: "mutation($id: ID!) { rotateToken(id: $id) { secret } }", expect: [U, A, A, A, A] },
    // Any credential mints a child; an expiry of 0 is refused, so nothing is minted.
    Case { field: "Mutation.attenuateToken", query: r#"mutation { attenuateToken(input: {name: "x", expiresInSeconds: 0}) { secret } }"#, expect: [U, A, A, A, A] },
    Case { field: "Mutation.narrowToken", query: "mutation($id: ID!) { narrowToken(id: $id, scopes: []) { id } }", expect: [U, A, A, A, A] },
    Case { field: "Mutation.restrictTokenAddresses", query: "mutation($id: ID!) { restrictTokenAddresses(id: $id, allowedCidrs: []) { id } }", expect: [U, A, A, A, A] },
    Case { field: "Mutation.createRole", query: r#"mutation { createRole(input: {name: "", permissions: []}) { id } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateRole", query: "mutation($id: ID!) { updateRole(id: $id, input: {}) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.deleteRole", query: "mutation($id: ID!) { deleteRole(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.inviteMember", query: r#"mutation($id: ID!) { inviteMember(input: {email: "x@acme.test", roleId: $id}) { code } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.revokeInvitation", query: "mutation($id: ID!) { revokeInvitation(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateMemberRole", query: "mutation($id: ID!) { updateMemberRole(userId: $id, roleId: $id) { joinedAt } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.removeMember", query: "mutation($id: ID!) { removeMember(userId: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Query.project", query: "query($id: ID!) { project(id: $id) { id } }", expect: [U, A, A, A, F] },
    Case { field: "Query.sbom", query: "query($id: ID!) { sbom(id: $id) { id } }", expect: [U, A, A, A, F] },
    Case { field: "Organization.projects", query: "{ organization { projects { edges { cursor } } } }", expect: [U, A, A, A, F] },
    Case { field: "Mutation.createProject", query: r#"mutation { createProject(input: {name: ""}) { id } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateProject", query: "mutation($id: ID!) { updateProject(id: $id, input: {}) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.deleteProject", query: "mutation($id: ID!) { deleteProject(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.uploadSbom", query: r#"mutation($id: ID!) { uploadSbom(input: {projectId: $id, document: "{}"}) { id } }"#, expect: [U, A, F, A, F] },
    Case { field: "Mutation.uploadSbomFile", query: r##"mutation($id: ID!) { uploadSbomFile(projectId: $id, file: "#__graphql_file__:0") { id } }"##, expect: [U, A, F, A, F] },
    Case { field: "Mutation.deleteSbom", query: "mutation($id: ID!) { deleteSbom(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.createTrustedPublisher", query: r#"mutation($id: ID!) { createTrustedPublisher(input: {projectId: $id, issuer: "https://token.actions.githubusercontent.com", audience: "lynk", subject: "repo:acme/shop-api:*", roleId: $id}) { id } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.deleteTrustedPublisher", query: "mutation($id: ID!) { deleteTrustedPublisher(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateTrustedPublisher", query: "mutation($id: ID!) { updateTrustedPublisher(id: $id, input: {}) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Query.explainOidcExchange", query: r#"{ explainOidcExchange(token: "a.b.c") { matched } }"#, expect: [U, A, F, F, F] },
    Case { field: "Organization.tokenPolicy", query: "{ organization { tokenPolicy { maxTokenLifetimeDays maxServiceTokenLifetimeDays requireServiceTokenExpiry revokeUnusedAfterDays } } }", expect: [U, A, A, A, A] },
    Case { field: "Mutation.updateTokenPolicy", query: "mutation { updateTokenPolicy(input: {maxTokenLifetimeDays: 0}, dryRun: true) { policy { maxTokenLifetimeDays } } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.revokeTokens", query: r#"mutation { revokeTokens(filter: {nameContains: "no such token"}) { count } }"#, expect: [U, A, F, F, F] },
    Case { field: "Organization.webhooks", query: "{ organization { webhooks { id deliveries { edges { cursor } } } } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.createWebhook", query: r#"mutation { createWebhook(input: {url: "http://hooks.example.com/", events: ["token.created"]}) { secret } }"#, expect: [U, A, F, F, F] },
    Case { field: "Mutation.updateWebhook", query: "mutation($id: ID!) { updateWebhook(id: $id, input: {}) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.deleteWebhook", query: "mutation($id: ID!) { deleteWebhook(id: $id) }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.sendTestWebhookEvent", query: "mutation($id: ID!) { sendTestWebhookEvent(id: $id) { id } }", expect: [U, A, F, F, F] },
    Case { field: "Mutation.redeliverWebhookDelivery", query: "mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id } }", expect: [U, A, F, F, F] },
    // Public, but a token that does not verify is a failed
    // authentication: 401 for everyone (trusted_publishing.rs exchanges
    // real ones without any credential).
    Case { field: "Mutation.exchangeOidcToken", query: r#"mutation($id: ID!) { exchangeOidcToken(token: "a.b.c", projectId: $id) { secret } }"#, expect: [U, U, U, U, U] },
    // Last: it ends the admin session it runs with.
    Case { field: "Mutation.logout", query: "mutation { logout }", expect: [U, A, A, A, A] },
];

/// Fields that need no permission by design (docs/DESIGN.md §3.3): the credential's
/// own organization and identity.
const OPEN_BY_DESIGN: &[&str] = &[
    "Organization.id",
    "Organization.name",
    "Organization.createdAt",
    "Organization.maxTokenLifetimeDays",
    "Viewer.kind",
    "Viewer.user",
    "Viewer.token",
    "Viewer.role",
    "Viewer.permissions",
];

fn outcome(answer: &Answer) -> Outcome {
    if answer.status == StatusCode::UNAUTHORIZED {
        return U;
    }
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    match answer.error_code() {
        Some("FORBIDDEN") => F,
        Some("UNAUTHORIZED") => U,
        Some("INTERNAL_SERVER_ERROR") => panic!("internal error: {}", answer.text),
        _ => A,
    }
}

async fn callers(app: &TestApp) -> [Option<String>; 5] {
    let admin = app.admin_session().await;
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let (_, viewer_token) = app.create_personal_token(&viewer.session, None).await;
    let (_, uploader) = app.service_token("uploader").await;
    let (_, scoped) = app
        .create_personal_token(&admin, Some(vec!["tokens:read"]))
        .await;
    [
        None,
        Some(admin),
        Some(viewer_token),
        Some(uploader),
        Some(scoped),
    ]
}

#[tokio::test]
async fn every_field_as_every_caller() {
    let app = spawn_app().await;
    let callers = callers(&app).await;
    let mut failures = Vec::new();
    for case in CASES {
        for (column, caller) in callers.iter().enumerate() {
            let answer = app
                .gql(
                    caller.as_deref(),
                    case.query,
                    json!({ "id": Uuid::now_v7().to_string() }),
                )
                .await;
            let got = outcome(&answer);
            if got != case.expect[column] {
                failures.push(format!(
                    "{} as {}: expected {:?}, got {:?}: {}",
                    case.field, CALLERS[column], case.expect[column], got, answer.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_field_is_in_the_matrix() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ __schema { queryType { name fields { name } } mutationType { name fields { name } } }
               organization: __type(name: \"Organization\") { name fields { name } }
               viewer: __type(name: \"Viewer\") { name fields { name } } }",
            Value::Null,
        )
        .await;
    let data = &answer.body["data"];
    let types = [
        &data["__schema"]["queryType"],
        &data["__schema"]["mutationType"],
        &data["organization"],
        &data["viewer"],
    ];
    let covered: BTreeSet<&str> = CASES
        .iter()
        .map(|c| c.field)
        .chain(OPEN_BY_DESIGN.iter().copied())
        .collect();
    let mut missing = Vec::new();
    for ty in types {
        let type_name = ty["name"].as_str().expect("type name");
        for field in ty["fields"].as_array().expect("fields") {
            let name = format!("{type_name}.{}", field["name"].as_str().unwrap());
            if !covered.contains(name.as_str()) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these fields to the authorization matrix: {missing:?}"
    );
    // The login case really used the admin's credentials.
    let login = CASES.iter().find(|case| case.field == "Mutation.login");
    assert!(login.is_some_and(|case| case.query.contains(ADMIN_PASSWORD)));
}

/// What happened when a caller acted on a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// Done (data).
    Y,
    /// FORBIDDEN.
    F,
    /// NOT_FOUND: the token does not exist for the caller.
    N,
    /// BAD_USER_INPUT: never possible (a session is never rotated).
    B,
    /// HTTP 401.
    U,
}

/// The tokens acted on, in column order: the admin's personal token, an
/// admin-role service token, the admin's session, and a viewer's
/// personal token (a sibling of the viewer's caller token).
const TARGETS: [&str; 4] = [
    "admin personal",
    "admin service",
    "admin session",
    "viewer personal",
];

/// `(caller, action, outcome per target)`.
#[rustfmt::skip]
const ON_TOKENS: &[(&str, &str, [On; 4])] = {
    use On::*;
    &[
        ("anonymous", "read", [U, U, U, U]),
        ("anonymous", "revoke", [U, U, U, U]),
        ("anonymous", "rotate", [U, U, U, U]),
        ("admin session", "read", [Y, Y, Y, Y]),
        ("admin session", "revoke", [Y, Y, Y, Y]),
        ("admin session", "rotate", [Y, Y, B, F]),
        ("token keeper session", "read", [Y, Y, N, Y]),
        ("token keeper session", "revoke", [Y, Y, N, Y]),
        ("token keeper session", "rotate", [F, F, N, F]),
        ("token keeper service token", "read", [Y, Y, N, Y]),
        ("token keeper service token", "revoke", [Y, Y, N, Y]),
        ("token keeper service token", "rotate", [F, F, N, F]),
        ("viewer personal token", "read", [F, F, N, F]),
        ("viewer personal token", "revoke", [F, F, N, F]),
        ("viewer personal token", "rotate", [F, F, N, F]),
        ("uploader service token", "read", [F, F, N, F]),
        ("uploader service token", "revoke", [F, F, N, F]),
        ("uploader service token", "rotate", [F, F, N, F]),
        ("admin token scoped to tokens:read", "read", [Y, Y, N, Y]),
        ("admin token scoped to tokens:read", "revoke", [F, F, N, F]),
        ("admin token scoped to tokens:read", "rotate", [F, F, N, F]),
        ("another organization's admin session", "read", [N, N, N, N]),
        ("another organization's admin session", "revoke", [N, N, N, N]),
        ("another organization's admin session", "rotate", [N, N, N, N]),
    ]
};

fn on(answer: &Answer) -> On {
    if answer.status == StatusCode::UNAUTHORIZED {
        return On::U;
    }
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    match answer.error_code() {
        None => On::Y,
        Some("FORBIDDEN") => On::F,
        Some("NOT_FOUND") => On::N,
        Some("BAD_USER_INPUT") => On::B,
        Some(other) => panic!("unexpected {other}: {}", answer.text),
    }
}

/// Acting on another principal's token, as every kind of caller: nobody
/// reaches a credential with more power than its own (docs/DESIGN.md §3.4).
#[tokio::test]
async fn every_caller_against_another_principals_token() {
    use chrono::Utc;
    use lynk::{
        auth::{CredentialKind, project_scope::ProjectScope},
        service::token::NewToken,
    };

    use crate::helpers::days_from_now;

    let app = spawn_app().await;
    let org = app.admin.organization.id;
    let admin = app.admin_session().await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation { createRole(input: {name: \"token keeper\", permissions: [\"tokens:read\", \"tokens:write\"]}) { id } }",
            Value::Null,
        )
        .await;
    let keeper_role: Uuid = answer.body["data"]["createRole"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{}", answer.text));
    let keeper = app
        .add_member(&admin, "keeper@acme.test", "token keeper")
        .await;
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let (_, viewer_token) = app.create_personal_token(&viewer.session, None).await;
    let service = |role_id: Uuid| NewToken {
        kind: CredentialKind::Service,
        organization_id: Some(org),
        name: "pipeline".into(),
        scopes: None,
        role_id: Some(role_id),
        owner_user_id: None,
        created_by_user_id: None,
        projects: ProjectScope::All,
        expires_at: None,
    };
    let (_, keeper_service) = app.issue_token(service(keeper_role)).await;
    let (_, uploader_service) = app.service_token("uploader").await;
    let (_, scoped) = app
        .create_personal_token(&admin, Some(vec!["tokens:read"]))
        .await;
    app.other_organization("Evil Corp", "mallory@evil.test")
        .await;
    let foreign_admin = app.login("mallory@evil.test", ADMIN_PASSWORD).await;
    let caller = |name: &str| -> Option<&str> {
        match name {
            "anonymous" => None,
            "admin session" => Some(&admin),
            "token keeper session" => Some(&keeper.session),
            "token keeper service token" => Some(&keeper_service),
            "viewer personal token" => Some(&viewer_token),
            "uploader service token" => Some(&uploader_service),
            "admin token scoped to tokens:read" => Some(&scoped),
            "another organization's admin session" => Some(&foreign_admin),
            other => panic!("no caller {other}"),
        }
    };
    let admin_role = app.role_id("admin").await;
    let mut failures = Vec::new();
    for (caller_name, action, expected) in ON_TOKENS {
        // Fresh targets for every row: a revocation must not spoil the next.
        let personal = |owner: Uuid| NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(org),
            name: "target".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(owner),
            created_by_user_id: Some(owner),
            projects: ProjectScope::All,
            expires_at: Some(days_from_now(30)),
        };
        let targets = [
            app.issue_token(personal(app.admin.user.id)).await.0,
            app.issue_token(service(admin_role)).await.0,
            app.issue_token(NewToken {
                kind: CredentialKind::Session,
                expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
                ..personal(app.admin.user.id)
            })
            .await
            .0,
            app.issue_token(personal(viewer.user_id)).await.0,
        ];
        let query = match *action {
            "read" => "query($id: ID!) { token(id: $id) { id } }",
            "revoke" => "mutation($id: ID!) { revokeToken(id: $id) { id } }",
            _ => "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
        };
        for (column, target) in targets.iter().enumerate() {
            let answer = app
                .gql(
                    caller(caller_name),
                    query,
                    json!({ "id": target.to_string() }),
                )
                .await;
            let got = on(&answer);
            if got != expected[column] {
                failures.push(format!(
                    "{caller_name} {action} {}: expected {:?}, got {got:?}: {}",
                    TARGETS[column], expected[column], answer.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every project-level field and mutation, as a token restricted to
/// project A: A is there, B does not exist, nothing new can be made.
#[tokio::test]
async fn a_token_restricted_to_a_project_sees_no_other() {
    use crate::ci_tokens::{CREATE_SERVICE, CYCLONEDX, data, project_manager_role};

    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let a = app.create_project("a").await;
    let b = app.create_project("b").await;
    let role = project_manager_role(&app, &admin).await;
    let sbom_in = |project: &str| {
        let project = project.to_owned();
        let app = &app;
        async move {
            let answer = app
                .upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
                .await;
            data(&answer, "uploadSbom")["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sbom_a = sbom_in(&a).await;
    let sbom_b = sbom_in(&b).await;
    let answer = app
        .gql(
            Some(&admin),
            CREATE_SERVICE,
            json!({ "input": { "name": "ci", "roleId": role, "projectIds": [a] } }),
        )
        .await;
    let created = data(&answer, "createServiceToken");
    assert_eq!(created["token"]["projects"], json!([{ "id": a }]));
    let token = created["secret"].as_str().unwrap().to_owned();

    // (query, variables, for A, for B): "A" = allowed, else the error code.
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": a }),
            json!({ "id": b }),
        ),
        (
            "query($id: ID!) { sbom(id: $id) { id document } }",
            json!({ "id": sbom_a }),
            json!({ "id": sbom_b }),
        ),
        (
            "query($id: ID!) { project(id: $id) { sboms { edges { node { id } } } } }",
            json!({ "id": a }),
            json!({ "id": b }),
        ),
        (
            "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { id } }",
            json!({ "input": { "projectId": a, "document": CYCLONEDX.replace("serde", "tokio") } }),
            json!({ "input": { "projectId": b, "document": CYCLONEDX.replace("serde", "tokio") } }),
        ),
        (
            "mutation($id: ID!) { updateProject(id: $id, input: {description: \"x\"}) { id } }",
            json!({ "id": a }),
            json!({ "id": b }),
        ),
        (
            "mutation($id: ID!) { deleteSbom(id: $id) }",
            json!({ "id": sbom_a }),
            json!({ "id": sbom_b }),
        ),
    ];
    for (query, allowed, hidden) in cases {
        let answer = app.gql(Some(&token), query, allowed).await;
        assert!(answer.body["errors"].is_null(), "{query}: {}", answer.text);
        let answer = app.gql(Some(&token), query, hidden).await;
        assert_eq!(
            answer.error_code(),
            Some("NOT_FOUND"),
            "{query}: {}",
            answer.text
        );
    }
    // The multipart upload too.
    let answer = app
        .upload_sbom_file(Some(&token), &b, CYCLONEDX.as_bytes().to_vec(), "id")
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = app
        .upload_sbom_file(
            Some(&token),
            &a,
            CYCLONEDX.replace("serde", "rand").into_bytes(),
            "id",
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    // Lists hold A only.
    let answer = app
        .gql(
            Some(&token),
            "{ organization { projects { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["projects"]["edges"],
        json!([{ "node": { "id": a } }]),
        "{}",
        answer.text
    );
    // It cannot create a project, nor hand out more than it has.
    let answer = app
        .gql(
            Some(&token),
            r#"mutation { createProject(input: {name: "c"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    for (projects, code) in [
        (Value::Null, "FORBIDDEN"),
        (json!([b]), "NOT_FOUND"),
        (json!([]), "BAD_USER_INPUT"),
    ] {
        let answer = app
            .gql(
                Some(&token),
                CREATE_SERVICE,
                json!({ "input": { "name": "more", "roleId": role, "projectIds": projects } }),
            )
            .await;
        assert_eq!(
            answer.error_code(),
            Some(code),
            "{projects}: {}",
            answer.text
        );
    }
    let answer = app
        .gql(
            Some(&token),
            CREATE_SERVICE,
            json!({ "input": { "name": "narrower", "roleId": role, "projectIds": [a] } }),
        )
        .await;
    assert_eq!(
        data(&answer, "createServiceToken")["token"]["projects"],
        json!([{ "id": a }])
    );
    // Nor rotate its way out: an unrestricted token stays out of reach.
    let (wide, _) = app.service_token("uploader").await;
    let answer = app
        .gql(
            Some(&token),
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({ "id": wide.to_string() }),
        )
        .await;
    // An unrestricted token lies outside its projects: it does not exist.
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    // Deleting B is NOT_FOUND; deleting A works, and then the token reaches
    // no project at all (not every project).
    let answer = app
        .gql(
            Some(&token),
            "mutation($id: ID!) { deleteProject(id: $id) }",
            json!({ "id": b }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = app
        .gql(
            Some(&token),
            "mutation($id: ID!) { deleteProject(id: $id) }",
            json!({ "id": a }),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let answer = app
        .gql(
            Some(&token),
            "{ viewer { token { projects { id } } } organization { projects { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["token"]["projects"],
        json!([]),
        "{}",
        answer.text
    );
    assert_eq!(
        answer.body["data"]["organization"]["projects"]["edges"],
        json!([])
    );
    let answer = app
        .gql(
            Some(&token),
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": b }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
    // An unrestricted token still sees B; a foreign project id is NOT_FOUND.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": b }),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
}
