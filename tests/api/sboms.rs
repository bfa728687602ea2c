//! SBOM uploads: CycloneDX and SPDX, inline and multipart (as `curl -F`
//! sends), what is refused and why, the size limit, idempotent retries,
//! permissions and tenancy.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Answer, TestApp, assert_unauthorized, spawn_app, spawn_app_with};

/// CycloneDX 1.5 with nested components: 2 top-level + 2 under tokio + 1
/// under mio = 5. Pretty-printed, so "as uploaded" is visible.
const CYCLONEDX: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "version": 1,
  "metadata": { "component": { "type": "application", "name": "shop-api", "version": "2.1.0" } },
  "components": [
    { "type": "library", "name": "serde", "version": "1.0.210" },
    { "type": "library", "name": "tokio", "version": "1.41.0", "components": [
      { "type": "library", "name": "tokio-macros", "version": "2.4.0" },
      { "type": "library", "name": "mio", "version": "1.0.2", "components": [
        { "type": "library", "name": "libc", "version": "0.2.161", "description": "Ünïcode \"quoted\"" }
      ] }
    ] }
  ]
}
"#;

const SPDX: &str = r#"{
  "spdxVersion": "SPDX-2.3",
  "dataLicense": "CC0-1.0",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "billing-service",
  "documentNamespace": "https://example.com/spdx/billing-service",
  "packages": [
    { "SPDXID": "SPDXRef-a", "name": "a", "downloadLocation": "NOASSERTION" },
    { "SPDXID": "SPDXRef-b", "name": "b", "downloadLocation": "NOASSERTION" },
    { "SPDXID": "SPDXRef-c", "name": "c", "downloadLocation": "NOASSERTION" }
  ]
}"#;

const FIELDS: &str = "id name format specVersion componentCount sizeBytes sha256 createdAt document uploadedByUser { email } uploadedByToken { id name }";
const SBOM: &str = "query($id: ID!) { sbom(id: $id) { id name format specVersion componentCount sizeBytes sha256 document project { name } } }";
const DELETE: &str = "mutation($id: ID!) { deleteSbom(id: $id) }";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn id_of(answer: &Answer, field: &str) -> String {
    answer.body["data"][field]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{field} failed: {}", answer.text))
        .to_owned()
}

/// Asserts a field-level FORBIDDEN naming `permission`, with the field null.
#[track_caller]
fn assert_forbidden(answer: &Answer, field: &str, permission: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        permission
    );
    assert_eq!(answer.body["data"][field], Value::Null, "{}", answer.text);
}

/// Asserts a `BAD_USER_INPUT` with exactly `message`, and no SBOM.
#[track_caller]
fn assert_bad_input(answer: &Answer, field: &str, message: &str) {
    answer.assert_error_exact("BAD_USER_INPUT", message);
    assert_eq!(answer.body["data"][field], Value::Null);
}

async fn sbom_rows(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    lynk::entity::sbom::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

async fn audit_count(app: &TestApp, action: &str) -> usize {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($action: String) { organization { auditEvents(first: 100, action: $action) { edges { node { targetType } } } } }",
            json!({"action": action}),
        )
        .await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .len()
}

#[tokio::test]
async fn cyclonedx_with_nested_components_is_counted_and_stored_as_uploaded() {
    let app = spawn_app().await;
    let project = app.create_project("shop").await;
    let (uploader_id, uploader) = app.service_token("uploader").await;
    let answer = app
        .upload_sbom(&uploader, &project, CYCLONEDX, FIELDS)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let sbom = &answer.body["data"]["uploadSbom"];
    let id = sbom["id"].as_str().unwrap().to_owned();
    assert_eq!(sbom["name"], "shop-api");
    assert_eq!(sbom["format"], "CYCLONEDX");
    assert_eq!(sbom["specVersion"], "1.5");
    assert_eq!(sbom["componentCount"], 5);
    assert_eq!(sbom["sizeBytes"], CYCLONEDX.len());
    assert_eq!(sbom["sha256"], sha256_hex(CYCLONEDX.as_bytes()));
    assert_eq!(sbom["document"], CYCLONEDX);
    assert_eq!(sbom["uploadedByUser"], Value::Null);
    assert_eq!(
        sbom["uploadedByToken"],
        json!({"id": uploader_id.to_string(), "name": "uploader pipeline"})
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(sbom["createdAt"].as_str().unwrap()).is_ok(),
        "{}",
        answer.text
    );

    // A viewer reads it back, exactly as uploaded.
    let (_, viewer) = app.service_token("viewer").await;
    let answer = app.gql(Some(&viewer), SBOM, json!({"id": id})).await;
    assert_eq!(
        answer.body["data"]["sbom"],
        json!({
            "id": id,
            "name": "shop-api",
            "format": "CYCLONEDX",
            "specVersion": "1.5",
            "componentCount": 5,
            "sizeBytes": CYCLONEDX.len(),
            "sha256": sha256_hex(CYCLONEDX.as_bytes()),
            "document": CYCLONEDX,
            "project": {"name": "shop"},
        }),
        "{}",
        answer.text
    );

    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "sbom.uploaded") { edges { node { targetType targetId actorToken { id } } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"],
        json!([{"node": {
            "targetType": "sbom",
            "targetId": id,
            "actorToken": {"id": uploader_id.to_string()},
        }}])
    );
}

