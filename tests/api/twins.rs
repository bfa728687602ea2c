//! Every kind of change sent four times at once, as a retrying client or
//! two browser tabs do: on PostgreSQL transactions do not serialize by
//! themselves, so each mutation must settle the race itself. Whatever
//! the order, no copy answers a 500, a copy that loses says why with a
//! user error, and the audit log records each change that happened once
//! (never one that did not, never one twice).

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use std::collections::BTreeSet;

use chrono::Utc;
use lynk::entity::webhook_delivery::{self, DeliveryStatus};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

use crate::{
    ci_tokens::CYCLONEDX,
    helpers::{Answer, TestApp, spawn_app_with},
};

/// How many copies of each request race.
const COPIES: usize = 4;

/// [`Race::token`] for a request sent without a credential.
const ANONYMOUS: &str = "";

/// Mutations raced by another test, or that a race here cannot exercise,
/// each with where and why.
const RACED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "login",
        "security::concurrent_wrong_logins_never_exceed_the_budget",
    ),
    ("logout", "ends the very session the copies would share"),
    (
        "changePassword",
        "ends the other sessions, the copies' own among them",
    ),
    (
        "revokeTokens",
        "bulk_revocation::concurrent_bulk_revocations_revoke_each_token_once",
    ),
    (
        "uploadSbom",
        "sboms::re_uploading_the_same_document_returns_the_same_sbom",
    ),
    (
        "uploadSbomFile",
        "the same service call as uploadSbom, after reading the multipart body",
    ),
    (
        "exchangeOidcToken",
        "publisher_pins::concurrent_first_exchanges_pin_once",
    ),
];

/// What the copies may end with.
#[derive(Clone, Copy, Debug)]
enum Winners {
    /// Exactly one copy changes anything; the others get `codes`.
    One,
    /// Any number succeed (the change is idempotent or each copy is a
    /// change of its own); the others get `codes`.
    Any,
}

/// How many audit records of the action the race must leave.
#[derive(Clone, Copy, Debug)]
enum Audited {
    /// One per copy that succeeded.
    PerSuccess,
    /// Exactly this many, whatever answered (an idempotent change).
    Exactly(usize),
}

struct Race {
    name: &'static str,
    /// Who sends it; `None`: the admin's personal token.
    token: Option<String>,
    query: &'static str,
    variables: Value,
    winners: Winners,
    /// Error codes a losing copy may answer.
    codes: &'static [&'static str],
    audit: Option<(&'static str, Audited)>,
}

async fn audit_count(app: &TestApp, action: &str) -> usize {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($action: String!) { organization { auditEvents(action: $action, first: 100) { edges { node { id } } } } }",
            json!({ "action": action }),
        )
        .await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .len()
}

async fn data_id(answer: &Answer, path: &[&str]) -> String {
    let mut value = &answer.body["data"];
    for key in path {
        value = &value[*key];
    }
    value
        .as_str()
        .unwrap_or_else(|| panic!("{path:?}: {}", answer.text))
        .to_owned()
}

async fn run(app: &TestApp, race: Race) {
    let before = match race.audit {
        Some((action, _)) => audit_count(app, action).await,
        None => 0,
    };
    let token = race.token.as_deref().unwrap_or(app.admin_token());
    let token = (token != ANONYMOUS).then_some(token);
    let answers: Vec<Answer> =
        join_all((0..COPIES).map(|_| app.gql(token, race.query, race.variables.clone()))).await;
    let mut successes = 0;
    for answer in &answers {
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {}",
            race.name,
            answer.text
        );
        match answer.error_code() {
            None => successes += 1,
            Some(code) => assert!(
                race.codes.contains(&code),
                "{}: a losing copy answered {code}, expected one of {:?}: {}",
                race.name,
                race.codes,
                answer.text
            ),
        }
    }
    match race.winners {
        Winners::One => assert_eq!(successes, 1, "{}: {answers:#?}", race.name),
        Winners::Any => assert!(successes >= 1, "{}: {answers:#?}", race.name),
    }
    if let Some((action, audited)) = race.audit {
        let expected = match audited {
            Audited::PerSuccess => successes,
            Audited::Exactly(n) => n,
        };
        assert_eq!(
            audit_count(app, action).await - before,
            expected,
            "{}: {action} records after {successes} successes",
            race.name
        );
    }
}

