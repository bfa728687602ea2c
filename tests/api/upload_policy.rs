//! Upload policy and provenance (docs/DESIGN.md §9): every credential
//! kind × every policy × both upload mutations, the report of credentials
//! still uploading, and provenance copied from the claims kept with an
//! exchanged token, never from the document.

use lynk::entity::{sbom, webhook_delivery};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    trusted_publishing::{SUBJECT, SigningKey, TestIssuer, exchange_ok, spawn_lynk, trust_ok},
};

const SET_POLICY: &str = "mutation($id: ID!, $policy: UploadPolicy!) {
  updateProject(id: $id, input: {uploadPolicy: $policy}) { id uploadPolicy }
}";
const FIELDS: &str = "id sha256 provenance { kind issuer repository repositoryId ref sha workflowRef environment runId }";
const REFUSED: &str = "Forbidden: this project's upload policy is TRUSTED_PUBLISHING_ONLY: upload with a token from exchangeOidcToken";

/// A distinct CycloneDX document for each `n`.
fn document(n: usize) -> String {
    format!(
        r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": {n}, "components": []}}"#
    )
}

async fn set_policy(
    app: &TestApp,
    token: &str,
    project: &str,
    policy: &str,
) -> crate::helpers::Answer {
    app.gql(
        Some(token),
        SET_POLICY,
        json!({ "id": project, "policy": policy }),
    )
    .await
}

async fn stored_with(app: &TestApp, sha256: &str) -> u64 {
    sbom::Entity::find()
        .filter(sbom::Column::Sha256.eq(sha256))
        .count(&app.db)
        .await
        .unwrap()
}

/// Uploads `doc` with `mutation` (`uploadSbom` or `uploadSbomFile`); the
/// answer's `Sbom`, or its error.
async fn upload(app: &TestApp, token: &str, project: &str, doc: &str, file: bool) -> Value {
    let answer = if file {
        app.upload_sbom_file(Some(token), project, doc.as_bytes().to_vec(), FIELDS)
            .await
    } else {
        app.upload_sbom(token, project, doc, FIELDS).await
    };
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "file {file}: {}",
        answer.text
    );
    answer.body
}

fn sha256_hex(text: &str) -> String {
    lynk::service::sbom_document::sha256_hex(text.as_bytes())
}

async fn violations(app: &TestApp, project: &str) -> Value {
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { project(id: $id) { policyViolations { token { id kind } count lastAt } } }",
            json!({ "id": project }),
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    answer.body["data"]["project"]["policyViolations"].clone()
}

#[tokio::test]
async fn every_credential_under_every_policy_on_both_upload_mutations() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let exchanged = exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    let session = app.admin_session().await;
    let (service_id, service) = app.service_token("uploader").await;
    let credentials = [
        ("session", session.as_str(), "SESSION"),
        ("personal", app.admin_token(), "PERSONAL_TOKEN"),
        ("service", service.as_str(), "SERVICE_TOKEN"),
        ("exchanged", exchanged.as_str(), "TRUSTED_PUBLISHING"),
    ];
    let mut n = 0;
    for policy in [
        "ANY_CREDENTIAL",
        "TRUSTED_PUBLISHING_REPORT",
        "TRUSTED_PUBLISHING_ONLY",
    ] {
        let set = set_policy(&app, app.admin_token(), &project, policy).await;
        assert_eq!(
            set.body["data"]["updateProject"]["uploadPolicy"], policy,
            "{}",
            set.text
        );
        for (name, token, kind) in credentials {
            for file in [false, true] {
                n += 1;
                let doc = document(n);
                let body = upload(&app, token, &project, &doc, file).await;
                let mutation = if file { "uploadSbomFile" } else { "uploadSbom" };
                let refused = policy == "TRUSTED_PUBLISHING_ONLY" && name != "exchanged";
                if refused {
                    assert_eq!(body["data"], Value::Null, "{policy} {name} {mutation}");
                    assert_eq!(body["errors"][0]["message"], REFUSED);
                    assert_eq!(
                        body["errors"][0]["extensions"],
                        json!({"code": "FORBIDDEN", "reason": "UPLOAD_POLICY"})
                    );
                    assert_eq!(body["errors"][0]["path"], json!([mutation]));
                    assert_eq!(stored_with(&app, &sha256_hex(&doc)).await, 0);
                } else {
                    assert!(
                        body["errors"].is_null(),
                        "{policy} {name} {mutation}: {body}"
                    );
                    let stored = &body["data"][mutation];
                    assert_eq!(stored["provenance"]["kind"], kind, "{name}");
                    assert_eq!(stored_with(&app, &sha256_hex(&doc)).await, 1);
                }
            }
        }
    }

    // Under REPORT each of the three non-exchanged credentials uploaded
    // twice (once per mutation); under ANY and ONLY nothing counted.
    let listed = violations(&app, &project).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|v| v["count"] == 2), "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|v| v["token"]["id"] == service_id.to_string() && v["token"]["kind"] == "SERVICE")
    );

    // An idempotent re-upload under REPORT counts exactly once.
    set_policy(
        &app,
        app.admin_token(),
        &project,
        "TRUSTED_PUBLISHING_REPORT",
    )
    .await;
    let again = upload(&app, &service, &project, &document(1), false).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(stored_with(&app, &sha256_hex(&document(1))).await, 1);
    let listed = violations(&app, &project).await;
    let service_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["token"]["id"] == service_id.to_string())
        .cloned()
        .unwrap();
    assert_eq!(service_row["count"], 3, "{listed}");
    // The exchanged token never counts.
    let exchanged_again = upload(&app, &exchanged, &project, &document(999), true).await;
    assert!(exchanged_again["errors"].is_null());
    assert_eq!(
        violations(&app, &project).await.as_array().unwrap().len(),
        3
    );
}

