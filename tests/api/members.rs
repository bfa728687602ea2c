//! Invitations, roles of members, removal and the last admin.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, assert_unauthorized, spawn_app};

const INVITE: &str = "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { id email role { name } expiresAt } code } }";
const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token user { email name } } }";
const VERIFY: &str = "{ organization { id } }";

#[tokio::test]
async fn an_invitation_is_single_use() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let viewer = app.role_id("viewer").await;
    let answer = app
        .gql(
            Some(&admin),
            INVITE,
            json!({"input": {"email": "Vera@Acme.test", "roleId": viewer.to_string()}}),
        )
        .await;
    let created = &answer.body["data"]["inviteMember"];
    assert_eq!(created["invitation"]["email"], "vera@acme.test");
    assert_eq!(created["invitation"]["role"]["name"], "viewer");
    let code = created["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("lynk_invite_"));
    let listed = app
        .gql(
            Some(&admin),
            "{ organization { invitations { email } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        listed.body["data"]["organization"]["invitations"],
        json!([{"email": "vera@acme.test"}])
    );
    let input =
        json!({"input": {"code": code, "name": "Vera", "password": "vera's long password"}});
    let answer = app.gql(None, ACCEPT, input.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let joined = &answer.body["data"]["acceptInvitation"];
    assert_eq!(
        joined["user"],
        json!({"email": "vera@acme.test", "name": "Vera"})
    );
    let session = joined["token"].as_str().unwrap();
    let answer = app
        .gql(Some(session), "{ viewer { role { name } } }", Value::Null)
        .await;
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "viewer");
    // Reuse fails.
    let answer = app.gql(None, ACCEPT, input).await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "the invitation code is invalid, expired or already used",
    );
    let listed = app
        .gql(Some(&admin), "{ organization { invitations { email } members { edges { node { user { email } role { name } } } } } }", Value::Null)
        .await;
    assert_eq!(
        listed.body["data"]["organization"]["invitations"],
        json!([])
    );
    assert_eq!(
        listed.body["data"]["organization"]["members"]["edges"],
        json!([
            {"node": {"user": {"email": "admin@acme.test"}, "role": {"name": "admin"}}},
            {"node": {"user": {"email": "vera@acme.test"}, "role": {"name": "viewer"}}}
        ])
    );
}