/// A delivery of `webhook_id` whose every attempt failed.
async fn failed_delivery(app: &TestApp, webhook_id: &str) -> Uuid {
    let id = Uuid::now_v7();
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(id),
        webhook_id: Set(webhook_id.parse().unwrap()),
        organization_id: Set(app.admin.organization.id),
        event: Set("token.revoked".to_owned()),
        payload: Set(
            r#"{"type":"token.revoked","timestamp":"2026-12-07T00:00:00.000Z","data":{}}"#
                .to_owned(),
        ),
        status: Set(DeliveryStatus::Failed),
        attempts: Set(12),
        next_attempt_at: Set(Utc::now()),
        locked_until: Set(None),
        response_status: Set(None),
        last_error: Set(Some("no answer within 10s".to_owned())),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
    })
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn every_change_sent_four_times_at_once_settles_without_a_500() {
    // A receiver nobody listens on: deliveries fail, which is all the
    // webhook races need.
    let app = spawn_app_with(|config| config.allow_private_webhook_urls = true).await;
    let admin = app.admin_session().await;
    let viewer = app.role_id("viewer").await.to_string();
    let editor = app.role_id("editor").await.to_string();

    let (revoked, _) = app.service_token("viewer").await;
    let (rotated, _) = app.service_token("viewer").await;
    let (narrowed, _) = app.service_token("editor").await;
    let (restricted, _) = app.service_token("viewer").await;
    let project = app.create_project("twins").await;
    let doomed_project = app.create_project("doomed").await;
    let member = app.add_member(&admin, "twin@acme.test", "viewer").await;
    let leaver = app.add_member(&admin, "leaver@acme.test", "viewer").await;
    let role = app
        .gql(
            Some(app.admin_token()),
            "mutation { createRole(input: {name: \"doomed\", permissions: [\"projects:read\"]}) { id } }",
            Value::Null,
        )
        .await;
    let doomed_role = data_id(&role, &["createRole", "id"]).await;
    let invitation = app
        .gql(
            Some(app.admin_token()),
            "mutation($r: ID!) { inviteMember(input: {email: \"maybe@acme.test\", roleId: $r}) { invitation { id } } }",
            json!({ "r": viewer }),
        )
        .await;
    let invitation = data_id(&invitation, &["inviteMember", "invitation", "id"]).await;
    let publisher_input = json!({
        "projectId": project,
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "lynk",
        "subject": "repo:acme/doomed:ref:refs/heads/main",
        "roleId": viewer,
    });
    let publisher = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateTrustedPublisherInput!) { createTrustedPublisher(input: $input) { id } }",
            json!({ "input": publisher_input }),
        )
        .await;
    let publisher = data_id(&publisher, &["createTrustedPublisher", "id"]).await;

    let role = app
        .gql(
            Some(app.admin_token()),
            "mutation { createRole(input: {name: \"updatable\", permissions: [\"projects:read\"]}) { id } }",
            Value::Null,
        )
        .await;
    let updatable_role = data_id(&role, &["createRole", "id"]).await;
    let session = app.admin_session().await;
    let (_, uploader) = app.service_token("uploader").await;
    let sbom = app.upload_sbom(&uploader, &project, CYCLONEDX, "id").await;
    let sbom = data_id(&sbom, &["uploadSbom", "id"]).await;
    let webhook = app
        .gql(
            Some(app.admin_token()),
            "mutation { createWebhook(input: {url: \"http://127.0.0.1:9/hook\", events: [\"token.revoked\"]}) { webhook { id } } }",
            Value::Null,
        )
        .await;
    let webhook = data_id(&webhook, &["createWebhook", "webhook", "id"]).await;
    let failed = failed_delivery(&app, &webhook).await;
    let doomed_webhook = app
        .gql(
            Some(app.admin_token()),
            "mutation { createWebhook(input: {url: \"http://127.0.0.1:9/doomed\", events: [\"token.revoked\"]}) { webhook { id } } }",
            Value::Null,
        )
        .await;
    let doomed_webhook = data_id(&doomed_webhook, &["createWebhook", "webhook", "id"]).await;
    let joining = app
        .gql(
            Some(app.admin_token()),
            "mutation($r: ID!) { inviteMember(input: {email: \"joiner@acme.test\", roleId: $r}) { code } }",
            json!({ "r": viewer }),
        )
        .await;
    let code = data_id(&joining, &["inviteMember", "code"]).await;

    let races = vec![
        Race {
            token: None,
            name: "revokeToken",
            query: "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            variables: json!({ "id": revoked }),
            winners: Winners::Any,
            codes: &[],
            audit: Some(("token.revoked", Audited::Exactly(1))),
        },
        Race {
            token: None,
            name: "rotateToken",
            query: "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            variables: json!({ "id": rotated }),
            winners: Winners::One,
            // Lost the race, or came after it: "only an active token".
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("token.rotated", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "narrowToken",
            query: "mutation($id: ID!) { narrowToken(id: $id, scopes: [\"projects:read\"]) { scopes } }",
            variables: json!({ "id": narrowed }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            token: None,
            name: "restrictTokenAddresses",
            query: "mutation($id: ID!) { restrictTokenAddresses(id: $id, allowedCidrs: [\"10.0.0.0/8\"]) { allowedCidrs } }",
            variables: json!({ "id": restricted }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("token.addresses_restricted", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "attenuateToken",
            query: "mutation { attenuateToken(input: {name: \"twin\", scopes: [\"projects:read\"], expiresInSeconds: 600}) { secret } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &[],
            audit: Some(("token.attenuated", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "createProject",
            query: "mutation { createProject(input: {name: \"same-name\"}) { id } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("project.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "deleteProject",
            query: "mutation($id: ID!) { deleteProject(id: $id) }",
            variables: json!({ "id": doomed_project }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("project.deleted", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "createRole",
            query: "mutation { createRole(input: {name: \"twin role\", permissions: [\"projects:read\"]}) { id } }",
            variables: Value::Null,
            winners: Winners::One,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("role.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "deleteRole",
            query: "mutation($id: ID!) { deleteRole(id: $id) }",
            variables: json!({ "id": doomed_role }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("role.deleted", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "inviteMember",
            query: "mutation($r: ID!) { inviteMember(input: {email: \"twin-invite@acme.test\", roleId: $r}) { code } }",
            variables: json!({ "r": viewer }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("member.invited", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "revokeInvitation",
            query: "mutation($id: ID!) { revokeInvitation(id: $id) }",
            variables: json!({ "id": invitation }),
            winners: Winners::Any,
            codes: &["NOT_FOUND", "CONFLICT"],
            audit: Some(("member.invitation_revoked", Audited::Exactly(1))),
        },
        Race {
            token: None,
            name: "updateMemberRole",
            query: "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            variables: json!({ "u": member.user_id.to_string(), "r": editor }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            token: None,
            name: "removeMember",
            query: "mutation($u: ID!) { removeMember(userId: $u) }",
            variables: json!({ "u": leaver.user_id.to_string() }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("member.removed", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "updateTokenPolicy",
            query: "mutation { updateTokenPolicy(input: {maxServiceTokenLifetimeDays: 400}) { policy { maxServiceTokenLifetimeDays } } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            token: None,
            name: "updateTrustedPublisher",
            query: "mutation($id: ID!) { updateTrustedPublisher(id: $id, input: {tokenLifetimeSeconds: 1800}) { tokenLifetimeSeconds } }",
            variables: json!({ "id": publisher }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            token: None,
            name: "deleteTrustedPublisher",
            query: "mutation($id: ID!) { deleteTrustedPublisher(id: $id) }",
            variables: json!({ "id": publisher }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("trusted_publisher.deleted", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "updateOrganization",
            query: "mutation { updateOrganization(name: \"Acme Twins\") { name } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            token: Some(session.clone()),
            name: "createOrganization",
            query: "mutation { createOrganization(name: \"Twin Corp\") { id } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: None,
        },
        Race {
            token: Some(session.clone()),
            name: "createPersonalToken",
            query: "mutation($at: DateTime!) { createPersonalToken(input: {name: \"twin laptop\", expiresAt: $at}) { secret } }",
            variables: json!({ "at": (Utc::now() + chrono::Duration::days(30)).to_rfc3339() }),
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("token.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "createServiceToken",
            query: "mutation($r: ID!, $at: DateTime!) { createServiceToken(input: {name: \"twin pipeline\", roleId: $r, expiresAt: $at}) { secret } }",
            variables: json!({ "r": viewer, "at": (Utc::now() + chrono::Duration::days(30)).to_rfc3339() }),
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("token.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "updateRole",
            query: "mutation($id: ID!) { updateRole(id: $id, input: {description: \"twins\"}) { id } }",
            variables: json!({ "id": updatable_role }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("role.updated", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "updateProject",
            query: "mutation($id: ID!) { updateProject(id: $id, input: {uploadPolicy: TRUSTED_PUBLISHING_REPORT}) { uploadPolicy } }",
            variables: json!({ "id": project }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("project.updated", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "deleteSbom",
            query: "mutation($id: ID!) { deleteSbom(id: $id) }",
            variables: json!({ "id": sbom }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("sbom.deleted", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "createTrustedPublisher",
            query: "mutation($input: CreateTrustedPublisherInput!) { createTrustedPublisher(input: $input) { id } }",
            variables: json!({ "input": {
                "projectId": project,
                "issuer": "https://token.actions.githubusercontent.com",
                "audience": "lynk",
                "subject": "repo:acme/twins:ref:refs/heads/main",
                "roleId": viewer,
            } }),
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("trusted_publisher.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "createWebhook",
            query: "mutation { createWebhook(input: {url: \"http://127.0.0.1:9/twin\", events: [\"sbom.uploaded\"]}) { webhook { id } } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("webhook.created", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "updateWebhook",
            query: "mutation($id: ID!) { updateWebhook(id: $id, input: {events: [\"token.revoked\", \"token.created\"]}) { id } }",
            variables: json!({ "id": webhook }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("webhook.updated", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "sendTestWebhookEvent",
            query: "mutation($id: ID!) { sendTestWebhookEvent(id: $id) { id } }",
            variables: json!({ "id": webhook }),
            winners: Winners::Any,
            codes: &[],
            audit: Some(("webhook.test_sent", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "redeliverWebhookDelivery",
            query: "mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { status } }",
            variables: json!({ "id": failed }),
            winners: Winners::One,
            codes: &["CONFLICT"],
            audit: Some(("webhook.redelivered", Audited::PerSuccess)),
        },
        Race {
            token: None,
            name: "deleteWebhook",
            query: "mutation($id: ID!) { deleteWebhook(id: $id) }",
            variables: json!({ "id": doomed_webhook }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("webhook.deleted", Audited::PerSuccess)),
        },
        Race {
            token: Some(ANONYMOUS.to_owned()),
            name: "acceptInvitation",
            query: "mutation($code: String!) { acceptInvitation(input: {code: $code, name: \"Joiner\", password: \"a long enough password\"}) { token } }",
            variables: json!({ "code": code }),
            winners: Winners::One,
            codes: &["BAD_USER_INPUT"],
            audit: Some(("member.joined", Audited::PerSuccess)),
        },
    ];
    let raced: BTreeSet<&str> = races
        .iter()
        .map(|race| race.name)
        .chain(RACED_ELSEWHERE.iter().map(|(name, _)| *name))
        .collect();
    let mutations = app
        .gql(
            Some(app.admin_token()),
            "{ __schema { mutationType { fields { name } } } }",
            Value::Null,
        )
        .await;
    let missing: Vec<&str> = mutations.body["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap())
        .filter(|name| !raced.contains(name))
        .collect();
    assert_eq!(
        missing,
        Vec::<&str>::new(),
        "race these here, or name where they are raced in RACED_ELSEWHERE"
    );
    for race in races {
        run(&app, race).await;
    }
}

/// A deletion racing a write into what it deletes: whichever commits
/// first wins, the other gets a user error, and nothing is left pointing
/// at a row that is gone (no 500 from a foreign key).
#[tokio::test]
async fn a_deletion_racing_a_write_into_what_it_deletes_is_never_a_500() {
    let app = spawn_app_with(|config| config.allow_private_webhook_urls = true).await;
    let (_, uploader) = app.service_token("uploader").await;
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        // An SBOM uploaded into a project being deleted.
        let project = app.create_project(&format!("racing-{round}")).await;
        let document = format!(
            r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": {round}, "components": []}}"#
        );
        let (deleted, uploaded) = tokio::join!(
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { deleteProject(id: $id) }",
                json!({ "id": project }),
            ),
            app.upload_sbom(&uploader, &project, &document, "id"),
        );
        settled("deleteProject / uploadSbom", &deleted, &uploaded);
        assert_eq!(deleted.error_code(), None, "{}", deleted.text);
        let left = app
            .gql(
                Some(app.admin_token()),
                "query($id: ID!) { project(id: $id) { id } }",
                json!({ "id": project }),
            )
            .await;
        assert_eq!(left.error_code(), Some("NOT_FOUND"), "{}", left.text);

        // A test event queued for a webhook being deleted.
        let webhook = app
            .gql(
                Some(app.admin_token()),
                "mutation($url: String!) { createWebhook(input: {url: $url, events: [\"token.revoked\"]}) { webhook { id } } }",
                json!({ "url": format!("http://127.0.0.1:9/racing-{round}") }),
            )
            .await;
        let webhook = data_id(&webhook, &["createWebhook", "webhook", "id"]).await;
        let (deleted, sent) = tokio::join!(
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { deleteWebhook(id: $id) }",
                json!({ "id": webhook }),
            ),
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { sendTestWebhookEvent(id: $id) { id } }",
                json!({ "id": webhook }),
            ),
        );
        settled("deleteWebhook / sendTestWebhookEvent", &deleted, &sent);
        assert_eq!(deleted.error_code(), None, "{}", deleted.text);

        // A webhook changed while it is deleted.
        let webhook = app
            .gql(
                Some(app.admin_token()),
                "mutation($url: String!) { createWebhook(input: {url: $url, events: [\"token.revoked\"]}) { webhook { id } } }",
                json!({ "url": format!("http://127.0.0.1:9/changing-{round}") }),
            )
            .await;
        let webhook = data_id(&webhook, &["createWebhook", "webhook", "id"]).await;
        let (deleted, updated) = tokio::join!(
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { deleteWebhook(id: $id) }",
                json!({ "id": webhook }),
            ),
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { updateWebhook(id: $id, input: {active: false}) { id } }",
                json!({ "id": webhook }),
            ),
        );
        settled("deleteWebhook / updateWebhook", &deleted, &updated);
        assert_eq!(deleted.error_code(), None, "{}", deleted.text);

        // A project changed, and trusted with a publisher, while it is deleted.
        let project = app.create_project(&format!("changing-{round}")).await;
        let viewer = app.role_id("viewer").await.to_string();
        let (deleted, updated, trusted) = tokio::join!(
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { deleteProject(id: $id) }",
                json!({ "id": project }),
            ),
            app.gql(
                Some(app.admin_token()),
                "mutation($id: ID!) { updateProject(id: $id, input: {description: \"racing\"}) { id } }",
                json!({ "id": project }),
            ),
            app.gql(
                Some(app.admin_token()),
                "mutation($input: CreateTrustedPublisherInput!) { createTrustedPublisher(input: $input) { id } }",
                json!({ "input": {
                    "projectId": project,
                    "issuer": "https://token.actions.githubusercontent.com",
                    "audience": "lynk",
                    "subject": format!("repo:acme/racing-{round}:ref:refs/heads/main"),
                    "roleId": viewer,
                } }),
            ),
        );
        settled("deleteProject / updateProject", &deleted, &updated);
        settled("deleteProject / createTrustedPublisher", &deleted, &trusted);
        assert_eq!(deleted.error_code(), None, "{}", deleted.text);
    }
}

/// Both answered 200, and whichever lost says so with a user error.
fn settled(what: &str, first: &Answer, second: &Answer) {
    for answer in [first, second] {
        assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.text);
        if let Some(code) = answer.error_code() {
            assert!(
                ["NOT_FOUND", "CONFLICT"].contains(&code),
                "{what}: {}",
                answer.text
            );
        }
    }
}
