//! The token lifecycle: personal and service tokens, revocation, rotation,
//! listing, last use.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_unauthorized, days_from_now, spawn_app};

const CREATE_PERSONAL: &str = "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { token { id name kind status hint scopes expiresAt owner { email } } secret } }";
const CREATE_SERVICE: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id name kind role { name } owner { email } createdBy { email } expiresAt } secret } }";
const VERIFY: &str = "{ organization { id } }";

#[tokio::test]
async fn a_session_creates_a_personal_token_shown_once() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let answer = app
        .gql(
            Some(&session),
            CREATE_PERSONAL,
            json!({"input": {"name": "laptop", "expiresAt": days_from_now(30).to_rfc3339()}}),
        )
        .await;
    let created = &answer.body["data"]["createPersonalToken"];
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("lynk_live_") && secret.len() == 46);
    assert_eq!(created["token"]["kind"], "PERSONAL");
    assert_eq!(created["token"]["status"], "ACTIVE");
    assert_eq!(created["token"]["scopes"], Value::Null);
    assert_eq!(created["token"]["owner"]["email"], "admin@acme.test");
    // The token object itself never carries the secret.
    assert!(!created["token"].to_string().contains(&secret[10..]));
    let answer = app.gql(Some(secret), VERIFY, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK);
    // Listed among the user's own tokens, without the secret.
    let answer = app
        .gql(
            Some(&session),
            "{ viewer { personalTokens { edges { node { name } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["personalTokens"]["edges"],
        json!([{"node": {"name": "bootstrap"}}, {"node": {"name": "laptop"}}])
    );
    assert!(!answer.text.contains(secret));
}

#[tokio::test]
async fn a_token_cannot_mint_personal_tokens() {
    let app = spawn_app().await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            CREATE_PERSONAL,
            json!({"input": {"name": "x", "expiresAt": days_from_now(1).to_rfc3339()}}),
        )
        .await;
    answer.assert_error_exact(
        "FORBIDDEN",
        "Forbidden: personal tokens can only be created with a session (sign in with login)",
    );
}

