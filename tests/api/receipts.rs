//! Receipts (docs/DESIGN.md §9): a compact JWS per SBOM, verified here
//! with jsonwebtoken (a JOSE implementation other than lynk's signer), the
//! JWKS at `/.well-known/jwks.json`, key rotation that keeps old receipts
//! valid, one key for every instance, and `lynk receipt verify`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{POSTGRES_TEST_KEY, TestApp, TestDatabase, lynk_binary, spawn_app};

const FIELDS: &str = "id sha256 receipt project { id } provenance { kind }";

async fn jwks(app: &TestApp) -> (Value, String) {
    let response = app
        .client
        .get(format!("http://{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let text = response.text().await.unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

/// The receipt's payload, checked by jsonwebtoken against `keys`.
fn verify_elsewhere(receipt: &str, keys: &Value) -> Result<Value, jsonwebtoken::errors::Error> {
    let set: JwkSet = serde_json::from_value(keys.clone()).unwrap();
    let header = jsonwebtoken::decode_header(receipt)?;
    let kid = header.kid.clone().expect("a kid");
    let jwk = set.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(receipt, &key, &validation).map(|data| data.claims)
}

async fn upload(app: &TestApp, n: usize) -> (Value, String) {
    let doc = format!(
        r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": {n}, "components": []}}"#
    );
    let project = app.create_project(&format!("p{n}")).await;
    let answer = app
        .upload_sbom(app.admin_token(), &project, &doc, FIELDS)
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    (answer.body["data"]["uploadSbom"].clone(), doc)
}

fn kid_of(receipt: &str) -> String {
    jsonwebtoken::decode_header(receipt).unwrap().kid.unwrap()
}

/// `lynk signing-key rotate` on the app's database.
fn rotate(app: &TestApp) {
    let mut command = lynk_binary();
    command.args(["signing-key", "rotate", "--database-url", &app.database.url]);
    if app.database.sqlite_path.is_none() {
        command.env("LYNK_ENCRYPTION_KEY", POSTGRES_TEST_KEY);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("New receipt signing key"));
}

#[tokio::test]
async fn a_receipt_verifies_with_another_jose_implementation_and_survives_rotation() {
    let app = spawn_app().await;
    let (sbom, _) = upload(&app, 1).await;
    let receipt = sbom["receipt"].as_str().unwrap().to_owned();
    let (keys, _) = jwks(&app).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let payload = verify_elsewhere(&receipt, &keys).expect("the receipt verifies");
    let header = jsonwebtoken::decode_header(&receipt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(
        payload,
        json!({
            "sbom": sbom["id"],
            "project": sbom["project"]["id"],
            "sha256": sbom["sha256"],
            "provenance": {
                "kind": "PERSONAL_TOKEN", "publisherId": null, "issuer": null,
                "repository": null, "repositoryId": null, "ref": null, "sha": null,
                "workflowRef": null, "environment": null, "runId": null
            },
            "iat": payload["iat"],
        })
    );
    assert!(payload["iat"].as_i64().unwrap() > 1_700_000_000);

    // Any flipped byte of any part fails.
    for i in 0..receipt.len() {
        let mut bytes = receipt.clone().into_bytes();
        if bytes[i] == b'.' {
            continue;
        }
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        if altered == receipt {
            continue;
        }
        let verdict = std::panic::catch_unwind(|| verify_elsewhere(&altered, &keys));
        assert!(
            !matches!(verdict, Ok(Ok(ref p)) if *p == payload),
            "byte {i} altered and still valid"
        );
    }

    // The same SBOM read again: the same receipt.
    let again = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { sbom(id: $id) { receipt } }",
            json!({"id": sbom["id"]}),
        )
        .await;
    assert_eq!(again.body["data"]["sbom"]["receipt"], receipt);

    // A new key: new receipts use it, old ones stay valid.
    rotate(&app);
    let (newer, _) = upload(&app, 2).await;
    let newer_receipt = newer["receipt"].as_str().unwrap();
    assert_ne!(kid_of(newer_receipt), kid_of(&receipt));
    let (keys, _) = jwks(&app).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert_eq!(verify_elsewhere(&receipt, &keys).unwrap(), payload);
    assert!(verify_elsewhere(newer_receipt, &keys).is_ok());
    // Not signed by the old key with the new kid, nor the reverse.
    let swapped = {
        let mut parts: Vec<&str> = newer_receipt.split('.').collect();
        let old_sig = receipt.rsplit('.').next().unwrap();
        parts[2] = old_sig;
        parts.join(".")
    };
    assert!(verify_elsewhere(&swapped, &keys).is_err());
}

#[tokio::test]
async fn instances_share_one_key_made_once() {
    // Two instances building on one empty database at once.
    let database = TestDatabase::new().await;
    let build = |url: String| async move {
        let mut config = lynk::config::ServeArgs::new(
            "127.0.0.1:0".parse().unwrap(),
            lynk::config::DatabaseArgs::new(url),
        );
        crate::helpers::postgres_needs_a_key(&mut config);
        lynk::startup::Application::build(config).await
    };
    let (a, b) = tokio::join!(build(database.url.clone()), build(database.url.clone()));
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    use sea_orm::{EntityTrait, PaginatorTrait};
    let keys = lynk::entity::signing_key::Entity::find()
        .count(a.db())
        .await
        .unwrap();
    assert_eq!(keys, 1, "one signing key for both instances");
    drop((a, b));
}

#[tokio::test]
async fn lynk_receipt_verify_checks_a_receipt_offline() {
    let app = spawn_app().await;
    let (sbom, doc) = upload(&app, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let receipt_file = dir.path().join("bom.receipt");
    let sbom_file = dir.path().join("bom.json");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&receipt_file, sbom["receipt"].as_str().unwrap()).unwrap();
    std::fs::write(&sbom_file, &doc).unwrap();
    let (_, jwks_text) = jwks(&app).await;
    std::fs::write(&jwks_file, &jwks_text).unwrap();
    let verify = |receipt: &std::path::Path, sbom: &std::path::Path, jwks: &str| {
        let output = lynk_binary()
            .args(["receipt", "verify", "--receipt"])
            .arg(receipt)
            .arg("--sbom")
            .arg(sbom)
            .args(["--jwks", jwks])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let jwks_path = jwks_file.to_str().unwrap();
    let (code, out) = verify(&receipt_file, &sbom_file, jwks_path);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("valid: SBOM ") && out.contains("PERSONAL_TOKEN"),
        "{out}"
    );
    // Against the server's URL.
    let url = format!("http://{}/.well-known/jwks.json", app.address);
    let (code, out) = tokio::task::spawn_blocking({
        let (receipt_file, sbom_file) = (receipt_file.clone(), sbom_file.clone());
        move || verify(&receipt_file, &sbom_file, &url)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    // Another file.
    let other = dir.path().join("other.json");
    std::fs::write(&other, doc.replace("\"version\"", "\"version\" ")).unwrap();
    let (code, out) = verify(&receipt_file, &other, jwks_path);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("INVALID: the SBOM file is not the one"),
        "{out}"
    );
    // An altered receipt.
    let altered = dir.path().join("altered.receipt");
    let mut receipt = sbom["receipt"].as_str().unwrap().to_owned();
    let last = receipt.pop().unwrap();
    receipt.push(if last == 'A' { 'B' } else { 'A' });
    std::fs::write(&altered, &receipt).unwrap();
    let (code, out) = verify(&altered, &sbom_file, jwks_path);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("INVALID"), "{out}");
    // No key set to check against.
    let (code, out) = verify(&receipt_file, &sbom_file, "/nonexistent/jwks.json");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("not checked: cannot read the key set"),
        "{out}"
    );
}