#[tokio::test]
async fn only_projects_write_sets_the_policy_in_its_own_organization() {
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let (_, uploader) = app.service_token("uploader").await;
    let answer = set_policy(&app, &uploader, &project, "TRUSTED_PUBLISHING_ONLY").await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "projects:write"
    );
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let answer = set_policy(&app, &other.token, &project, "TRUSTED_PUBLISHING_ONLY").await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = set_policy(&app, app.admin_token(), &project, "EVERYONE").await;
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("EVERYONE")
    );
    // Unchanged by all of that.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { project(id: $id) { uploadPolicy policyViolations { count } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["project"],
        json!({"uploadPolicy": "ANY_CREDENTIAL", "policyViolations": []})
    );
    // Anonymous: the bare 401.
    let answer = app
        .gql(
            None,
            SET_POLICY,
            json!({"id": project, "policy": "ANY_CREDENTIAL"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn provenance_is_the_exchanged_tokens_claims_never_the_document() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let publisher = trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    crate::webhooks::create_ok(&app, "https://hooks.example.com/", &["sbom.uploaded"]).await;
    let claims = crate::trusted_publishing::with(
        issuer.claims(),
        json!({"repository_id": 123456, "environment": "release"}),
    );
    let identity_token = key.sign(&claims);
    let exchanged = exchange_ok(&app, &project, &identity_token).await;
    // The document claims another origin: it is not read for provenance.
    let doc = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"name": "evil/forged", "properties": [{"name": "repository", "value": "evil/forged"}]}},
        "components": []}"#;
    let body = upload(&app, &exchanged, &project, doc, false).await;
    let provenance = &body["data"]["uploadSbom"]["provenance"];
    assert_eq!(
        *provenance,
        json!({
            "kind": "TRUSTED_PUBLISHING",
            "issuer": issuer.url(),
            "repository": "acme/shop-api",
            "repositoryId": "123456",
            "ref": "refs/heads/main",
            "sha": "5e1b8ae6b3c1f4e0d8a4c0e4b1f2a3d4c5b6a7f8",
            "workflowRef": "acme/shop-api/.github/workflows/sbom.yml@refs/heads/main",
            "environment": "release",
            "runId": "4242",
        })
    );
    // Its publisher, for whoever may see publishers (the CI job's own
    // token may not: it has no `tokens:read`).
    let read = |token: String| {
        let app = &app;
        let id = body["data"]["uploadSbom"]["id"].clone();
        async move {
            app.gql(
                Some(&token),
                "query($id: ID!) { sbom(id: $id) { provenance { publisher { id } } } }",
                json!({ "id": id }),
            )
            .await
            .body["data"]["sbom"]["provenance"]["publisher"]
                .clone()
        }
    };
    assert_eq!(
        read(app.admin_token().to_owned()).await,
        json!({"id": publisher})
    );
    assert_eq!(read(exchanged.clone()).await, Value::Null);
    // A personal token's upload: the kind, no CI claims.
    let personal = upload(&app, app.admin_token(), &project, &document(2), false).await;
    assert_eq!(
        personal["data"]["uploadSbom"]["provenance"]["kind"],
        "PERSONAL_TOKEN"
    );
    assert_eq!(
        personal["data"]["uploadSbom"]["provenance"]["repository"],
        Value::Null
    );

    // The filter on Project.sboms.
    let list = |kind: &'static str| {
        let project = project.clone();
        let app = &app;
        async move {
            let answer = app
                .gql(
                    Some(app.admin_token()),
                    "query($id: ID!, $kind: ProvenanceKind) { project(id: $id) { sboms(provenanceKind: $kind) { nodes { provenance { kind } } } } }",
                    json!({"id": project, "kind": kind}),
                )
                .await;
            assert!(answer.body["errors"].is_null(), "{}", answer.text);
            answer.body["data"]["project"]["sboms"]["nodes"].clone()
        }
    };
    assert_eq!(
        list("TRUSTED_PUBLISHING").await,
        json!([{"provenance": {"kind": "TRUSTED_PUBLISHING"}}])
    );
    assert_eq!(
        list("PERSONAL_TOKEN").await,
        json!([{"provenance": {"kind": "PERSONAL_TOKEN"}}])
    );
    assert_eq!(list("SESSION").await, json!([]));

    // The sbom.uploaded event carries it.
    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Event.eq("sbom.uploaded"))
        .all(&app.db)
        .await
        .unwrap();
    let payloads: Vec<Value> = deliveries
        .iter()
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect();
    let event = payloads
        .iter()
        .find(|p| p["data"]["sbom"]["provenance"]["kind"] == "TRUSTED_PUBLISHING")
        .unwrap_or_else(|| panic!("{payloads:?}"));
    assert_eq!(
        event["data"]["sbom"]["provenance"]["repositoryId"],
        "123456"
    );
    assert_eq!(event["data"]["sbom"]["provenance"]["runId"], "4242");

    // The identity token itself is stored nowhere.
    if let Some(path) = &app.database.sqlite_path {
        let signature = identity_token.rsplit('.').next().unwrap();
        let payload = identity_token.split('.').nth(1).unwrap();
        for file in [path.clone(), path.with_extension("db-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(signature) && !text.contains(payload));
            }
        }
    }
}