#[tokio::test]
async fn spdx_counts_packages_and_records_the_uploading_user() {
    let app = spawn_app().await;
    let project = app.create_project("billing").await;
    let answer = app
        .upload_sbom(app.admin_token(), &project, SPDX, FIELDS)
        .await;
    let sbom = &answer.body["data"]["uploadSbom"];
    assert_eq!(sbom["name"], "billing-service", "{}", answer.text);
    assert_eq!(sbom["format"], "SPDX");
    assert_eq!(sbom["specVersion"], "SPDX-2.3");
    assert_eq!(sbom["componentCount"], 3);
    assert_eq!(sbom["sizeBytes"], SPDX.len());
    assert_eq!(sbom["sha256"], sha256_hex(SPDX.as_bytes()));
    assert_eq!(sbom["uploadedByUser"], json!({"email": "admin@acme.test"}));
    assert_eq!(sbom["uploadedByToken"]["name"], "bootstrap");
}

#[tokio::test]
async fn the_name_argument_wins_and_the_fallback_is_sbom() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { name } }",
            json!({"input": {"projectId": project, "name": " release 2.1 ", "document": SPDX}}),
        )
        .await;
    assert_eq!(answer.body["data"]["uploadSbom"]["name"], "release 2.1");
    let answer = app
        .upload_sbom(
            app.admin_token(),
            &project,
            r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#,
            "name componentCount",
        )
        .await;
    assert_eq!(
        answer.body["data"]["uploadSbom"],
        json!({"name": "sbom", "componentCount": 0})
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { name } }",
            json!({"input": {"projectId": project, "name": "", "document": SPDX}}),
        )
        .await;
    assert_bad_input(
        &answer,
        "uploadSbom",
        "name must be between 1 and 100 characters (got 0)",
    );
}

#[tokio::test]
async fn documents_that_are_not_sboms_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let accepted = "expected CycloneDX JSON (\"bomFormat\": \"CycloneDX\", specVersion 1.2 or \
                    later) or SPDX JSON (\"spdxVersion\": \"SPDX-2.2\" or \"SPDX-2.3\")";
    let cases = [
        (
            "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>",
            "the document is not valid JSON: expected value at line 1 column 1".to_owned(),
        ),
        (
            "{\"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.5\",",
            "the document is not valid JSON: EOF while parsing a value at line 2 column 23"
                .to_owned(),
        ),
        (
            r#"{"name": "shop", "components": []}"#,
            format!(
                "unknown SBOM format (the document has neither \"bomFormat\" nor \
                 \"spdxVersion\"); {accepted}"
            ),
        ),
        (
            r#"{"bomFormat": "SWID"}"#,
            format!("unknown SBOM format (\"bomFormat\" is \"SWID\"); {accepted}"),
        ),
        (
            r#"{"bomFormat": "CycloneDX", "components": []}"#,
            "the CycloneDX document has no `specVersion`; expected a string such as \
             \"specVersion\": \"1.6\" (1.2 or later)"
                .to_owned(),
        ),
        (
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.1"}"#,
            "CycloneDX specVersion \"1.1\" is not supported; supported versions are 1.2 and \
             later 1.x versions (1.2, 1.3, 1.4, 1.5, 1.6, 1.7)"
                .to_owned(),
        ),
        (
            r#"{"spdxVersion": "SPDX-2.1"}"#,
            "SPDX spdxVersion \"SPDX-2.1\" is not supported; supported versions are SPDX-2.2, \
             SPDX-2.3"
                .to_owned(),
        ),
        (
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "components": [{"name": "a", "components": "b"}]}"#,
            "the CycloneDX document's `components[0].components` is invalid; expected an \
             array of component objects"
                .to_owned(),
        ),
    ];
    for (document, message) in &cases {
        let answer = app.upload_sbom(&uploader, &project, document, "id").await;
        assert_bad_input(&answer, "uploadSbom", message);
    }
    // The same reasons for a file, and binary is named as such.
    let answer = app
        .upload_sbom_file(Some(&uploader), &project, cases[2].0.into(), "id")
        .await;
    assert_bad_input(&answer, "uploadSbomFile", &cases[2].1);
    let answer = app
        .upload_sbom_file(
            Some(&uploader),
            &project,
            vec![0x1f, 0x8b, 0x08, 0xff],
            "id",
        )
        .await;
    assert_bad_input(
        &answer,
        "uploadSbomFile",
        &format!("the document is not UTF-8 text (invalid byte at offset 1); {accepted}"),
    );
    assert_eq!(sbom_rows(&app).await, 0);
}

