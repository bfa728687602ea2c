//! Projects: create, read, list, update, delete (with their SBOMs), who may
//! do which, and tenancy.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_unauthorized, spawn_app};

const CREATE: &str = "mutation($input: CreateProjectInput!) { createProject(input: $input) { id name description createdAt } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateProjectInput!) { updateProject(id: $id, input: $input) { id name description } }";
const DELETE: &str = "mutation($id: ID!) { deleteProject(id: $id) }";
const PROJECT: &str = "query($id: ID!) { project(id: $id) { id name description } }";
const SPDX: &str = r#"{"spdxVersion":"SPDX-2.3","name":"web","packages":[{"name":"a"}]}"#;

/// Asserts a field-level FORBIDDEN naming `permission`, with the field null.
#[track_caller]
fn assert_forbidden(answer: &crate::helpers::Answer, field: &str, permission: &str) {
    answer.assert_error_exact(
        "FORBIDDEN",
        &format!("Forbidden: this needs the `{permission}` permission"),
    );
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        permission
    );
    // A non-null mutation field that fails nulls `data` itself.
    assert_eq!(answer.body["data"][field], Value::Null, "{}", answer.text);
}

async fn audit_actions(app: &TestApp, prefix: &str) -> Vec<(String, String, String)> {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { auditEvents(first: 100) { edges { node { action targetType targetId } } } } }",
            Value::Null,
        )
        .await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"].as_str().unwrap().starts_with(prefix))
        .map(|n| {
            (
                n["action"].as_str().unwrap().to_owned(),
                n["targetType"].as_str().unwrap().to_owned(),
                n["targetId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_editor_creates_reads_updates_and_deletes_a_project() {
    let app = spawn_app().await;
    let (_, editor) = app.service_token("editor").await;
    let answer = app
        .gql(
            Some(&editor),
            CREATE,
            json!({"input": {"name": "  web shop ", "description": " The storefront "}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let created = &answer.body["data"]["createProject"];
    assert_eq!(created["name"], "web shop", "{}", answer.text);
    assert_eq!(created["description"], "The storefront");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).is_ok(),
        "{}",
        answer.text
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let answer = app.gql(Some(&editor), PROJECT, json!({"id": id})).await;
    assert_eq!(
        answer.body["data"]["project"],
        json!({"id": id, "name": "web shop", "description": "The storefront"})
    );

    let answer = app
        .gql(
            Some(&editor),
            UPDATE,
            json!({"id": id, "input": {"name": "storefront"}}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateProject"],
        json!({"id": id, "name": "storefront", "description": "The storefront"})
    );
    let answer = app
        .gql(
            Some(&editor),
            UPDATE,
            json!({"id": id, "input": {"description": ""}}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["updateProject"],
        json!({"id": id, "name": "storefront", "description": ""})
    );

    let answer = app.gql(Some(&editor), DELETE, json!({"id": id})).await;
    assert_eq!(answer.body["data"]["deleteProject"], id.as_str());
    let answer = app.gql(Some(&editor), PROJECT, json!({"id": id})).await;
    answer.assert_error_exact("NOT_FOUND", "project not found");
    assert_eq!(answer.body["data"]["project"], Value::Null);

    assert_eq!(
        audit_actions(&app, "project.").await,
        [
            ("project.deleted".into(), "project".into(), id.clone()),
            ("project.updated".into(), "project".into(), id.clone()),
            ("project.updated".into(), "project".into(), id.clone()),
            ("project.created".into(), "project".into(), id.clone()),
        ]
    );
}

#[tokio::test]
async fn names_are_validated_and_unique_per_organization() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let answer = app
        .gql(Some(token), CREATE, json!({"input": {"name": "   "}}))
        .await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "name must be between 1 and 100 characters (got 0)",
    );
    let answer = app
        .gql(
            Some(token),
            CREATE,
            json!({"input": {"name": "api", "description": "x".repeat(501)}}),
        )
        .await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "description must be at most 500 characters (got 501)",
    );

    app.create_project("api").await;
    let other = app.create_project("worker").await;
    let answer = app
        .gql(Some(token), CREATE, json!({"input": {"name": "api"}}))
        .await;
    answer.assert_error_exact(
        "CONFLICT",
        "a project named `api` already exists in this organization",
    );
    let answer = app
        .gql(
            Some(token),
            UPDATE,
            json!({"id": other, "input": {"name": "api"}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"));

    // Another organization may use the same name.
    let globex = app.other_organization("Globex", "boss@globex.test").await;
    let answer = app
        .gql(
            Some(&globex.token),
            CREATE,
            json!({"input": {"name": "api"}}),
        )
        .await;
    assert_eq!(answer.body["data"]["createProject"]["name"], "api");
}

#[tokio::test]
async fn the_organization_lists_its_projects_in_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(app.create_project(name).await);
    }
    let (_, viewer) = app.service_token("viewer").await;
    let query = "query($after: String) { organization { projects(first: 2, after: $after) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } } }";
    let answer = app.gql(Some(&viewer), query, json!({})).await;
    let projects = &answer.body["data"]["organization"]["projects"];
    assert_eq!(
        projects["edges"],
        json!([
            {"cursor": ids[0], "node": {"id": ids[0], "name": "a"}},
            {"cursor": ids[1], "node": {"id": ids[1], "name": "b"}},
        ]),
        "{}",
        answer.text
    );
    assert_eq!(
        projects["pageInfo"],
        json!({"hasNextPage": true, "endCursor": ids[1]})
    );
    let answer = app
        .gql(Some(&viewer), query, json!({"after": ids[1]}))
        .await;
    let projects = &answer.body["data"]["organization"]["projects"];
    assert_eq!(
        projects["edges"],
        json!([{"cursor": ids[2], "node": {"id": ids[2], "name": "c"}}])
    );
    assert_eq!(projects["pageInfo"]["hasNextPage"], false);

    // Listing needs projects:read, which a token scoped to tokens:read lacks.
    let session = app.admin_session().await;
    let (_, scoped) = app
        .create_personal_token(&session, Some(vec!["tokens:read"]))
        .await;
    let answer = app
        .gql(
            Some(&scoped),
            "{ organization { name projects { edges { node { id } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "projects:read"
    );
    assert_eq!(
        answer.body["data"]["organization"],
        json!({"name": "Acme Corp", "projects": null})
    );
}

#[tokio::test]
async fn the_uploader_and_the_viewer_read_but_cannot_change_projects() {
    let app = spawn_app().await;
    let id = app.create_project("api").await;
    for role in ["uploader", "viewer"] {
        let (_, token) = app.service_token(role).await;
        let answer = app.gql(Some(&token), PROJECT, json!({"id": id})).await;
        assert_eq!(answer.body["data"]["project"]["name"], "api", "{role}");

        let answer = app
            .gql(Some(&token), CREATE, json!({"input": {"name": "mine"}}))
            .await;
        assert_forbidden(&answer, "createProject", "projects:write");
        let answer = app
            .gql(
                Some(&token),
                UPDATE,
                json!({"id": id, "input": {"name": "renamed"}}),
            )
            .await;
        assert_forbidden(&answer, "updateProject", "projects:write");
        let answer = app.gql(Some(&token), DELETE, json!({"id": id})).await;
        assert_forbidden(&answer, "deleteProject", "projects:delete");
    }
    // Nothing changed.
    let answer = app
        .gql(Some(app.admin_token()), PROJECT, json!({"id": id}))
        .await;
    assert_eq!(answer.body["data"]["project"]["name"], "api");
}

#[tokio::test]
async fn deleting_a_project_deletes_its_sboms() {
    let app = spawn_app().await;
    let (_, uploader) = app.service_token("uploader").await;
    let doomed = app.create_project("doomed").await;
    let kept = app.create_project("kept").await;
    let answer = app.upload_sbom(&uploader, &doomed, SPDX, "id").await;
    let doomed_sbom = answer.body["data"]["uploadSbom"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let answer = app.upload_sbom(&uploader, &kept, SPDX, "id").await;
    let kept_sbom = answer.body["data"]["uploadSbom"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, editor) = app.service_token("editor").await;
    let answer = app.gql(Some(&editor), DELETE, json!({"id": doomed})).await;
    assert_eq!(
        answer.body["data"]["deleteProject"],
        doomed.as_str(),
        "{}",
        answer.text
    );

    let sbom = "query($id: ID!) { sbom(id: $id) { id } }";
    let answer = app
        .gql(Some(&editor), sbom, json!({"id": doomed_sbom}))
        .await;
    answer.assert_error_exact("NOT_FOUND", "sbom not found");
    let answer = app.gql(Some(&editor), sbom, json!({"id": kept_sbom})).await;
    assert_eq!(answer.body["data"]["sbom"]["id"], kept_sbom.as_str());
    // Gone from the database, not just hidden.
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let left = lynk::entity::sbom::Entity::find()
        .filter(lynk::entity::sbom::Column::ProjectId.eq(doomed.parse::<uuid::Uuid>().unwrap()))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn another_organizations_projects_do_not_exist() {
    let app = spawn_app().await;
    let ours = app.create_project("ours").await;
    let globex = app.other_organization("Globex", "boss@globex.test").await;
    let theirs = globex.token.as_str();
    for (query, variables, field) in [
        (PROJECT, json!({"id": ours}), "project"),
        (
            UPDATE,
            json!({"id": ours, "input": {"name": "stolen"}}),
            "updateProject",
        ),
        (DELETE, json!({"id": ours}), "deleteProject"),
        (PROJECT, json!({"id": "not-a-uuid"}), "project"),
        (
            PROJECT,
            json!({"id": uuid::Uuid::now_v7().to_string()}),
            "project",
        ),
    ] {
        let answer = app.gql(Some(theirs), query, variables).await;
        answer.assert_error_exact("NOT_FOUND", "project not found");
        assert_eq!(answer.body["data"][field], Value::Null);
    }
    let answer = app
        .gql(
            Some(theirs),
            "{ organization { projects { edges { node { id } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["projects"]["edges"],
        json!([])
    );
    // Still ours, unchanged.
    let answer = app
        .gql(Some(app.admin_token()), PROJECT, json!({"id": ours}))
        .await;
    assert_eq!(answer.body["data"]["project"]["name"], "ours");
}

#[tokio::test]
async fn anonymous_callers_get_401() {
    let app = spawn_app().await;
    let id = app.create_project("api").await;
    for (query, variables) in [
        (PROJECT, json!({"id": id})),
        (CREATE, json!({"input": {"name": "x"}})),
        (DELETE, json!({"id": id})),
    ] {
        let answer = app.gql(None, query, variables).await;
        assert_unauthorized(&answer, false);
    }
}
