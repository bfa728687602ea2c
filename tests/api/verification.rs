//! The context guard: which credentials verify, and the exact 401/403
//! answers for those that do not.

use lynk::auth::{
    CredentialKind,
    token_format::{self, SecretKind},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    FORBIDDEN_BODY, assert_unauthorized, days_from_now, lynk_binary, spawn_app, spawn_app_with,
};

const VERIFY: &str = "query { organization { id name } }";

#[tokio::test]
async fn the_seed_token_verifies_with_the_readme_curl() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url())
                .header("Authorization", format!("Bearer {}", app.admin_token()))
                .header("Content-Type", "application/json")
                .body(r#"{"query": "query { organization { id name } }"}"#),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"data": {"organization": {
            "id": app.admin.organization.id.to_string(),
            "name": "Acme Corp",
        }}})
    );
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn a_missing_header_is_401_without_invalid_token() {
    let app = spawn_app().await;
    let answer = app.gql(None, VERIFY, Value::Null).await;
    assert_unauthorized(&answer, false);
}

#[tokio::test]
async fn malformed_tokens_are_401() {
    let app = spawn_app().await;
    let good = app.admin_token().to_owned();
    let mut bad_checksum = good.clone().into_bytes();
    bad_checksum[12] = if bad_checksum[12] == b'a' { b'b' } else { b'a' };
    let bad_checksum = String::from_utf8(bad_checksum).unwrap();
    let cases = [
        ("empty bearer", "Bearer ".to_owned()),
        (
            "wrong prefix",
            format!("Bearer {}", good.replace("lynk_live_", "lynk_test_")),
        ),
        ("bad checksum", format!("Bearer {bad_checksum}")),
        ("truncated", format!("Bearer {}", &good[..good.len() - 2])),
        ("basic scheme", "Basic YWRtaW46cGFzc3dvcmQ=".to_owned()),
    ];
    for (case, header) in cases {
        let answer = app
            .send(
                app.client
                    .post(app.url())
                    .header("Authorization", header)
                    .json(&json!({ "query": VERIFY })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_unauthorized(&answer, true);
    }
}

#[tokio::test]
async fn an_unknown_well_formed_token_is_401() {
    let app = spawn_app().await;
    let unknown = token_format::generate(CredentialKind::Personal);
    let answer = app
        .gql(Some(unknown.secret.expose()), VERIFY, Value::Null)
        .await;
    assert_unauthorized(&answer, true);
    let invitation = token_format::generate(SecretKind::Invitation);
    let answer = app
        .gql(Some(invitation.secret.expose()), VERIFY, Value::Null)
        .await;
    assert_unauthorized(&answer, true);
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = spawn_app().await;
    let (_, token) = app.admin_personal_token(days_from_now(-1)).await;
    assert_unauthorized(&app.gql(Some(&token), VERIFY, Value::Null).await, true);
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let app = spawn_app().await;
    let (id, token) = app.admin_personal_token(days_from_now(1)).await;
    assert_eq!(
        app.gql(Some(&token), VERIFY, Value::Null).await.status,
        StatusCode::OK
    );
    app.execute(
        "UPDATE token SET revoked_at = $1 WHERE id = $2",
        vec![chrono::Utc::now().into(), id.into()],
    )
    .await;
    assert_unauthorized(&app.gql(Some(&token), VERIFY, Value::Null).await, true);
}

#[tokio::test]
async fn a_removed_members_personal_token_is_401_but_service_tokens_live_on() {
    let app = spawn_app().await;
    let (_, service) = app.service_token("uploader").await;
    app.execute(
        "DELETE FROM membership WHERE user_id = $1",
        vec![app.admin.user.id.into()],
    )
    .await;
    assert_unauthorized(
        &app.gql(Some(app.admin_token()), VERIFY, Value::Null).await,
        true,
    );
    let answer = app.gql(Some(&service), VERIFY, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
}

#[tokio::test]
async fn bare_and_lowercase_bearer_headers_are_accepted() {
    let app = spawn_app().await;
    for header in [
        app.admin_token().to_owned(),
        format!("bearer {}", app.admin_token()),
        format!("BEARER {}", app.admin_token()),
    ] {
        let answer = app
            .send(
                app.client
                    .post(app.url())
                    .header("Authorization", &header)
                    .json(&json!({ "query": VERIFY })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    }
}

#[tokio::test]
async fn a_foreign_organization_header_is_403() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    for org in [other.organization.id.to_string(), "not-a-uuid".to_owned()] {
        let answer = app
            .send(
                app.client
                    .post(app.url())
                    .bearer_auth(app.admin_token())
                    .header("X-Organization-ID", org)
                    .json(&json!({ "query": VERIFY })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(answer.text, FORBIDDEN_BODY);
    }
    // Its own organization id is fine.
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .header("X-Organization-ID", app.admin.organization.id.to_string())
                .json(&json!({ "query": VERIFY })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn introspection_needs_a_credential() {
    let app = spawn_app().await;
    let answer = app
        .gql(None, "{ __schema { queryType { name } } }", Value::Null)
        .await;
    assert_unauthorized(&answer, false);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ __schema { queryType { name } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
}

#[tokio::test]
async fn queries_work_over_get_and_mutations_do_not() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .get(app.url())
                .bearer_auth(app.admin_token())
                .query(&[("query", VERIFY)]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    let answer = app
        .send(
            app.client
                .get(app.url())
                .bearer_auth(app.admin_token())
                .query(&[("query", "mutation { logout }")]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers.get("allow").unwrap(), "POST");
}

#[tokio::test]
async fn a_browser_gets_graphiql() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url())
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"));
    // Nothing comes from another origin: every script and stylesheet is
    // served by lynk itself.
    assert!(
        !page.contains("//unpkg") && !page.contains("https://"),
        "{page}"
    );
    let sources: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/lynkapi/assets/"))
        .collect();
    assert!(sources.len() >= 4, "{page}");
    for source in sources {
        let asset = app
            .client
            .get(format!("http://{}{source}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{source}");
        assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
    }
    let missing = app
        .client
        .get(format!(
            "http://{}/lynkapi/assets/..%2FCargo.toml",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app
            .client
            .get(format!("http://{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn responses_follow_graphql_over_http_media_types() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(app.admin_token())
                .header("Accept", "application/graphql-response+json")
                .json(&json!({ "query": VERIFY })),
        )
        .await;
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/graphql-response+json"
    );
    assert!(answer.headers.contains_key("x-request-id"));
}

/// On a SQLite file the verification query runs inline, on rusqlite
/// connections of the verifier's own; through the pool it runs on sea-orm.
/// Both must decode the same rows (UUID blobs, timestamps as sqlx writes
/// them, NULLs) and reach the same decision, for every kind of credential.
#[tokio::test]
async fn the_inline_reader_and_the_pool_agree() {
    use chrono::Utc;
    use lynk::auth::{
        credential::{PresentedCredential, RequestedOrganization},
        verify::testing::{authenticate_through_pool, inline_statements},
    };

    let app = spawn_app().await;
    // The server's own verifier, and the pool alone.
    let own = app.verifier.clone();

    let (_, expired) = app.admin_personal_token(days_from_now(-1)).await;
    let (revoked_id, revoked) = app.admin_personal_token(days_from_now(5)).await;
    app.execute(
        "UPDATE token SET revoked_at = $1 WHERE id = $2",
        vec![Utc::now().into(), revoked_id.into()],
    )
    .await;
    let (_, service) = app.service_token("viewer").await;
    let session = app.admin_session().await;
    // A token with a `lastUsedAt` and `lastUsedIps`, as the server writes
    // them (behind the request: poll, bounded, until they land).
    let used = app.gql(Some(app.admin_token()), VERIFY, json!({})).await;
    assert_eq!(used.status, StatusCode::OK, "{}", used.text);
    for _ in 0..100 {
        let answer = app
            .gql(
                Some(app.admin_token()),
                "{ viewer { token { lastUsedAt } } }",
                json!({}),
            )
            .await;
        if answer.body["data"]["viewer"]["token"]["lastUsedAt"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let unknown = token_format::generate(CredentialKind::Personal);
    let other_organization = app.other_organization("Globex", "admin@globex.test").await;

    let cases = [
        (app.admin_token(), RequestedOrganization::Default),
        (expired.as_str(), RequestedOrganization::Default),
        (revoked.as_str(), RequestedOrganization::Default),
        (service.as_str(), RequestedOrganization::Default),
        (session.as_str(), RequestedOrganization::Default),
        (
            session.as_str(),
            RequestedOrganization::Id(app.admin.organization.id),
        ),
        (
            session.as_str(),
            RequestedOrganization::Id(other_organization.organization.id),
        ),
        (unknown.secret.expose(), RequestedOrganization::Default),
        ("lynk_live_not-a-token", RequestedOrganization::Default),
    ];
    let now = Utc::now();
    let mut verified = 0;
    let inline_before = inline_statements();
    for (token, requested) in cases {
        let presented = PresentedCredential::Candidate(token);
        let a = own
            .authenticate(presented, requested, now)
            .await
            .expect("the server's verification");
        let b = authenticate_through_pool(&app.db, presented, requested, now)
            .await
            .expect("pool verification");
        assert_eq!(a, b, "{requested:?}");
        verified += usize::from(a.is_ok());
    }
    // The admin's (used) token, the service token, and the session in its
    // own organization, by default and by id.
    assert_eq!(verified, 4);
    // On a SQLite file the server's ran inline: every well-formed token
    // (all but the last case) was looked up there, not on the pool.
    let inline = inline_statements() - inline_before;
    let expected = if app.database.sqlite_path.is_some() {
        8
    } else {
        0
    };
    assert_eq!(inline, expected);
}

/// `vfs=unix-excl` in a SQLite URL (README, Deploying): the server keeps the
/// file to itself, and the locks between its own connections stay in
/// memory. The inline verifier opens the file through the same VFS, so it
/// sees what the pool just committed, a new token and a revocation alike;
/// another process cannot open the file meanwhile, and is told why.
#[tokio::test]
async fn an_exclusive_sqlite_file_verifies_inline_and_keeps_other_processes_out() {
    use lynk::auth::verify::testing::inline_statements;

    let app = spawn_app_with(|config| {
        if config.database.database_url.starts_with("sqlite:") {
            config.database.database_url.push_str("&vfs=unix-excl");
        }
    })
    .await;
    if app.database.sqlite_path.is_none() {
        // A VFS is SQLite's; PostgreSQL has no such setting.
        return;
    }
    let verify = |token: String| {
        let app = &app;
        async move { app.gql(Some(&token), VERIFY, json!({})).await }
    };
    let inline_before = inline_statements();
    let answer = verify(app.admin_token().to_owned()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    assert_eq!(inline_statements() - inline_before, 1, "verified inline");

    // Written through the pool, read inline at once.
    let (id, secret) = app.admin_personal_token(days_from_now(1)).await;
    let answer = verify(secret.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let revoked = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(revoked.body["data"]["revokeToken"]["status"], "REVOKED");
    assert_unauthorized(&verify(secret).await, true);

    // Another process, without the VFS, waits out its acquire timeout.
    let plain_url = app.database.url.clone();
    let output = lynk_binary()
        .args(["migrate", "--database-url", &plain_url])
        .env("LYNK_DB_ACQUIRE_TIMEOUT", "1s")
        .output()
        .expect("run lynk migrate");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not open the SQLite database within 1s")
            && stderr.contains("vfs=unix-excl"),
        "{stderr}"
    );
}

/// Many verifications at once on a small pool: every one succeeds, and
/// the server never opens more than `--db-max-connections`.
#[tokio::test]
async fn concurrent_verifications_stay_within_the_pool() {
    use futures_util::future::join_all;

    let app = spawn_app_with(|c| c.database.db_max_connections = 4).await;
    for _ in 0..4 {
        let answers = join_all((0..16).map(|_| {
            app.gql(
                Some(app.admin_token()),
                "{ organization { name } }",
                json!({}),
            )
        }))
        .await;
        for answer in answers {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
        }
    }
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The verifier's own connections are part of the limit.
        let pool = app.db.get_postgres_connection_pool();
        assert!(app.verifier.held_connections() >= 1);
        assert!(pool.size() as usize + app.verifier.held_connections() <= 4);
    } else {
        assert!(app.db.get_sqlite_connection_pool().size() <= 4);
    }
}

/// graphql-js's `getIntrospectionQuery()` with every option on
/// (descriptions, specifiedByUrl, directiveIsRepeatable,
/// schemaDescription, inputValueDeprecation): what GraphiQL, Apollo,
/// GraphQL Code Generator and Python's `gql` send.
const STANDARD_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn the_standard_introspection_query_works() {
    let app = spawn_app().await;
    let answer = app
        .gql(Some(app.admin_token()), STANDARD_INTROSPECTION, Value::Null)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    let types = answer.body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Token"));
    // Still only for a caller with a credential.
    let answer = app.gql(None, STANDARD_INTROSPECTION, Value::Null).await;
    assert_unauthorized(&answer, false);
    // The depth limit still holds for anything that is not only
    // introspection.
    let fragments =
        &STANDARD_INTROSPECTION[STANDARD_INTROSPECTION.find("fragment FullType").unwrap()..];
    let mixed = format!(
        "query {{ organization {{ id }} __schema {{ types {{ ...FullType }} }} }} {fragments}"
    );
    let answer = app.gql(Some(app.admin_token()), &mixed, Value::Null).await;
    assert_eq!(
        answer.body["errors"][0]["message"], "Query is nested too deep.",
        "{}",
        answer.text
    );
}
