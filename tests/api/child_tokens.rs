//! Child tokens (docs/DESIGN.md §9, `attenuateToken`): any credential mints
//! a narrower, shorter-lived child of itself, which acts with at most its
//! parent's current power on every request (one verification statement)
//! and dies with it.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use lynk::{
    entity::{audit_event, token, webhook, webhook_delivery},
    webhook::{event, event::EventType, seal::SealingKey},
};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{
        ADMIN_PASSWORD, Answer, TestApp, assert_unauthorized, days_from_now, spawn_app,
        spawn_app_with,
    },
    trusted_publishing::{SUBJECT, SigningKey, TestIssuer, exchange_ok, spawn_lynk, trust_ok},
};

const ATTENUATE: &str = "mutation($input: AttenuateTokenInput!) { attenuateToken(input: $input) { token { id kind name scopes expiresAt status parent { id } projects { id } } secret } }";
const PERMISSIONS: &str = "{ viewer { permissions } }";
const ORGANIZATION: &str = "{ organization { name } }";

async fn attenuate(app: &TestApp, credential: &str, input: Value) -> Answer {
    app.gql(Some(credential), ATTENUATE, json!({ "input": input }))
        .await
}

/// Mints a child of `credential`; returns (id, secret, the token's JSON).
async fn attenuate_ok(app: &TestApp, credential: &str, input: Value) -> (String, String, Value) {
    let answer = attenuate(app, credential, input).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let created = &answer.body["data"]["attenuateToken"];
    let id = created["token"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("attenuateToken failed: {}", answer.text))
        .to_owned();
    (
        id,
        created["secret"].as_str().unwrap().to_owned(),
        created["token"].clone(),
    )
}

/// The effective permissions of `credential`, as `viewer` answers.
async fn permissions(app: &TestApp, credential: &str) -> Vec<String> {
    let answer = app.gql(Some(credential), PERMISSIONS, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    serde_json::from_value(answer.body["data"]["viewer"]["permissions"].clone())
        .unwrap_or_else(|_| panic!("{}", answer.text))
}

async fn works(app: &TestApp, credential: &str) -> bool {
    let answer = app.gql(Some(credential), ORGANIZATION, Value::Null).await;
    match answer.status {
        StatusCode::OK => true,
        _ => {
            assert_unauthorized(&answer, true);
            false
        }
    }
}

fn read_only(seconds: i32) -> Value {
    json!({ "name": "third-party step", "scopes": ["projects:read", "sboms:read"], "expiresInSeconds": seconds })
}

#[tokio::test]
async fn every_kind_of_credential_mints_a_child_of_its_own_kind() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let exchanged = exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    let session = app.admin_session().await;
    let (_, service) = app.service_token("editor").await;
    let personal = app.admin_token().to_owned();

    for (parent, kind, prefix) in [
        (&session, "SESSION", "lynk_session_"),
        (&personal, "PERSONAL", "lynk_live_"),
        (&service, "SERVICE", "lynk_service_live_"),
        (&exchanged, "SERVICE", "lynk_service_live_"),
    ] {
        let parent_id = app
            .gql(Some(parent), "{ viewer { token { id } } }", Value::Null)
            .await
            .body["data"]["viewer"]["token"]["id"]
            .clone();
        let (id, secret, child) = attenuate_ok(&app, parent, read_only(120)).await;
        assert!(secret.starts_with(prefix), "{kind}: {secret}");
        assert_eq!(child["kind"], kind);
        assert_eq!(child["status"], "ACTIVE");
        assert_eq!(child["scopes"], json!(["projects:read", "sboms:read"]));
        assert_eq!(child["parent"]["id"], parent_id, "{kind}");
        let expires: DateTime<Utc> = child["expiresAt"].as_str().unwrap().parse().unwrap();
        let left = (expires - Utc::now()).num_seconds();
        assert!((100..=120).contains(&left), "{left}");
        assert_eq!(
            permissions(&app, &secret).await,
            ["projects:read", "sboms:read"]
        );
        // The child sees itself as a child; the parent lists it.
        let answer = app
            .gql(
                Some(&secret),
                "{ viewer { token { id parent { id } } } }",
                Value::Null,
            )
            .await;
        assert_eq!(answer.body["data"]["viewer"]["token"]["id"], id);
        let answer = app
            .gql(
                Some(parent),
                "{ viewer { token { children(first: 10) { edges { node { id kind } } } } } }",
                Value::Null,
            )
            .await;
        assert_eq!(
            answer.body["data"]["viewer"]["token"]["children"]["edges"],
            json!([{ "node": { "id": id, "kind": kind } }]),
            "{}",
            answer.text
        );
        // Audited as token.attenuated, by the parent.
        let record = audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq("token.attenuated"))
            .filter(audit_event::Column::TargetId.eq(id.parse::<Uuid>().unwrap()))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no token.attenuated for {kind}"));
        assert_eq!(
            record.actor_token_id.map(|id| id.to_string()),
            parent_id.as_str().map(str::to_owned)
        );
    }

    // The exchanged token's child reaches only the exchanged project.
    let (_, child, token) = attenuate_ok(&app, &exchanged, read_only(60)).await;
    assert_eq!(token["projects"], json!([{ "id": project }]));
    let other = app.create_project("billing").await;
    let answer = app
        .gql(
            Some(&child),
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": other }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
}

