//! Every kind of change sent four times at once, as a retrying client or
//! two browser tabs do: on PostgreSQL transactions do not serialize by
//! themselves, so each mutation must settle the race itself. Whatever
//! the order, no copy answers a 500, a copy that loses says why with a
//! user error, and the audit log records each change that happened once
//! (never one that did not, never one twice).

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

/// How many copies of each request race.
const COPIES: usize = 4;

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
    let answers: Vec<Answer> = join_all(
        (0..COPIES).map(|_| app.gql(Some(app.admin_token()), race.query, race.variables.clone())),
    )
    .await;
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

#[tokio::test]
async fn every_change_sent_four_times_at_once_settles_without_a_500() {
    let app = spawn_app().await;
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

    let races = vec![
        Race {
            name: "revokeToken",
            query: "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            variables: json!({ "id": revoked }),
            winners: Winners::Any,
            codes: &[],
            audit: Some(("token.revoked", Audited::Exactly(1))),
        },
        Race {
            name: "rotateToken",
            query: "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            variables: json!({ "id": rotated }),
            winners: Winners::One,
            // Lost the race, or came after it: "only an active token".
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("token.rotated", Audited::PerSuccess)),
        },
        Race {
            name: "narrowToken",
            query: "mutation($id: ID!) { narrowToken(id: $id, scopes: [\"projects:read\"]) { scopes } }",
            variables: json!({ "id": narrowed }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            name: "restrictTokenAddresses",
            query: "mutation($id: ID!) { restrictTokenAddresses(id: $id, allowedCidrs: [\"10.0.0.0/8\"]) { allowedCidrs } }",
            variables: json!({ "id": restricted }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("token.addresses_restricted", Audited::PerSuccess)),
        },
        Race {
            name: "attenuateToken",
            query: "mutation { attenuateToken(input: {name: \"twin\", scopes: [\"projects:read\"], expiresInSeconds: 600}) { secret } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &[],
            audit: Some(("token.attenuated", Audited::PerSuccess)),
        },
        Race {
            name: "createProject",
            query: "mutation { createProject(input: {name: \"same-name\"}) { id } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("project.created", Audited::PerSuccess)),
        },
        Race {
            name: "deleteProject",
            query: "mutation($id: ID!) { deleteProject(id: $id) }",
            variables: json!({ "id": doomed_project }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("project.deleted", Audited::PerSuccess)),
        },
        Race {
            name: "createRole",
            query: "mutation { createRole(input: {name: \"twin role\", permissions: [\"projects:read\"]}) { id } }",
            variables: Value::Null,
            winners: Winners::One,
            codes: &["CONFLICT", "BAD_USER_INPUT"],
            audit: Some(("role.created", Audited::PerSuccess)),
        },
        Race {
            name: "deleteRole",
            query: "mutation($id: ID!) { deleteRole(id: $id) }",
            variables: json!({ "id": doomed_role }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("role.deleted", Audited::PerSuccess)),
        },
        Race {
            name: "inviteMember",
            query: "mutation($r: ID!) { inviteMember(input: {email: \"twin-invite@acme.test\", roleId: $r}) { code } }",
            variables: json!({ "r": viewer }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: Some(("member.invited", Audited::PerSuccess)),
        },
        Race {
            name: "revokeInvitation",
            query: "mutation($id: ID!) { revokeInvitation(id: $id) }",
            variables: json!({ "id": invitation }),
            winners: Winners::Any,
            codes: &["NOT_FOUND", "CONFLICT"],
            audit: Some(("member.invitation_revoked", Audited::Exactly(1))),
        },
        Race {
            name: "updateMemberRole",
            query: "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            variables: json!({ "u": member.user_id.to_string(), "r": editor }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            name: "removeMember",
            query: "mutation($u: ID!) { removeMember(userId: $u) }",
            variables: json!({ "u": leaver.user_id.to_string() }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("member.removed", Audited::PerSuccess)),
        },
        Race {
            name: "updateTokenPolicy",
            query: "mutation { updateTokenPolicy(input: {maxServiceTokenLifetimeDays: 400}) { policy { maxServiceTokenLifetimeDays } } }",
            variables: Value::Null,
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            name: "updateTrustedPublisher",
            query: "mutation($id: ID!) { updateTrustedPublisher(id: $id, input: {tokenLifetimeSeconds: 1800}) { tokenLifetimeSeconds } }",
            variables: json!({ "id": publisher }),
            winners: Winners::Any,
            codes: &["CONFLICT"],
            audit: None,
        },
        Race {
            name: "deleteTrustedPublisher",
            query: "mutation($id: ID!) { deleteTrustedPublisher(id: $id) }",
            variables: json!({ "id": publisher }),
            winners: Winners::One,
            codes: &["NOT_FOUND"],
            audit: Some(("trusted_publisher.deleted", Audited::PerSuccess)),
        },
    ];
    for race in races {
        run(&app, race).await;
    }
}