/// A CycloneDX document of exactly `size` bytes.
fn cyclonedx_of_size(size: usize) -> String {
    let empty = r#"{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":""}"#;
    let padding = "x".repeat(size - empty.len());
    format!(r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"{padding}"}}"#)
}

#[tokio::test]
async fn the_size_limit_is_configurable_and_the_body_limit_follows() {
    let app = spawn_app_with(|c| c.max_sbom_bytes = 1024).await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.service_token("uploader").await;

    let at_limit = cyclonedx_of_size(1024);
    let answer = app
        .upload_sbom(&uploader, &project, &at_limit, "id sizeBytes")
        .await;
    assert_eq!(
        answer.body["data"]["uploadSbom"]["sizeBytes"], 1024,
        "{}",
        answer.text
    );
    let id = id_of(&answer, "uploadSbom");

    let over = cyclonedx_of_size(1025);
    let answer = app.upload_sbom(&uploader, &project, &over, "id").await;
    assert_bad_input(
        &answer,
        "uploadSbom",
        "the document is 1025 bytes; the limit is 1024 bytes",
    );

    // Multipart: a file at the limit is fine (and the same document),
    // one byte more is cut off while reading, with 413.
    let answer = app
        .upload_sbom_file(Some(&uploader), &project, at_limit.into(), "id")
        .await;
    assert_eq!(id_of(&answer, "uploadSbomFile"), id);
    let answer = app
        .upload_sbom_file(Some(&uploader), &project, over.clone().into(), "id")
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    assert!(
        answer
            .text
            .starts_with("length limit exceeded: an SBOM document may be at most 1024 bytes"),
        "{}",
        answer.text
    );

    // A body over twice the limit plus 1 MiB is refused before it is read.
    let body_limit = 2 * 1024 + 1024 * 1024;
    let huge = "x".repeat(body_limit);
    let answer = app.upload_sbom(&uploader, &project, &huge, "id").await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );

    // Without Content-Length (chunked), the limit cuts the body off mid-way.
    let status_line = post_chunked(&app, &uploader, &project, &huge).await;
    assert_eq!(status_line, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(sbom_rows(&app).await, 1);
}

/// POSTs an `uploadSbom` with `Transfer-Encoding: chunked` (reqwest always
/// sends a length here); returns the status line.
async fn post_chunked(app: &TestApp, token: &str, project_id: &str, document: &str) -> String {
    let body = json!({
        "query": "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { id } }",
        "variables": {"input": {"projectId": project_id, "document": document}},
    })
    .to_string();
    crate::helpers::post_chunked(app, Some(token), &body, 64 * 1024).await
}