#[tokio::test]
async fn a_child_follows_its_parents_role_scopes_and_projects_on_every_request() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let member = app.add_member(&admin, "dev@acme.test", "editor").await;
    let keep = app.create_project("keep").await;
    let drop = app.create_project("drop").await;
    let (parent_id, parent) = app
        .create_personal_token(
            &member.session,
            Some(vec![
                "projects:read",
                "sboms:read",
                "sboms:write",
                "members:read",
            ]),
        )
        .await;
    let (_, child, _) = attenuate_ok(
        &app,
        &parent,
        json!({ "name": "agent", "scopes": ["projects:read", "sboms:read", "sboms:write", "members:read"], "expiresInSeconds": 600 }),
    )
    .await;
    assert_eq!(
        permissions(&app, &child).await,
        ["members:read", "projects:read", "sboms:read", "sboms:write"]
    );

    // The parent's owner is demoted: the child shrinks with it at once.
    let viewer = app.role_id("viewer").await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            json!({ "u": member.user_id.to_string(), "r": viewer.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateMemberRole"]["role"]["name"],
        "viewer"
    );
    assert_eq!(
        permissions(&app, &child).await,
        ["members:read", "projects:read", "sboms:read"]
    );
    let editor = app.role_id("editor").await;
    app.gql(
        Some(&admin),
        "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
        json!({ "u": member.user_id.to_string(), "r": editor.to_string() }),
    )
    .await;
    assert_eq!(
        permissions(&app, &child).await,
        ["members:read", "projects:read", "sboms:read", "sboms:write"]
    );

    // The parent's scopes narrow (as narrowToken would): so does the child.
    let parent_uuid: Uuid = parent_id.parse().unwrap();
    app.execute(
        "UPDATE token SET scopes = $1 WHERE id = $2",
        vec!["projects:read sboms:read".into(), parent_uuid.into()],
    )
    .await;
    assert_eq!(
        permissions(&app, &child).await,
        ["projects:read", "sboms:read"]
    );

    // The parent is restricted to one project: the child reaches only it,
    // and loses what is organization-wide.
    app.execute(
        "UPDATE token SET project_ids = $1 WHERE id = $2",
        vec![keep.clone().into(), parent_uuid.into()],
    )
    .await;
    let query = "query($id: ID!) { project(id: $id) { id } }";
    let answer = app.gql(Some(&child), query, json!({ "id": drop })).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = app.gql(Some(&child), query, json!({ "id": keep })).await;
    assert_eq!(
        answer.body["data"]["project"]["id"], keep,
        "{}",
        answer.text
    );
    assert_eq!(
        permissions(&app, &child).await,
        ["projects:read", "sboms:read"]
    );
}