#[tokio::test]
async fn expired_and_revoked_invitations_fail() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let viewer = app.role_id("viewer").await.to_string();
    let mut codes = Vec::new();
    for email in ["late@acme.test", "gone@acme.test"] {
        let answer = app
            .gql(
                Some(&admin),
                INVITE,
                json!({"input": {"email": email, "roleId": viewer}}),
            )
            .await;
        codes.push((
            answer.body["data"]["inviteMember"]["invitation"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            answer.body["data"]["inviteMember"]["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    app.execute(
        "UPDATE invitation SET expires_at = $1 WHERE id = $2",
        vec![
            (chrono::Utc::now() - chrono::Duration::hours(1)).into(),
            codes[0].0.parse::<uuid::Uuid>().unwrap().into(),
        ],
    )
    .await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({"id": codes[1].0}),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeInvitation"], codes[1].0.as_str());
    for (_, code) in &codes {
        let answer = app
            .gql(
                None,
                ACCEPT,
                json!({"input": {"code": code, "name": "X", "password": "a long enough password"}}),
            )
            .await;
        assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    }
    // Garbage codes too.
    let answer = app
        .gql(
            None,
            ACCEPT,
            json!({"input": {"code": "hello", "name": "X", "password": "a long enough password"}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn an_existing_account_joins_with_its_session() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let admin = app.admin_session().await;
    let editor = app.role_id("editor").await.to_string();
    let answer = app
        .gql(
            Some(&admin),
            INVITE,
            json!({"input": {"email": "boss@globex.test", "roleId": editor}}),
        )
        .await;
    let code = answer.body["data"]["inviteMember"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Its password is not taken here, right or wrong.
    for password in ["wrong password!!", ADMIN_PASSWORD] {
        let answer = app
            .gql(
                None,
                ACCEPT,
                json!({"input": {"code": code, "name": "ignored", "password": password}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
    }
    let boss = app.login("boss@globex.test", ADMIN_PASSWORD).await;
    let answer = app
        .gql(Some(&boss), ACCEPT, json!({"input": {"code": code}}))
        .await;
    let session = answer.body["data"]["acceptInvitation"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    // The new session is pinned to Acme, the organization joined; both
    // are listed, oldest membership first, and Globex is selectable.
    let answer = app
        .gql(
            Some(&session),
            "{ organization { name } organizations { name } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{"name": "Globex"}, {"name": "Acme Corp"}])
    );
    let answer = app
        .gql_in(
            &session,
            other.organization.id,
            "{ viewer { role { name } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "admin");
    let answer = app
        .gql(Some(&session), "{ viewer { role { name } } }", Value::Null)
        .await;
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "editor");
}

#[tokio::test]
async fn invitations_cannot_escalate_or_duplicate() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    app.gql(
        Some(&admin),
        "mutation { createRole(input: {name: \"hr\", permissions: [\"members:read\", \"members:write\", \"roles:read\"]}) { id } }",
        Value::Null,
    )
    .await;
    let hr = app.add_member(&admin, "hr@acme.test", "hr").await;
    let admin_role = app.role_id("admin").await.to_string();
    let answer = app
        .gql(
            Some(&hr.session),
            INVITE,
            json!({"input": {"email": "x@acme.test", "roleId": admin_role}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    let answer = app
        .gql(
            Some(&admin),
            INVITE,
            json!({"input": {"email": "hr@acme.test", "roleId": admin_role}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"));
    let answer = app
        .gql(
            Some(&admin),
            INVITE,
            json!({"input": {"email": "not-an-email", "roleId": admin_role}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    // HR cannot demote or remove the admin, who holds more than HR does.
    let answer = app
        .gql(
            Some(&hr.session),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({"u": app.admin.user.id.to_string()}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn the_last_admin_cannot_leave_or_be_demoted() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let viewer = app.role_id("viewer").await.to_string();
    let me = app.admin.user.id.to_string();
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            json!({"u": me, "r": viewer}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"));
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({"u": me}),
        )
        .await;
    answer.assert_error_exact(
        "CONFLICT",
        "this is the organization's last admin; make someone else admin first",
    );
    // With a second admin, the first may step down.
    let second = app.add_member(&admin, "second@acme.test", "admin").await;
    let answer = app
        .gql(
            Some(&second.session),
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } user { email } } }",
            json!({"u": me, "r": viewer}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateMemberRole"],
        json!({"role": {"name": "viewer"}, "user": {"email": "admin@acme.test"}})
    );
    // The demotion applies to the admin's very next request.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ viewer { role { name } } organization { tokens { edges { cursor } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["viewer"]["role"]["name"], "viewer");
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:read"
    );
}

#[tokio::test]
async fn removal_kills_personal_tokens_and_sessions_not_service_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let dev = app.add_member(&admin, "dev@acme.test", "admin").await;
    let (_, personal) = app.create_personal_token(&dev.session, None).await;
    let uploader = app.role_id("uploader").await.to_string();
    let created = app
        .gql(
            Some(&dev.session),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({"input": {"name": "dev's pipeline", "roleId": uploader}}),
        )
        .await;
    let service = created.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({"u": dev.user_id.to_string()}),
        )
        .await;
    assert_eq!(answer.body["data"]["removeMember"], dev.user_id.to_string());
    assert_unauthorized(&app.gql(Some(&personal), VERIFY, Value::Null).await, true);
    assert_unauthorized(
        &app.gql(Some(&dev.session), VERIFY, Value::Null).await,
        true,
    );
    assert_eq!(
        app.gql(Some(&service), VERIFY, Value::Null).await.status,
        StatusCode::OK
    );
    // Removed means gone: a second removal is NOT_FOUND.
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({"u": dev.user_id.to_string()}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn foreign_member_and_role_ids_are_not_found() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let foreign_role = app
        .role_id_in(other.organization.id, "viewer")
        .await
        .to_string();
    let admin = app.admin_session().await;
    let my_viewer = app.role_id("viewer").await.to_string();
    for (query, variables) in [
        (
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({"u": other.user.id.to_string()}),
        ),
        (
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { joinedAt } }",
            json!({"u": other.user.id.to_string(), "r": my_viewer}),
        ),
        (
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { joinedAt } }",
            json!({"u": app.admin.user.id.to_string(), "r": foreign_role}),
        ),
        (
            "query($id: ID!) { role(id: $id) { name } }",
            json!({"id": foreign_role}),
        ),
        (
            "mutation($id: ID!) { deleteRole(id: $id) }",
            json!({"id": foreign_role}),
        ),
        (
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({"id": foreign_role}),
        ),
    ] {
        let answer = app.gql(Some(&admin), query, variables).await;
        assert_eq!(
            answer.error_code(),
            Some("NOT_FOUND"),
            "{query}: {}",
            answer.text
        );
    }
}