#[tokio::test]
async fn re_uploading_the_same_document_returns_the_same_sbom() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let other_project = app.create_project("worker").await;
    let (_, uploader) = app.service_token("uploader").await;
    let first = id_of(
        &app.upload_sbom(&uploader, &project, CYCLONEDX, "id").await,
        "uploadSbom",
    );
    let again = app
        .gql(
            Some(&uploader),
            "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { id name } }",
            json!({"input": {"projectId": project, "name": "retry", "document": CYCLONEDX}}),
        )
        .await;
    // The existing SBOM, unchanged (the retry's name is not applied).
    assert_eq!(
        again.body["data"]["uploadSbom"],
        json!({"id": first, "name": "shop-api"})
    );

    // CI retries racing each other still store it once.
    let (a, b, c, d) = tokio::join!(
        app.upload_sbom(&uploader, &project, SPDX, "id"),
        app.upload_sbom(&uploader, &project, SPDX, "id"),
        app.upload_sbom(&uploader, &project, SPDX, "id"),
        app.upload_sbom(&uploader, &project, SPDX, "id"),
    );
    let ids: Vec<String> = [a, b, c, d]
        .iter()
        .map(|answer| id_of(answer, "uploadSbom"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_ne!(ids[0], first);

    // Another project stores its own copy.
    let elsewhere = id_of(
        &app.upload_sbom(&uploader, &other_project, CYCLONEDX, "id")
            .await,
        "uploadSbom",
    );
    assert_ne!(elsewhere, first);
    assert_eq!(sbom_rows(&app).await, 3);
    assert_eq!(audit_count(&app, "sbom.uploaded").await, 3);
}

#[tokio::test]
async fn multipart_uploads_work_like_curl_dash_f() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let answer = app
        .upload_sbom_file(
            Some(&uploader),
            &project,
            CYCLONEDX.into(),
            "id name format componentCount sizeBytes sha256 document",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let sbom = &answer.body["data"]["uploadSbomFile"];
    assert_eq!(sbom["name"], "shop-api", "{}", answer.text);
    assert_eq!(sbom["format"], "CYCLONEDX");
    assert_eq!(sbom["componentCount"], 5);
    assert_eq!(sbom["sizeBytes"], CYCLONEDX.len());
    assert_eq!(sbom["sha256"], sha256_hex(CYCLONEDX.as_bytes()));
    assert_eq!(sbom["document"], CYCLONEDX);
    let id = sbom["id"].as_str().unwrap().to_owned();
    // The same bytes inline are the same SBOM.
    let answer = app.upload_sbom(&uploader, &project, CYCLONEDX, "id").await;
    assert_eq!(id_of(&answer, "uploadSbom"), id);
}

#[tokio::test]
async fn who_may_upload_read_and_delete() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let (_, viewer) = app.service_token("viewer").await;
    let (_, editor) = app.service_token("editor").await;
    let id = id_of(
        &app.upload_sbom(&uploader, &project, SPDX, "id").await,
        "uploadSbom",
    );

    // The uploader reads but cannot delete.
    let answer = app.gql(Some(&uploader), SBOM, json!({"id": id})).await;
    assert_eq!(answer.body["data"]["sbom"]["id"], id.as_str());
    let answer = app.gql(Some(&uploader), DELETE, json!({"id": id})).await;
    assert_forbidden(&answer, "deleteSbom", "sboms:delete");

    // The viewer reads only.
    let answer = app
        .gql(
            Some(&viewer),
            "query($id: ID!) { project(id: $id) { sboms { edges { node { id } } } } }",
            json!({"id": project}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["project"]["sboms"]["edges"],
        json!([{"node": {"id": id}}])
    );
    let answer = app.upload_sbom(&viewer, &project, CYCLONEDX, "id").await;
    assert_forbidden(&answer, "uploadSbom", "sboms:write");
    let answer = app
        .upload_sbom_file(Some(&viewer), &project, CYCLONEDX.into(), "id")
        .await;
    assert_forbidden(&answer, "uploadSbomFile", "sboms:write");
    let answer = app.gql(Some(&viewer), DELETE, json!({"id": id})).await;
    assert_forbidden(&answer, "deleteSbom", "sboms:delete");

    // A token scoped to tokens:read cannot read SBOMs.
    let session = app.admin_session().await;
    let (_, scoped) = app
        .create_personal_token(&session, Some(vec!["tokens:read"]))
        .await;
    let answer = app.gql(Some(&scoped), SBOM, json!({"id": id})).await;
    assert_forbidden(&answer, "sbom", "sboms:read");

    // The editor deletes.
    let answer = app.gql(Some(&editor), DELETE, json!({"id": id})).await;
    assert_eq!(
        answer.body["data"]["deleteSbom"],
        id.as_str(),
        "{}",
        answer.text
    );
    let answer = app.gql(Some(&editor), SBOM, json!({"id": id})).await;
    answer.assert_error_exact("NOT_FOUND", "sbom not found");
    let answer = app.gql(Some(&editor), DELETE, json!({"id": id})).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
    assert_eq!(audit_count(&app, "sbom.deleted").await, 1);
    assert_eq!(sbom_rows(&app).await, 0);
}

#[tokio::test]
async fn the_uploader_is_shown_to_those_who_may_see_it() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let by_admin = id_of(
        &app.upload_sbom(app.admin_token(), &project, SPDX, "id")
            .await,
        "uploadSbom",
    );
    let query = "query($id: ID!) { sbom(id: $id) { name uploadedByUser { email } uploadedByToken { name } } }";
    // The viewer has members:read, not tokens:read: the token is absent
    // for it, as `token(id)` would not answer it (no error, just null).
    let (_, viewer) = app.service_token("viewer").await;
    let answer = app.gql(Some(&viewer), query, json!({"id": by_admin})).await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert_eq!(
        answer.body["data"]["sbom"],
        json!({"name": "billing-service", "uploadedByUser": {"email": "admin@acme.test"}, "uploadedByToken": null})
    );
    // The uploader has neither: the user is FORBIDDEN, the token absent.
    let answer = app
        .gql(Some(&uploader), query, json!({"id": by_admin}))
        .await;
    let required: Vec<&str> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extensions"]["requiredPermission"].as_str().unwrap())
        .collect();
    assert_eq!(required, ["members:read"]);
    assert_eq!(answer.body["data"]["sbom"]["uploadedByToken"], Value::Null);
    // The admin sees both.
    let answer = app
        .gql(Some(app.admin_token()), query, json!({"id": by_admin}))
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert_eq!(
        answer.body["data"]["sbom"]["uploadedByToken"]["name"],
        "bootstrap"
    );
}