#[tokio::test]
async fn a_child_is_refused_once_its_parent_is_revoked_expired_or_its_owner_gone() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;

    // Revoked: the child is refused on the next request, and shows it.
    let (parent_id, parent) = app.service_token("uploader").await;
    let (child_id, child, _) = attenuate_ok(&app, &parent, read_only(600)).await;
    assert!(works(&app, &child).await);
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": parent_id.to_string() }),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert!(!works(&app, &child).await);
    let answer = app
        .gql(
            Some(&admin),
            "query($id: ID!) { token(id: $id) { status revokedAt } }",
            json!({ "id": child_id }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["token"]["status"], "REVOKED",
        "{}",
        answer.text
    );

    // Expired: the parent's expiry is the child's too.
    let (parent_id, parent) = app.service_token("viewer").await;
    let (_, child, _) = attenuate_ok(&app, &parent, read_only(600)).await;
    app.execute(
        "UPDATE token SET expires_at = $1 WHERE id = $2",
        vec![
            (Utc::now() - chrono::Duration::seconds(1)).into(),
            parent_id.into(),
        ],
    )
    .await;
    assert!(!works(&app, &child).await);

    // The owner leaves the organization: the child of their token and the
    // child of their session die with them.
    let member = app.add_member(&admin, "leaver@acme.test", "editor").await;
    let (_, personal) = app.create_personal_token(&member.session, None).await;
    let (of_personal_id, of_personal, _) = attenuate_ok(&app, &personal, read_only(600)).await;
    let (of_session_id, of_session, _) = attenuate_ok(&app, &member.session, read_only(600)).await;
    assert!(works(&app, &of_personal).await && works(&app, &of_session).await);
    let answer = app
        .gql(
            Some(&admin),
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({ "u": member.user_id.to_string() }),
        )
        .await;
    assert!(
        answer.body["data"]["removeMember"].is_string(),
        "{}",
        answer.text
    );
    assert!(!works(&app, &of_personal).await);
    assert!(!works(&app, &of_session).await);
    // And their rows say so: listed as revoked, not active.
    for id in [of_personal_id, of_session_id] {
        let row = token::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            lynk::service::token::status(&row, Utc::now()),
            lynk::service::token::Status::Revoked,
            "{row:?}"
        );
    }

    // A row whose parent is gone altogether is refused too.
    let (gone_id, gone) = app.service_token("viewer").await;
    let (_, orphan, _) = attenuate_ok(&app, &gone, read_only(600)).await;
    token::Entity::delete_by_id(gone_id)
        .exec(&app.db)
        .await
        .unwrap();
    assert!(!works(&app, &orphan).await);
}