/// A child of an exchanged token is not the exchanged token: under
/// `TRUSTED_PUBLISHING_ONLY` it uploads nothing, under the report it is
/// counted, and its SBOM's provenance does not borrow its parent's claims.
#[tokio::test]
async fn a_child_of_an_exchanged_token_is_another_credential() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let exchanged = exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    let minted = app
        .gql(
            Some(&exchanged),
            "mutation($input: AttenuateTokenInput!) { attenuateToken(input: $input) { token { id } secret } }",
            json!({ "input": {
                "name": "build step",
                "scopes": ["projects:read", "sboms:read", "sboms:write"],
                "expiresInSeconds": 300,
            } }),
        )
        .await;
    let child = minted.body["data"]["attenuateToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", minted.text))
        .to_owned();
    let child_id = minted.body["data"]["attenuateToken"]["token"]["id"].clone();

    set_policy(&app, app.admin_token(), &project, "TRUSTED_PUBLISHING_ONLY").await;
    for file in [false, true] {
        let doc = document(500 + usize::from(file));
        let body = upload(&app, &child, &project, &doc, file).await;
        assert_eq!(body["data"], Value::Null, "{body}");
        assert_eq!(body["errors"][0]["message"], REFUSED);
        assert_eq!(
            body["errors"][0]["extensions"],
            json!({"code": "FORBIDDEN", "reason": "UPLOAD_POLICY"})
        );
        assert_eq!(stored_with(&app, &sha256_hex(&doc)).await, 0);
    }

    set_policy(
        &app,
        app.admin_token(),
        &project,
        "TRUSTED_PUBLISHING_REPORT",
    )
    .await;
    let body = upload(&app, &child, &project, &document(502), false).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_ne!(
        body["data"]["uploadSbom"]["provenance"]["kind"], "TRUSTED_PUBLISHING",
        "{body}"
    );
    assert_eq!(
        body["data"]["uploadSbom"]["provenance"]["repository"],
        Value::Null
    );
    let listed = violations(&app, &project).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["token"]["id"], child_id, "{listed}");
    assert_eq!(listed[0]["count"], 1, "{listed}");
}