#[tokio::test]
async fn a_project_lists_its_sboms_newest_first() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let mut ids = Vec::new();
    for version in ["1.4", "1.5", "1.6"] {
        let document = format!(r#"{{"bomFormat":"CycloneDX","specVersion":"{version}"}}"#);
        ids.push(id_of(
            &app.upload_sbom(app.admin_token(), &project, &document, "id")
                .await,
            "uploadSbom",
        ));
    }
    let query = "query($id: ID!, $after: String) { project(id: $id) { sboms(first: 2, after: $after) { edges { node { id specVersion } } pageInfo { hasNextPage endCursor } } } }";
    let answer = app
        .gql(Some(app.admin_token()), query, json!({"id": project}))
        .await;
    let sboms = &answer.body["data"]["project"]["sboms"];
    assert_eq!(
        sboms["edges"],
        json!([
            {"node": {"id": ids[2], "specVersion": "1.6"}},
            {"node": {"id": ids[1], "specVersion": "1.5"}},
        ]),
        "{}",
        answer.text
    );
    assert_eq!(sboms["pageInfo"]["hasNextPage"], true);
    let answer = app
        .gql(
            Some(app.admin_token()),
            query,
            json!({"id": project, "after": sboms["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["project"]["sboms"]["edges"],
        json!([{"node": {"id": ids[0], "specVersion": "1.4"}}])
    );
}

#[tokio::test]
async fn another_organizations_sboms_and_projects_do_not_exist() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let id = id_of(
        &app.upload_sbom(app.admin_token(), &project, SPDX, "id")
            .await,
        "uploadSbom",
    );
    let globex = app.other_organization("Globex", "boss@globex.test").await;
    let theirs = globex.token.as_str();

    for (query, field) in [(SBOM, "sbom"), (DELETE, "deleteSbom")] {
        let answer = app.gql(Some(theirs), query, json!({"id": id})).await;
        answer.assert_error_exact("NOT_FOUND", "sbom not found");
        assert_eq!(answer.body["data"][field], Value::Null);
    }
    let answer = app.gql(Some(theirs), SBOM, json!({"id": "12345"})).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));

    let answer = app.upload_sbom(theirs, &project, CYCLONEDX, "id").await;
    answer.assert_error_exact("NOT_FOUND", "project not found");
    let answer = app
        .upload_sbom_file(Some(theirs), &project, CYCLONEDX.into(), "id")
        .await;
    answer.assert_error_exact("NOT_FOUND", "project not found");
    assert_eq!(sbom_rows(&app).await, 1);
}

#[tokio::test]
async fn anonymous_uploads_get_401() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let answer = app
        .gql(
            None,
            "mutation($input: UploadSbomInput!) { uploadSbom(input: $input) { id } }",
            json!({"input": {"projectId": project, "document": SPDX}}),
        )
        .await;
    assert_unauthorized(&answer, false);
    let answer = app
        .upload_sbom_file(None, &project, SPDX.into(), "id")
        .await;
    assert_unauthorized(&answer, false);
    let answer = app
        .upload_sbom_file(Some("lynk_live_nope"), &project, SPDX.into(), "id")
        .await;
    assert_unauthorized(&answer, true);
    assert_eq!(sbom_rows(&app).await, 0);
}

#[tokio::test]
async fn a_file_argument_outside_a_multipart_request_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project("api").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            r##"mutation($id: ID!) { uploadSbomFile(projectId: $id, file: "#__graphql_file__:3") { id } }"##,
            json!({"id": project}),
        )
        .await;
    assert_bad_input(
        &answer,
        "uploadSbomFile",
        "`file` must be a file part of a multipart request (the GraphQL multipart request \
         spec: -F operations=… -F map=… -F 0=@bom.json)",
    );
}