#[tokio::test]
async fn a_rotation_with_grace_keeps_the_children_until_the_grace_ends() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (parent_id, parent) = app.service_token("uploader").await;
    let (child_id, child, _) = attenuate_ok(&app, &parent, read_only(3600)).await;

    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { rotateToken(id: $id, gracePeriodSeconds: 600) { token { id children { edges { node { id } } } } secret } }",
            json!({ "id": parent_id.to_string() }),
        )
        .await;
    let rotated = &answer.body["data"]["rotateToken"];
    let successor = rotated["token"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let successor_secret = rotated["secret"].as_str().unwrap().to_owned();
    // Children stay with the secret they were minted from: none moves to
    // the successor.
    assert_eq!(rotated["token"]["children"]["edges"], json!([]));

    // In the grace the child works, and says when it stops: with its parent.
    assert!(works(&app, &child).await);
    let query = "query($id: ID!) { token(id: $id) { status revokedAt parent { revokedAt } } }";
    let answer = app
        .gql(Some(&admin), query, json!({ "id": child_id }))
        .await;
    let seen = &answer.body["data"]["token"];
    assert_eq!(seen["status"], "ACTIVE", "{}", answer.text);
    assert!(seen["revokedAt"].is_string());
    assert_eq!(seen["revokedAt"], seen["parent"]["revokedAt"]);
    // A parent in its grace mints no child and manages none.
    let answer = attenuate(&app, &parent, read_only(60)).await;
    answer.assert_error("FORBIDDEN", "rotation grace");
    let answer = app
        .gql(
            Some(&parent),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": child_id }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);

    // The grace ends (revoking the successor ends it at once): the child
    // is refused with its parent.
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": successor }),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert!(!works(&app, &parent).await);
    assert!(!works(&app, &child).await);
    assert!(!works(&app, &successor_secret).await);
    let answer = app
        .gql(Some(&admin), query, json!({ "id": child_id }))
        .await;
    assert_eq!(answer.body["data"]["token"]["status"], "REVOKED");
}

#[tokio::test]
async fn a_child_cannot_attenuate_create_rotate_or_revoke_tokens() {
    let app = spawn_app().await;
    let admin_token = app.admin_token().to_owned();
    let (child_id, child, _) = attenuate_ok(
        &app,
        &admin_token,
        json!({ "name": "agent", "expiresInSeconds": 600 }),
    )
    .await;
    // Everything the admin holds but tokens:write.
    let held = permissions(&app, &child).await;
    assert!(held.contains(&"tokens:read".to_owned()));
    assert!(!held.contains(&"tokens:write".to_owned()));

    let answer = attenuate(&app, &child, read_only(60)).await;
    answer.assert_error("FORBIDDEN", "a child token cannot attenuate");
    let role = app.role_id("viewer").await;
    let answer = app
        .gql(
            Some(&child),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "x", "roleId": role.to_string() } }),
        )
        .await;
    answer.assert_error("FORBIDDEN", "tokens:write");
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:write"
    );
    let answer = app
        .gql(
            Some(&child),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { secret } }",
            json!({ "input": { "name": "x", "expiresAt": days_from_now(1).to_rfc3339() } }),
        )
        .await;
    answer.assert_error("FORBIDDEN", "session");
    let parent_id = app
        .gql(
            Some(&admin_token),
            "{ viewer { token { id } } }",
            Value::Null,
        )
        .await
        .body["data"]["viewer"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&child_id, &parent_id] {
        for mutation in [
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
        ] {
            let answer = app.gql(Some(&child), mutation, json!({ "id": id })).await;
            answer.assert_error("FORBIDDEN", "a child token manages no token");
        }
    }
    assert!(works(&app, &child).await);
    assert!(works(&app, &admin_token).await);

    // A child is never rotated, even by an admin's session; its parent
    // revokes it.
    let session = app.admin_session().await;
    let answer = app
        .gql(
            Some(&session),
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({ "id": child_id }),
        )
        .await;
    answer.assert_error("BAD_USER_INPUT", "never rotated");
    let answer = app
        .gql(
            Some(&admin_token),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": child_id }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["revokeToken"]["status"], "REVOKED",
        "{}",
        answer.text
    );
    assert!(!works(&app, &child).await);

    // A session's child is no sign-in: no personal token, no
    // organization, no password change, no other organization.
    let (_, of_session, _) = attenuate_ok(
        &app,
        &session,
        json!({ "name": "agent", "expiresInSeconds": 600 }),
    )
    .await;
    for (mutation, variables) in [
        (
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { secret } }",
            json!({ "input": { "name": "x", "expiresAt": days_from_now(1).to_rfc3339() } }),
        ),
        (
            "mutation { createOrganization(name: \"Mine\") { id } }",
            Value::Null,
        ),
        (
            "mutation($p: String!) { changePassword(currentPassword: $p, newPassword: \"another long password 1\") }",
            json!({ "p": ADMIN_PASSWORD }),
        ),
    ] {
        let answer = app.gql(Some(&of_session), mutation, variables).await;
        assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    }
    let other = app.other_organization("Other", "other@acme.test").await;
    let answer = app
        .gql_in(
            &of_session,
            other.organization.id,
            ORGANIZATION,
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    let answer = app
        .gql(Some(&of_session), "{ organizations { name } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organizations"],
        json!([{ "name": "Acme Corp" }])
    );
}

