//! The schema tells the truth (docs/DESIGN.md §4.1): every field a caller may be
//! refused is nullable, and a refused field is `null` beside its siblings,
//! with a `FORBIDDEN` error at its path. A non-null field there would
//! null its parent instead (GraphQL's rule), and these tests fail.

use serde_json::{Value, json};

use crate::{
    ci_tokens::CYCLONEDX,
    helpers::spawn_app,
    matrix::{CASES, Outcome},
};

/// Every field with a permission check, or another check a caller who
/// sees its parent can fail (a token restricted to projects, a session
/// of another user); the matrix's refusable query fields must be here.
const GUARDED: &[&str] = &[
    "Query.token",
    "Query.role",
    "Query.project",
    "Query.sbom",
    "Query.explainOidcExchange",
    "Organization.members",
    "Organization.invitations",
    "Organization.roles",
    "Organization.tokens",
    "Organization.auditEvents",
    "Organization.projects",
    "Organization.webhooks",
    "Project.sboms",
    "Project.trustedPublishers",
    "Sbom.project",
    "Sbom.uploadedByUser",
    "Sbom.uploadedByToken",
    "Token.projects",
];

#[tokio::test]
async fn every_guarded_field_is_nullable() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ __schema { types { name fields { name type { kind } } } } }",
            Value::Null,
        )
        .await;
    let types = answer.body["data"]["__schema"]["types"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    let kind_of = |field: &str| {
        let (type_name, field_name) = field.split_once('.').expect("Type.field");
        types
            .iter()
            .filter(|ty| ty["name"] == type_name)
            .flat_map(|ty| ty["fields"].as_array().into_iter().flatten())
            .find(|f| f["name"] == field_name)
            .map(|f| f["type"]["kind"].clone())
            .unwrap_or_else(|| panic!("no field {field}"))
    };
    let non_null: Vec<&str> = GUARDED
        .iter()
        .copied()
        .filter(|field| kind_of(field) == "NON_NULL")
        .collect();
    assert!(non_null.is_empty(), "guarded but non-null: {non_null:?}");
    // Mutations are left out: a refused mutation nulls `data`, which is
    // what its non-null type (docs/DESIGN.md §5) says.
    let unlisted: Vec<&str> = CASES
        .iter()
        .filter(|case| !case.field.starts_with("Mutation."))
        .filter(|case| case.expect.contains(&Outcome::F))
        .map(|case| case.field)
        .filter(|field| !GUARDED.contains(field))
        .collect();
    assert!(
        unlisted.is_empty(),
        "refusable but not listed: {unlisted:?}"
    );
}

/// `(path, requiredPermission)` of every error, in path order.
fn forbidden(answer: &crate::helpers::Answer) -> Vec<(Value, Value)> {
    let mut errors: Vec<(Value, Value)> = answer.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {}", answer.text))
        .iter()
        .map(|error| {
            assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{}", answer.text);
            (
                error["path"].clone(),
                error["extensions"]["requiredPermission"].clone(),
            )
        })
        .collect();
    errors.sort_by_key(|(path, _)| path.to_string());
    errors
}

#[tokio::test]
async fn refused_fields_are_null_beside_their_siblings_in_lists_too() {
    let app = spawn_app().await;
    for name in ["a", "b"] {
        let project = app.create_project(name).await;
        app.upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
            .await;
    }
    let token = app.token_with(&["projects:read"]).await;
    let answer = app
        .gql(
            Some(&token),
            "{ organization { name projects(first: 2) { edges { node { name sboms(first: 1) { edges { cursor } } } } }
               roles { name } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, reqwest::StatusCode::OK);
    assert_eq!(
        answer.body["data"],
        json!({ "organization": {
            "name": "Acme Corp",
            "projects": { "edges": [
                { "node": { "name": "a", "sboms": null } },
                { "node": { "name": "b", "sboms": null } },
            ] },
            "roles": null,
        } }),
        "{}",
        answer.text
    );
    assert_eq!(
        forbidden(&answer),
        [
            (
                json!(["organization", "projects", "edges", 0, "node", "sboms"]),
                json!("sboms:read")
            ),
            (
                json!(["organization", "projects", "edges", 1, "node", "sboms"]),
                json!("sboms:read")
            ),
            (json!(["organization", "roles"]), json!("roles:read")),
        ]
    );
}

#[tokio::test]
async fn an_sbom_is_there_without_the_project_it_may_not_read() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    let answer = app
        .upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
        .await;
    let sbom = answer.body["data"]["uploadSbom"]["id"].clone();
    let token = app.token_with(&["sboms:read"]).await;
    let answer = app
        .gql(
            Some(&token),
            "query($id: ID!) { sbom(id: $id) { name project { name } uploadedByUser { email } } }",
            json!({ "id": sbom }),
        )
        .await;
    assert_eq!(
        answer.body["data"],
        json!({ "sbom": { "name": "api", "project": null, "uploadedByUser": null } }),
        "{}",
        answer.text
    );
    assert_eq!(
        forbidden(&answer),
        [
            (json!(["sbom", "project"]), json!("projects:read")),
            (json!(["sbom", "uploadedByUser"]), json!("members:read")),
        ]
    );
}
