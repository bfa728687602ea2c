//! `deleteRole` racing a use of the role: whichever commits first wins,
//! and the other gets a user error, never a 500 (a service token,
//! invitation or member pointing at a deleted role).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

const ROUNDS: usize = 12;

const DELETE_ROLE: &str = "mutation($id: ID!) { deleteRole(id: $id) }";

async fn create_role(app: &TestApp, name: &str) -> String {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": name, "permissions": ["projects:read"] } }),
        )
        .await;
    answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createRole failed: {}", answer.text))
        .to_owned()
}

/// The use, sent at the same time as `deleteRole`.
#[derive(Clone, Copy, Debug)]
enum Use {
    CreateServiceToken,
    InviteMember,
    UpdateMemberRole,
}

async fn use_role(app: &TestApp, how: Use, role_id: &str, round: usize, member: &str) -> Answer {
    let token = Some(app.admin_token());
    match how {
        Use::CreateServiceToken => {
            app.gql(
                token,
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } } }",
                json!({ "input": { "name": format!("ci-{round}"), "roleId": role_id } }),
            )
            .await
        }
        Use::InviteMember => {
            app.gql(
                token,
                "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
                json!({ "input": { "email": format!("invitee-{round}@acme.test"), "roleId": role_id } }),
            )
            .await
        }
        Use::UpdateMemberRole => {
            app.gql(
                token,
                "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { id } } }",
                json!({ "u": member, "r": role_id }),
            )
            .await
        }
    }
}

/// Gives the member back a role that no round deletes, so that the next
/// round's role is unused before its race.
async fn reset_member(app: &TestApp, member: &str) {
    let viewer = app.role_id("viewer").await.to_string();
    let answer = use_role(app, Use::UpdateMemberRole, &viewer, 0, member).await;
    assert_eq!(answer.body["errors"], Value::Null, "{}", answer.text);
}

#[tokio::test]
async fn delete_role_racing_a_use_of_it_is_never_a_500() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let member = app
        .add_member(&session, "member@acme.test", "viewer")
        .await
        .user_id
        .to_string();
    let mut outcomes = [0usize; 2];
    for round in 0..ROUNDS * 3 {
        let how = [
            Use::CreateServiceToken,
            Use::InviteMember,
            Use::UpdateMemberRole,
        ][round % 3];
        let role_id = create_role(&app, &format!("racer-{round}")).await;
        let (deleted, used) = tokio::join!(
            app.gql(
                Some(app.admin_token()),
                DELETE_ROLE,
                json!({ "id": role_id })
            ),
            use_role(&app, how, &role_id, round, &member),
        );
        for answer in [&deleted, &used] {
            assert_eq!(answer.status, StatusCode::OK, "{how:?}: {}", answer.text);
        }
        match (deleted.error_code(), used.error_code()) {
            // The delete won: the role is gone for the use.
            (None, Some("NOT_FOUND")) => {
                assert_eq!(deleted.body["data"]["deleteRole"], role_id.as_str());
                assert_eq!(used.body["errors"][0]["message"], "role not found");
                outcomes[0] += 1;
            }
            // The use won: the role is in use.
            (Some("CONFLICT"), None) => {
                let message = deleted.body["errors"][0]["message"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    message.starts_with(&format!("role `racer-{round}` is still used by")),
                    "{message}"
                );
                outcomes[1] += 1;
            }
            _ => panic!(
                "{how:?}, round {round}: delete {} / use {}",
                deleted.text, used.text
            ),
        }
        if matches!(how, Use::UpdateMemberRole) {
            reset_member(&app, &member).await;
        }
    }
    assert_eq!(outcomes.iter().sum::<usize>(), ROUNDS * 3);
}