#[tokio::test]
async fn bad_and_hostile_input_is_refused_with_what_is_valid() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let member = app.add_member(&admin, "viewer@acme.test", "viewer").await;
    let viewer = member.session;

    let cases = [
        (
            json!({ "name": "x", "scopes": ["tokens:write"], "expiresInSeconds": 60 }),
            &admin,
            "BAD_USER_INPUT",
            "never holds tokens:write",
        ),
        (
            json!({ "name": "x", "scopes": ["sboms:write"], "expiresInSeconds": 60 }),
            &viewer,
            "FORBIDDEN",
            "sboms:write",
        ),
        (
            json!({ "name": "x", "scopes": ["nope:nope"], "expiresInSeconds": 60 }),
            &admin,
            "BAD_USER_INPUT",
            "nope:nope",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 0 }),
            &admin,
            "BAD_USER_INPUT",
            "expiresInSeconds must be between 1 and",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": -1 }),
            &admin,
            "BAD_USER_INPUT",
            "expiresInSeconds",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": i32::MAX }),
            &admin,
            "BAD_USER_INPUT",
            "maxTokenLifetimeDays",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 86_400 }),
            &admin,
            "BAD_USER_INPUT",
            "no later than its parent",
        ),
        (
            json!({ "name": "", "expiresInSeconds": 60 }),
            &admin,
            "BAD_USER_INPUT",
            "name",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 60, "allowedCidrs": ["nope"] }),
            &admin,
            "BAD_USER_INPUT",
            "is not an IPv4 or IPv6 network",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 60, "allowedCidrs": ["10.0.0.1/8"] }),
            &admin,
            "BAD_USER_INPUT",
            "did you mean 10.0.0.0/8",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 60, "allowedCidrs": (0..21).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>() }),
            &admin,
            "BAD_USER_INPUT",
            "at most 20",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 60, "projectIds": [] }),
            &admin,
            "BAD_USER_INPUT",
            "projectIds",
        ),
        (
            json!({ "name": "x", "expiresInSeconds": 60, "projectIds": ["not-an-id"] }),
            &admin,
            "NOT_FOUND",
            "project",
        ),
        (
            json!({ "name": "x".repeat(10_000), "expiresInSeconds": 60 }),
            &admin,
            "BAD_USER_INPUT",
            "name",
        ),
    ];
    // A session lives 12 hours: a day is past it.
    for (input, caller, code, message) in cases {
        let answer = attenuate(&app, caller, input.clone()).await;
        answer.assert_error(code, message);
    }
    // Nothing was written by any of them.
    let children = token::Entity::find()
        .filter(token::Column::ParentId.is_not_null())
        .all(&app.db)
        .await
        .unwrap();
    assert!(children.is_empty());

    // Anonymous: the bare 401.
    let answer = app
        .gql(None, ATTENUATE, json!({ "input": read_only(60) }))
        .await;
    assert_unauthorized(&answer, false);

    // Another organization's project does not exist for the caller.
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let foreign = app
        .gql(
            Some(&other.token),
            "mutation { createProject(input: { name: \"secret\" }) { id } }",
            Value::Null,
        )
        .await
        .body["data"]["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = attenuate(
        &app,
        &admin,
        json!({ "name": "x", "expiresInSeconds": 60, "projectIds": [foreign] }),
    )
    .await;
    answer.assert_error("NOT_FOUND", "project");

    // A project-restricted parent hands out only its projects.
    let mine = app.create_project("mine").await;
    let theirs = app.create_project("theirs").await;
    let (_, restricted, _) = attenuate_ok(
        &app,
        app.admin_token(),
        json!({ "name": "scoped", "expiresInSeconds": 600, "projectIds": [mine] }),
    )
    .await;
    // (a child cannot attenuate; a restricted service token can)
    let role = app.role_id("uploader").await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "ci", "roleId": role.to_string(), "projectIds": [mine] } }),
        )
        .await;
    let ci = answer.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = attenuate(
        &app,
        &ci,
        json!({ "name": "x", "expiresInSeconds": 60, "projectIds": [theirs] }),
    )
    .await;
    answer.assert_error("NOT_FOUND", "project");
    let (_, _, child) = attenuate_ok(&app, &ci, read_only(60)).await;
    assert_eq!(child["projects"], json!([{ "id": mine }]));
    assert!(works(&app, &restricted).await);
}