#[tokio::test]
async fn personal_token_expiry_follows_the_policy() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    for (expires, fragment) in [
        (days_from_now(-1), "expiresAt must be in the future"),
        (days_from_now(367), "at most 366 days from now"),
    ] {
        let answer = app
            .gql(
                Some(&session),
                CREATE_PERSONAL,
                json!({"input": {"name": "x", "expiresAt": expires.to_rfc3339()}}),
            )
            .await;
        answer.assert_error("BAD_USER_INPUT", fragment);
    }
    let answer = app
        .gql(
            Some(&session),
            CREATE_PERSONAL,
            json!({"input": {"name": "  ", "expiresAt": days_from_now(1).to_rfc3339()}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn scopes_narrow_a_personal_token_and_cannot_escalate() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (_, scoped) = app
        .create_personal_token(&admin, Some(vec!["projects:read"]))
        .await;
    let answer = app
        .gql(
            Some(&scoped),
            "{ viewer { permissions token { scopes } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"],
        json!({"permissions": ["projects:read"], "token": {"scopes": ["projects:read"]}})
    );
    let answer = app
        .gql(
            Some(&scoped),
            "{ organization { roles { name } } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "roles:read"
    );

    let answer = app
        .gql(
            Some(&admin),
            CREATE_PERSONAL,
            json!({"input": {"name": "x", "expiresAt": days_from_now(1).to_rfc3339(), "scopes": ["projects:fly"]}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    let message = answer.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with(
        "unknown permission `projects:fly`; valid permissions are: organization:write"
    ));

    // A viewer cannot scope a token beyond its role.
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let answer = app
        .gql(
            Some(&viewer.session),
            CREATE_PERSONAL,
            json!({"input": {"name": "x", "expiresAt": days_from_now(1).to_rfc3339(), "scopes": ["tokens:write"]}}),
        )
        .await;
    answer.assert_error_exact(
        "FORBIDDEN",
        "Forbidden: you cannot grant permissions you do not hold: tokens:write",
    );
}

#[tokio::test]
async fn service_tokens_carry_a_role_and_cannot_escalate() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let uploader = app.role_id("uploader").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            CREATE_SERVICE,
            json!({"input": {"name": "ci", "roleId": uploader.to_string()}}),
        )
        .await;
    let created = &answer.body["data"]["createServiceToken"];
    assert_eq!(created["token"]["kind"], "SERVICE");
    assert_eq!(created["token"]["role"]["name"], "uploader");
    assert_eq!(created["token"]["owner"], Value::Null);
    assert_eq!(created["token"]["createdBy"]["email"], "admin@acme.test");
    assert_eq!(created["token"]["expiresAt"], Value::Null);
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("lynk_service_live_"));
    let answer = app
        .gql(Some(secret), "{ viewer { permissions } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["permissions"],
        json!(["projects:read", "sboms:read", "sboms:write"])
    );

    // A custom role with tokens:write but not audit:read cannot hand out admin.
    let role = app
        .gql(
            Some(&admin),
            r#"mutation { createRole(input: {name: "token-clerk", permissions: ["tokens:read", "tokens:write", "projects:read"]}) { id } }"#,
            Value::Null,
        )
        .await;
    assert!(
        role.body["data"]["createRole"]["id"].is_string(),
        "{}",
        role.text
    );
    let clerk = app
        .add_member(&admin, "clerk@acme.test", "token-clerk")
        .await;
    let admin_role = app.role_id("admin").await;
    let answer = app
        .gql(
            Some(&clerk.session),
            CREATE_SERVICE,
            json!({"input": {"name": "root", "roleId": admin_role.to_string()}}),
        )
        .await;
    answer.assert_error("FORBIDDEN", "organization:write");
    // ...but it may hand out what it holds.
    let viewer_role = app.role_id("viewer").await;
    let answer = app
        .gql(
            Some(&clerk.session),
            CREATE_SERVICE,
            json!({"input": {"name": "read-only", "roleId": viewer_role.to_string()}}),
        )
        .await;
    assert_eq!(
        answer.error_code(),
        Some("FORBIDDEN"),
        "viewer has members:read"
    );

    // Unknown or foreign role ids are NOT_FOUND; past expiry is bad input.
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let foreign_role = app.role_id_in(other.organization.id, "viewer").await;
    for role_id in [foreign_role.to_string(), "nope".to_owned()] {
        let answer = app
            .gql(
                Some(app.admin_token()),
                CREATE_SERVICE,
                json!({"input": {"name": "x", "roleId": role_id}}),
            )
            .await;
        assert_eq!(answer.error_code(), Some("NOT_FOUND"));
    }
    let answer = app
        .gql(
            Some(app.admin_token()),
            CREATE_SERVICE,
            json!({"input": {"name": "x", "roleId": uploader.to_string(), "expiresAt": days_from_now(-1).to_rfc3339()}}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn revocation_applies_to_the_next_request() {
    let app = spawn_app().await;
    let (id, token) = app.service_token("uploader").await;
    assert_eq!(
        app.gql(Some(&token), VERIFY, Value::Null).await.status,
        StatusCode::OK
    );
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($id: ID!) { revokeToken(id: $id) { status revokedAt } }",
            json!({"id": id.to_string()}),
        )
        .await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert!(answer.body["data"]["revokeToken"]["revokedAt"].is_string());
    assert_unauthorized(&app.gql(Some(&token), VERIFY, Value::Null).await, true);
}

#[tokio::test]
async fn users_revoke_their_own_tokens_but_not_others() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let (own_id, own) = app.create_personal_token(&viewer.session, None).await;
    let (service_id, _) = app.service_token("uploader").await;
    let revoke = "mutation($id: ID!) { revokeToken(id: $id) { id status } }";
    let answer = app
        .gql(
            Some(&viewer.session),
            revoke,
            json!({"id": service_id.to_string()}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"));
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:write"
    );
    let answer = app.gql(Some(&own), revoke, json!({"id": own_id})).await;
    assert_eq!(answer.body["data"]["revokeToken"]["status"], "REVOKED");
    assert_unauthorized(&app.gql(Some(&own), VERIFY, Value::Null).await, true);
}

#[tokio::test]
async fn rotation_kills_the_old_secret_and_keeps_the_rest() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (id, old) = app
        .create_personal_token(&admin, Some(vec!["projects:read", "sboms:read"]))
        .await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { rotateToken(id: $id) { token { id name kind scopes status expiresAt } secret } }",
            json!({"id": id}),
        )
        .await;
    let rotated = &answer.body["data"]["rotateToken"];
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    assert_ne!(rotated["token"]["id"], id.as_str());
    assert_eq!(rotated["token"]["name"], "laptop");
    assert_eq!(
        rotated["token"]["scopes"],
        json!(["projects:read", "sboms:read"])
    );
    assert_unauthorized(&app.gql(Some(&old), VERIFY, Value::Null).await, true);
    let answer = app
        .gql(Some(new), "{ viewer { permissions } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["permissions"],
        json!(["projects:read", "sboms:read"])
    );
    // The old one is revoked now and cannot be rotated again.
    let answer = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn listing_filters_by_kind_and_status_and_shows_last_use() {
    let app = spawn_app().await;
    let (revoked_id, _) = app.service_token("viewer").await;
    let (_, used) = app.service_token("uploader").await;
    app.admin_personal_token(days_from_now(-1)).await;
    app.gql(
        Some(app.admin_token()),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": revoked_id.to_string()}),
    )
    .await;
    app.gql(Some(&used), VERIFY, Value::Null).await;
    let list = |filter: &str| {
        format!(
            "{{ organization {{ tokens({filter}) {{ edges {{ node {{ name kind status lastUsedAt }} }} pageInfo {{ hasNextPage }} }} }} }}"
        )
    };
    // lastUsedAt is written off the request path: poll (bounded) until it lands.
    let mut answer = app
        .gql(Some(app.admin_token()), &list("kind: SERVICE"), Value::Null)
        .await;
    for _ in 0..100 {
        if answer.body["data"]["organization"]["tokens"]["edges"][1]["node"]["lastUsedAt"]
            .is_string()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = app
            .gql(Some(app.admin_token()), &list("kind: SERVICE"), Value::Null)
            .await;
    }
    let edges = answer.body["data"]["organization"]["tokens"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 2, "{}", answer.text);
    assert_eq!(edges[0]["node"]["status"], "REVOKED");
    assert_eq!(edges[1]["node"]["name"], "uploader pipeline");
    assert!(
        edges[1]["node"]["lastUsedAt"].is_string(),
        "{}",
        answer.text
    );
    for (status, count) in [("ACTIVE", 2), ("EXPIRED", 1), ("REVOKED", 1)] {
        let answer = app
            .gql(
                Some(app.admin_token()),
                &list(&format!("status: {status}")),
                Value::Null,
            )
            .await;
        assert_eq!(
            answer.body["data"]["organization"]["tokens"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            count,
            "{status}: {}",
            answer.text
        );
    }
    // Pagination.
    let answer = app
        .gql(Some(app.admin_token()), &list("first: 1"), Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["tokens"]["pageInfo"]["hasNextPage"],
        true
    );
    let answer = app
        .gql(Some(app.admin_token()), &list("first: 1000"), Value::Null)
        .await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn foreign_token_ids_are_not_found() {
    let app = spawn_app().await;
    let other = app.other_organization("Globex", "boss@globex.test").await;
    let answer = app
        .gql(
            Some(&other.token),
            "{ viewer { token { id } } }",
            Value::Null,
        )
        .await;
    let foreign = answer.body["data"]["viewer"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for query in [
        "query($id: ID!) { token(id: $id) { id } }",
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
    ] {
        let answer = app
            .gql(Some(app.admin_token()), query, json!({"id": foreign}))
            .await;
        assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{query}");
    }
    // Still alive.
    assert_eq!(
        app.gql(Some(&other.token), VERIFY, Value::Null)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_lists_filter_by_name_with_wildcards_taken_literally() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let role = app.role_id("uploader").await.to_string();
    for name in ["Deploy_Prod", "deployXprod", "100% coverage", "nightly"] {
        let answer = app
            .gql(
                Some(&session),
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
                json!({"input": {"name": name, "roleId": role}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let names = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["data"]["organization"]["tokens"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", answer.text))
            .iter()
            .map(|node| node["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let query = "query($text: String) { organization { tokens(kind: SERVICE, nameContains: $text) { nodes { name } } } }";
    // `_` and `%` are letters here, not wildcards; case does not matter.
    let answer = app
        .gql(Some(&session), query, json!({"text": "DEPLOY_"}))
        .await;
    assert_eq!(names(&answer), ["Deploy_Prod"]);
    let answer = app.gql(Some(&session), query, json!({"text": "0%"})).await;
    assert_eq!(names(&answer), ["100% coverage"]);
    let answer = app
        .gql(Some(&session), query, json!({"text": "prod"}))
        .await;
    assert_eq!(names(&answer), ["Deploy_Prod", "deployXprod"]);
    let answer = app.gql(Some(&session), query, json!({"text": "zzz"})).await;
    assert_eq!(names(&answer), Vec::<String>::new());

    // The personal list takes the same filter.
    let answer = app
        .gql(
            Some(&session),
            "{ viewer { personalTokens(nameContains: \"BOOT\") { nodes { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["personalTokens"]["nodes"],
        json!([{"name": "bootstrap"}])
    );

    // A filter longer than any name is refused, naming the limit.
    let answer = app
        .gql(Some(&session), query, json!({"text": "x".repeat(101)}))
        .await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "nameContains is longer than a token name can be: at most 100 characters",
    );
    assert_eq!(answer.body["data"]["organization"]["tokens"], Value::Null);
}