#[tokio::test]
async fn another_organization_never_sees_nor_revokes_a_child() {
    let app = spawn_app().await;
    let (_, parent) = app.service_token("uploader").await;
    let (child_id, child, _) = attenuate_ok(&app, &parent, read_only(600)).await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    for query in [
        "query($id: ID!) { token(id: $id) { id } }",
        "mutation($id: ID!) { revokeToken(id: $id) { status } }",
        "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
    ] {
        let answer = app
            .gql(Some(&other.token), query, json!({ "id": child_id }))
            .await;
        answer.assert_error("NOT_FOUND", "token");
    }
    // A child used with another organization's id is refused (403).
    let answer = app
        .gql_in(&child, other.organization.id, ORGANIZATION, Value::Null)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // And the child cannot look at the other organization's tokens.
    let answer = app
        .gql(
            Some(&child),
            "query($id: ID!) { token(id: $id) { id } }",
            json!({ "id": Uuid::now_v7().to_string() }),
        )
        .await;
    answer.assert_error("NOT_FOUND", "token");
    assert!(works(&app, &child).await);
}

#[tokio::test]
async fn a_child_bound_to_addresses_works_only_from_them() {
    let app = spawn_app().await;
    let (_, parent) = app.service_token("uploader").await;
    let (_, here, _) = attenuate_ok(
        &app,
        &parent,
        json!({ "name": "here", "expiresInSeconds": 600, "allowedCidrs": ["127.0.0.0/8", "::1"] }),
    )
    .await;
    assert!(works(&app, &here).await);
    let (id, elsewhere, _) = attenuate_ok(
        &app,
        &parent,
        json!({ "name": "elsewhere", "expiresInSeconds": 600, "allowedCidrs": ["203.0.113.0/24"] }),
    )
    .await;
    assert!(!works(&app, &elsewhere).await);
    let stored = token::Entity::find_by_id(id.parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    // Stored as every token's address rule is, enforced.
    assert_eq!(stored.allowed_cidrs.as_deref(), Some("203.0.113.0/24"));
    assert_eq!(stored.address_enforcement, None);
}

#[tokio::test]
async fn minting_a_child_announces_token_created_naming_its_parent() {
    let sealing: SealingKey = STANDARD.encode([7u8; 32]).parse().expect("key");
    let key = sealing.clone();
    let app = spawn_app_with(|c| c.encryption_key = Some(key)).await;
    let webhook_id = Uuid::now_v7();
    webhook::ActiveModel {
        id: Set(webhook_id),
        organization_id: Set(app.admin.organization.id),
        url: Set("https://hooks.example.com/lynk".into()),
        events: Set(event::to_storage(&[EventType::TokenCreated])),
        active: Set(true),
        secret_sealed: Set(sealing.seal(webhook_id, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
        secret_hint: Set("whsec_Mf…Sw".into()),
        created_by_user_id: Set(Some(app.admin.user.id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("insert webhook");
    let (parent_id, parent) = app.service_token("uploader").await;
    let (child_id, child, _) = attenuate_ok(&app, &parent, read_only(120)).await;

    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Event.eq("token.created"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    let payload: Value = serde_json::from_str(&deliveries[0].payload).unwrap();
    assert_eq!(payload["data"]["token"]["id"], child_id);
    assert_eq!(payload["data"]["token"]["parentId"], parent_id.to_string());
    assert_eq!(payload["data"]["actor"]["tokenId"], parent_id.to_string());
    assert!(!deliveries[0].payload.contains(&child));
}

#[tokio::test]
async fn revoking_the_parent_through_one_instance_refuses_the_child_on_the_other() {
    let a = spawn_app().await;
    let b = a.another_instance().await;
    let session = a.admin_session().await;
    let (parent_id, parent) = a.service_token("uploader").await;
    // Minted through b, used through both.
    let (_, child, _) = attenuate_ok(&b, &parent, read_only(600)).await;
    assert!(works(&a, &child).await && works(&b, &child).await);
    let answer = a
        .gql(
            Some(&session),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": parent_id.to_string() }),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert!(!works(&b, &child).await);
    assert!(!works(&a, &child).await);

    // The same for a demotion of the parent's owner through b.
    let member = a.add_member(&session, "dev@acme.test", "editor").await;
    let (_, personal) = a.create_personal_token(&member.session, None).await;
    let (_, child, _) = attenuate_ok(
        &a,
        &personal,
        json!({ "name": "agent", "expiresInSeconds": 600 }),
    )
    .await;
    assert!(
        permissions(&a, &child)
            .await
            .contains(&"sboms:write".to_owned())
    );
    let viewer = a.role_id("viewer").await;
    let answer = b
        .gql(
            Some(&session),
            "mutation($u: ID!, $r: ID!) { updateMemberRole(userId: $u, roleId: $r) { role { name } } }",
            json!({ "u": member.user_id.to_string(), "r": viewer.to_string() }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateMemberRole"]["role"]["name"],
        "viewer"
    );
    assert!(
        !permissions(&a, &child)
            .await
            .contains(&"sboms:write".to_owned())
    );
}

/// A child's request is still one statement: the parent's row comes with
/// the token's, in the one verification query (docs/DESIGN.md §2.5).
#[tokio::test]
async fn a_childs_request_is_one_verification_statement() {
    use lynk::{
        auth::verify::testing::{held_statements, inline_statements},
        config::{DatabaseArgs, ServeArgs},
        database,
        startup::Application,
    };
    use std::sync::{Arc, Mutex};

    let test_database = crate::helpers::TestDatabase::new().await;
    let mut db = database::connect(&DatabaseArgs::new(test_database.url.clone()))
        .await
        .expect("connect");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&log);
    db.set_metric_callback(move |info| {
        let sql = info.statement.sql.trim();
        if crate::helpers::is_background_statement(sql) {
            return;
        }
        sink.lock().unwrap().push(sql.to_owned())
    });
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(test_database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    crate::helpers::postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    let url = format!("http://{}/lynkapi", app.local_addr());
    let outcome = app.bootstrapped().expect("bootstrapped");
    let (parent, organization) = (outcome.token.clone(), outcome.organization.name.clone());
    let last_used = app.last_used().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let post = |token: String, query: &'static str, variables: Value| {
        let request = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("JSON")
        }
    };
    let minted = post(parent, ATTENUATE, json!({ "input": read_only(600) })).await;
    let child = minted["data"]["attenuateToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{minted}"))
        .to_owned();
    // The first use is written behind the request: wait for that write
    // (bounded), so that it is not counted below.
    post(
        child.clone(),
        "query { organization { id name } }",
        Value::Null,
    )
    .await;
    for _ in 0..500 {
        let written = log
            .lock()
            .unwrap()
            .iter()
            .any(|sql| sql.starts_with("UPDATE token SET last_used_at"));
        if written && last_used.pending() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    log.lock().unwrap().clear();

    let off_pool = || inline_statements() + held_statements();
    let before = off_pool();
    let answer = post(child, "query { organization { id name } }", Value::Null).await;
    assert_eq!(
        answer["data"]["organization"]["name"],
        organization.as_str()
    );
    // The first use's write behind the request (`lastUsedAt`, the
    // permissions used) is queued after its response, so it may land
    // here on a loaded machine: it is not this request's.
    let pooled: Vec<String> = std::mem::take(&mut *log.lock().unwrap())
        .into_iter()
        .filter(|sql| {
            !sql.starts_with("UPDATE token SET last_used_at")
                && !sql.contains("token_permission_use")
        })
        .collect();
    assert_eq!(
        pooled.len() as u64 + (off_pool() - before),
        1,
        "exactly one statement: {pooled:#?}"
    );
    assert!(
        pooled
            .iter()
            .all(|sql| sql.contains("LEFT JOIN token p") && sql.contains("WHERE t.digest")),
        "{pooled:#?}"
    );
}

/// The console's token list shows a child with its parent's name, offers
/// only Revoke for it, and revoking it there refuses it at once.
#[tokio::test]
async fn the_console_lists_a_child_under_its_parent_and_revokes_it() {
    let app = spawn_app().await;
    let parent = app.admin_token().to_owned();
    let parent_name = app
        .gql(Some(&parent), "{ viewer { token { name } } }", Value::Null)
        .await
        .body["data"]["viewer"]["token"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, child, _) = attenuate_ok(
        &app,
        &parent,
        json!({ "name": "agent child", "scopes": ["projects:read"], "expiresInSeconds": 3600 }),
    )
    .await;
    let Some((browser, _turn)) =
        crate::browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser.sign_in("admin@acme.test", ADMIN_PASSWORD).await;
    browser.wait_for_text("main h1", "Personal tokens").await;
    let row = "//tr[td//span[@class='token-name' and text()='agent child']]";
    let text = browser
        .wait_until_text(
            fantoccini::Locator::XPath(row),
            "containing \"Active\"",
            |text| text.contains("Active"),
        )
        .await;
    assert!(
        text.contains(&format!("child of {parent_name}")),
        "{text:?}"
    );
    assert!(text.contains("projects:read"), "{text:?}");
    browser.screenshot("child-token-listed").await;

    browser
        .find("button[aria-label='Actions for agent child']")
        .await
        .click()
        .await
        .expect("open the row menu");
    let items = browser
        .eval(
            "return [...document.querySelectorAll('.menu:not([hidden]) button')].map((b) => b.textContent)",
        )
        .await;
    assert_eq!(items, json!(["Revoke"]), "a child is never rotated");
    browser
        .click_text(".menu:not([hidden]) button", "Revoke")
        .await;
    browser.wait_for_text("dialog", "cannot be undone").await;
    browser.click_text("dialog button", "Revoke token").await;
    // The list shows active tokens unless asked for the others.
    browser
        .wait_for_script(
            "return !document.querySelector('main .list').textContent.includes('agent child')",
            json!(true),
        )
        .await;
    browser
        .find("main select[name=status]")
        .await
        .select_by_value("")
        .await
        .expect("any status");
    browser
        .wait_until_text(
            fantoccini::Locator::XPath(row),
            "containing \"Revoked\"",
            |text| text.contains("Revoked"),
        )
        .await;
    assert!(!works(&app, &child).await);
    assert!(works(&app, &parent).await);
    browser.close().await;
}

/// At most 100 live children per credential, however many requests race
/// for the last places through two instances.
#[tokio::test]
async fn a_credential_has_at_most_100_live_children_under_concurrency() {
    use async_graphql::futures_util::future::join_all;

    let a = spawn_app().await;
    let b = a.another_instance().await;
    let (_, parent) = a.service_token("viewer").await;
    let attempts = (0..110).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let parent = parent.clone();
        async move {
            attenuate(
                app,
                &parent,
                json!({ "name": format!("child {i}"), "expiresInSeconds": 600 }),
            )
            .await
        }
    });
    let answers = join_all(attempts).await;
    let minted = answers
        .iter()
        .filter(|answer| answer.body["data"]["attenuateToken"]["secret"].is_string())
        .count();
    assert_eq!(minted, 100);
    for answer in answers.iter().filter(|a| a.body["data"].is_null()) {
        answer.assert_error("CONFLICT", "already has 100 live children");
    }
    let stored = token::Entity::find()
        .filter(token::Column::ParentId.is_not_null())
        .all(&a.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 100);
}
