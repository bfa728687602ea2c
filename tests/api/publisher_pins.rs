//! Trusted publishing, second generation (docs/DESIGN.md §9): claim
//! conditions, ids pinned on first use (a re-created repository with the
//! same name cannot inherit a publisher), the exchanged token's lifetime,
//! `lastExchangedAt`, `updateTrustedPublisher` and `explainOidcExchange`.
//! The issuer is the test's own on loopback (`trusted_publishing.rs`), so
//! claims are forged freely.

use async_graphql::futures_util::future::join_all;
use chrono::{DateTime, Utc};
use lynk::{
    auth::{CredentialKind, PermissionSet, project_scope::ProjectScope},
    service::token::NewToken,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{Answer, TestApp, assert_unauthorized},
    trusted_publishing::{
        SUBJECT, SigningKey, TestIssuer, exchange, exchange_ok, spawn_lynk, trust, with,
    },
};

const FIELDS: &str = "id subject audience tokenLifetimeSeconds pinIds lastExchangedAt
    conditions { claim equals prefix oneOf } pinnedClaims { claim value } role { name }";

const UPDATE: &str = "mutation($id: ID!, $input: UpdateTrustedPublisherInput!) {
  updateTrustedPublisher(id: $id, input: $input) {
    id subject audience tokenLifetimeSeconds pinIds lastExchangedAt
    conditions { claim equals prefix oneOf } pinnedClaims { claim value } role { name }
  }
}";

const EXPLAIN: &str = "query($token: String!) { explainOidcExchange(token: $token) {
  matched reasons publisher { id subject }
} }";

/// The claims of a job on GitHub's `acme/shop-api`, repository id 1001,
/// owner id 501.
fn github(issuer: &TestIssuer) -> Value {
    varied(
        issuer.claims(),
        json!({ "repository_id": "1001", "repository_owner_id": "501" }),
    )
}

/// `claims` with some fields replaced and a `jti` of its own (each
/// identity token is exchanged once).
fn varied(claims: Value, changes: Value) -> Value {
    with(
        with(claims, changes),
        json!({ "jti": Uuid::new_v4().to_string() }),
    )
}

/// The admin's `createTrustedPublisher` input for `project`, with `extra`.
async fn input(app: &TestApp, project: &str, issuer: &str, extra: Value) -> Value {
    with(
        json!({
            "projectId": project,
            "issuer": issuer,
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": app.role_id("uploader").await.to_string(),
        }),
        extra,
    )
}

/// Creates a publisher as the admin and returns it.
async fn create(app: &TestApp, input: Value) -> Value {
    let answer = app
        .gql(
            Some(app.admin_token()),
            &format!(
                "mutation($input: CreateTrustedPublisherInput!) {{ createTrustedPublisher(input: $input) {{ {FIELDS} }} }}"
            ),
            json!({ "input": input }),
        )
        .await;
    let publisher = &answer.body["data"]["createTrustedPublisher"];
    assert!(publisher["id"].is_string(), "{}", answer.text);
    publisher.clone()
}

/// A publisher as `Project.trustedPublishers` shows it.
async fn read(app: &TestApp, project: &str, id: &str) -> Value {
    let answer = app
        .gql(
            Some(app.admin_token()),
            &format!(
                "query($id: ID!) {{ project(id: $id) {{ trustedPublishers {{ {FIELDS} }} }} }}"
            ),
            json!({ "id": project }),
        )
        .await;
    answer.body["data"]["project"]["trustedPublishers"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no publisher {id}: {}", answer.text))
        .clone()
}

/// The organization's audit records of `action`, newest first.
async fn audited(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    let answer = app
        .gql(
            Some(token),
            "query($action: String!) { organization { auditEvents(action: $action) { edges { node {
                 action targetType targetId detail actorUser { id } } } } } }",
            json!({ "action": action }),
        )
        .await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

fn detail(event: &Value) -> Value {
    serde_json::from_str(event["detail"].as_str().expect("a detail")).expect("JSON detail")
}

async fn update(app: &TestApp, token: &str, id: &str, input: Value) -> Answer {
    app.gql(Some(token), UPDATE, json!({ "id": id, "input": input }))
        .await
}

async fn explain(app: &TestApp, token: &str, identity: &str) -> Answer {
    app.gql(Some(token), EXPLAIN, json!({ "token": identity }))
        .await
}

#[tokio::test]
async fn a_recreated_repository_with_the_same_name_is_refused_and_audited() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let publisher = create(&app, input(&app, &project, issuer.url(), json!({})).await).await;
    let id = publisher["id"].as_str().unwrap().to_owned();
    assert_eq!(publisher["pinIds"], true, "pins by default");
    assert_eq!(publisher["pinnedClaims"], json!([]));
    assert_eq!(publisher["lastExchangedAt"], Value::Null);
    assert_eq!(publisher["tokenLifetimeSeconds"], 900);

    // The first exchange pins the ids the token carries, audited.
    exchange_ok(&app, &project, &key.sign(&github(&issuer))).await;
    let seen = read(&app, &project, &id).await;
    assert_eq!(
        seen["pinnedClaims"],
        json!([{"claim": "repository_id", "value": "1001"},
               {"claim": "repository_owner_id", "value": "501"}])
    );
    let last: DateTime<Utc> = seen["lastExchangedAt"].as_str().unwrap().parse().unwrap();
    assert!((Utc::now() - last).num_seconds() < 30, "{last}");
    let pinned = audited(&app, app.admin_token(), "trusted_publisher.pinned").await;
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0]["targetType"], "trusted_publisher");
    assert_eq!(pinned[0]["targetId"], id.as_str());
    assert_eq!(
        detail(&pinned[0])["pinnedClaims"],
        json!([{"claim": "repository_id", "value": "1001"},
               {"claim": "repository_owner_id", "value": "501"}])
    );
    // The same repository again: fine, and nothing new is pinned.
    exchange_ok(&app, &project, &key.sign(&github(&issuer))).await;
    assert_eq!(
        audited(&app, app.admin_token(), "trusted_publisher.pinned")
            .await
            .len(),
        1
    );

    // The repository deleted and re-created under the same name: the
    // same `sub`, `repository`, workflow, but another id.
    let recreated = key.sign(&varied(github(&issuer), json!({ "repository_id": "2002" })));
    let refused = exchange(&app, &project, &recreated).await;
    assert_unauthorized(&refused, false);
    // The bare 401, byte for byte what any other failure answers.
    let garbage = exchange(&app, &project, "not.a.jwt").await;
    assert_eq!(refused.text, garbage.text);
    assert_eq!(
        refused.headers.get("www-authenticate"),
        garbage.headers.get("www-authenticate")
    );
    // An owner re-registered under the old name, and a token without the id.
    let new_owner = key.sign(&varied(
        github(&issuer),
        json!({ "repository_owner_id": "999" }),
    ));
    assert_unauthorized(&exchange(&app, &project, &new_owner).await, false);
    let mut without = github(&issuer);
    without.as_object_mut().unwrap().remove("repository_id");
    assert_unauthorized(&exchange(&app, &project, &key.sign(&without)).await, false);

    let refusals = audited(&app, app.admin_token(), "token.exchange_refused").await;
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert_eq!(refusals[0]["targetType"], "trusted_publisher");
    assert_eq!(refusals[0]["targetId"], id.as_str());
    // Newest first: the token without the id, the new owner, the re-created repository.
    let reasons: Vec<Value> = refusals
        .iter()
        .map(|r| detail(r)["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        vec![
            json!("pinned repository_id"),
            json!("pinned repository_owner_id"),
            json!("pinned repository_id"),
        ]
    );
    assert_eq!(detail(&refusals[0])["publisherId"], id.as_str());
    // A token that matches no publisher at all is not a pin refusal.
    let other_subject = key.sign(&varied(
        github(&issuer),
        json!({ "sub": "repo:evil/x:ref:main" }),
    ));
    assert_unauthorized(&exchange(&app, &project, &other_subject).await, false);
    assert_eq!(
        audited(&app, app.admin_token(), "token.exchange_refused")
            .await
            .len(),
        3
    );

    // A publisher that does not pin accepts any id, and pins nothing.
    let loose_project = app.create_project("loose").await;
    let loose = create(
        &app,
        input(
            &app,
            &loose_project,
            issuer.url(),
            json!({ "pinIds": false }),
        )
        .await,
    )
    .await;
    assert_eq!(loose["pinIds"], false);
    exchange_ok(&app, &loose_project, &key.sign(&github(&issuer))).await;
    exchange_ok(&app, &loose_project, &recreated).await;
    let loose_id = loose["id"].as_str().unwrap();
    assert_eq!(
        read(&app, &loose_project, loose_id).await["pinnedClaims"],
        json!([])
    );
}

#[tokio::test]
async fn editing_the_identity_clears_pins_and_other_edits_keep_them() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let publisher = create(&app, input(&app, &project, issuer.url(), json!({})).await).await;
    let id = publisher["id"].as_str().unwrap().to_owned();
    exchange_ok(&app, &project, &key.sign(&github(&issuer))).await;
    let recreated = varied(github(&issuer), json!({ "repository_id": "2002" }));

    // Audience, lifetime, conditions and role keep the pins.
    let answer = update(
        &app,
        app.admin_token(),
        &id,
        json!({ "tokenLifetimeSeconds": 600, "conditions": [
            { "claim": "ref", "equals": "refs/heads/main" }
        ], "roleId": app.role_id("viewer").await.to_string() }),
    )
    .await;
    let updated = &answer.body["data"]["updateTrustedPublisher"];
    assert_eq!(updated["tokenLifetimeSeconds"], 600, "{}", answer.text);
    assert_eq!(updated["role"]["name"], "viewer");
    assert_eq!(
        updated["conditions"],
        json!([{"claim": "ref", "equals": "refs/heads/main", "prefix": null, "oneOf": null}])
    );
    assert_eq!(updated["pinnedClaims"].as_array().unwrap().len(), 2);
    assert_unauthorized(
        &exchange(&app, &project, &key.sign(&recreated)).await,
        false,
    );

    // A new subject names another identity: the pins go, and the next
    // exchange pins that identity's ids.
    let moved = "repo:acme/shop-api-v2:ref:refs/heads/main";
    let answer = update(&app, app.admin_token(), &id, json!({ "subject": moved })).await;
    assert_eq!(
        answer.body["data"]["updateTrustedPublisher"]["pinnedClaims"],
        json!([]),
        "{}",
        answer.text
    );
    let v2 = varied(recreated.clone(), json!({ "sub": moved }));
    exchange_ok(&app, &project, &key.sign(&v2)).await;
    assert_eq!(
        read(&app, &project, &id).await["pinnedClaims"][0],
        json!({"claim": "repository_id", "value": "2002"})
    );
    // `clearPins` forgets them explicitly (a repository moved for good).
    let answer = update(&app, app.admin_token(), &id, json!({ "clearPins": true })).await;
    assert_eq!(
        answer.body["data"]["updateTrustedPublisher"]["pinnedClaims"],
        json!([]),
        "{}",
        answer.text
    );
    let v3 = varied(v2.clone(), json!({ "repository_id": "3003" }));
    exchange_ok(&app, &project, &key.sign(&v3)).await;
    // `pinIds: false` clears them too, and keeps them cleared.
    let answer = update(&app, app.admin_token(), &id, json!({ "pinIds": false })).await;
    assert_eq!(
        answer.body["data"]["updateTrustedPublisher"]["pinnedClaims"],
        json!([])
    );
    exchange_ok(&app, &project, &key.sign(&varied(v2, json!({})))).await;
    assert_eq!(read(&app, &project, &id).await["pinnedClaims"], json!([]));
    let updates = audited(&app, app.admin_token(), "trusted_publisher.updated").await;
    assert_eq!(updates.len(), 4);
    let cleared: Vec<Value> = updates
        .iter()
        .map(|u| detail(u)["pinsCleared"].clone())
        .collect();
    assert_eq!(
        cleared,
        vec![json!(true), json!(true), json!(true), json!(false)]
    );

    // Bad input is refused with what is valid, and nothing changes.
    for (input, message) in [
        (
            json!({ "tokenLifetimeSeconds": 59 }),
            "tokenLifetimeSeconds must be between 60 and 21600",
        ),
        (json!({ "subject": "*" }), "subject `*` is refused"),
        (
            json!({ "conditions": [{ "claim": "ref" }] }),
            "conditions[0] must give exactly one of `equals`, `prefix` and `oneOf`",
        ),
    ] {
        let answer = update(&app, app.admin_token(), &id, input).await;
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
        let text = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
    }
    assert_eq!(read(&app, &project, &id).await["tokenLifetimeSeconds"], 600);
}

#[tokio::test]
async fn updating_a_publisher_grants_nothing_and_reaches_nothing_foreign() {
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let publisher = create(
        &app,
        with(
            input(
                &app,
                &project,
                "https://token.actions.githubusercontent.com",
                json!({}),
            )
            .await,
            json!({ "roleId": app.role_id("admin").await.to_string() }),
        ),
    )
    .await;
    let id = publisher["id"].as_str().unwrap().to_owned();
    let admin = app.admin_session().await;
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "ci keeper", "permissions": [
                "tokens:read", "tokens:write", "projects:read", "sboms:read", "sboms:write"
            ] } }),
        )
        .await;
    assert!(
        answer.body["data"]["createRole"]["id"].is_string(),
        "{}",
        answer.text
    );
    let keeper = app.add_member(&admin, "kim@acme.test", "ci keeper").await;
    // Loosening a publisher whose role the caller lacks would hand it out.
    let answer = update(
        &app,
        &keeper.session,
        &id,
        json!({ "subject": "repo:acme/shop-api:*" }),
    )
    .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(answer.body["data"], Value::Null);
    // Nor may anyone move a publisher to a role they lack.
    let mine = create(
        &app,
        input(
            &app,
            &project,
            "https://gitlab.com",
            json!({ "subject": "project_path:acme/shop:*" }),
        )
        .await,
    )
    .await;
    let mine_id = mine["id"].as_str().unwrap();
    let answer = update(
        &app,
        &keeper.session,
        mine_id,
        json!({ "roleId": app.role_id("admin").await.to_string() }),
    )
    .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    let answer = update(
        &app,
        &keeper.session,
        mine_id,
        json!({ "tokenLifetimeSeconds": 120 }),
    )
    .await;
    assert_eq!(
        answer.body["data"]["updateTrustedPublisher"]["tokenLifetimeSeconds"], 120,
        "{}",
        answer.text
    );
    // A viewer has no tokens:write; another organization finds nothing.
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let answer = update(&app, &viewer.session, mine_id, json!({ "clearPins": true })).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let answer = update(&app, &other.token, mine_id, json!({ "clearPins": true })).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["message"],
        "trusted publisher not found"
    );
    // The same identity as another publisher of the project: a conflict.
    let answer = update(
        &app,
        app.admin_token(),
        mine_id,
        json!({ "issuer": "https://token.actions.githubusercontent.com", "subject": SUBJECT }),
    )
    .await;
    assert_eq!(answer.error_code(), Some("CONFLICT"), "{}", answer.text);
}

#[tokio::test]
async fn every_condition_must_hold_and_a_missing_claim_fails() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let reusable = "acme/workflows/.github/workflows/sbom.yml@refs/tags/v1";
    let publisher = create(
        &app,
        input(
            &app,
            &project,
            issuer.url(),
            json!({ "pinIds": false, "conditions": [
                { "claim": "job_workflow_ref", "prefix": "acme/workflows/.github/workflows/sbom.yml@" },
                { "claim": "environment", "equals": "production" },
                { "claim": "ref", "oneOf": ["refs/heads/main", "refs/tags/v1"] },
            ] }),
        )
        .await,
    )
    .await;
    assert_eq!(
        publisher["conditions"],
        json!([
            { "claim": "job_workflow_ref", "equals": null, "prefix": "acme/workflows/.github/workflows/sbom.yml@", "oneOf": null },
            { "claim": "environment", "equals": "production", "prefix": null, "oneOf": null },
            { "claim": "ref", "equals": null, "prefix": null, "oneOf": ["refs/heads/main", "refs/tags/v1"] },
        ])
    );
    let good = varied(
        issuer.claims(),
        json!({ "job_workflow_ref": reusable, "environment": "production" }),
    );
    exchange_ok(&app, &project, &key.sign(&good)).await;
    exchange_ok(
        &app,
        &project,
        &key.sign(&varied(good.clone(), json!({ "ref": "refs/tags/v1" }))),
    )
    .await;
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("environment");
    for (claims, what) in [
        (missing, "a missing claim"),
        (
            varied(good.clone(), json!({ "environment": "staging" })),
            "equals",
        ),
        (
            varied(good.clone(), json!({ "environment": "production " })),
            "equals is exact",
        ),
        (
            varied(
                good.clone(),
                json!({ "job_workflow_ref": "evil/workflows/.github/workflows/sbom.yml@v1" }),
            ),
            "prefix",
        ),
        (
            varied(good.clone(), json!({ "ref": "refs/heads/dev" })),
            "oneOf",
        ),
        (
            varied(good.clone(), json!({ "environment": ["production"] })),
            "not text",
        ),
    ] {
        let answer = exchange(&app, &project, &key.sign(&claims)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.text
        );
        assert_unauthorized(&answer, false);
    }
}

#[tokio::test]
async fn a_condition_gives_exactly_one_test_and_lifetimes_are_a_minute_to_six_hours() {
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let github = "https://token.actions.githubusercontent.com";
    for (extra, message) in [
        (
            json!({ "conditions": [{ "claim": "ref", "equals": "a", "prefix": "b" }] }),
            "conditions[0] must give exactly one of `equals`, `prefix` and `oneOf` for claim `ref`",
        ),
        (
            json!({ "conditions": [{ "claim": "ref", "equals": "a" }, { "claim": "environment" }] }),
            "conditions[1] must give exactly one of `equals`, `prefix` and `oneOf` for claim `environment`",
        ),
        (
            json!({ "conditions": [{ "claim": "ref", "oneOf": [] }] }),
            "conditions[0].oneOf must hold 1 to 50 values (got 0)",
        ),
        (
            json!({ "conditions": [{ "claim": "aud", "equals": "x" }] }),
            "conditions[0].claim `aud` is checked by lynk itself",
        ),
        (
            json!({ "tokenLifetimeSeconds": 59 }),
            "tokenLifetimeSeconds must be between 60 and 21600 (1 minute to 6 hours; got 59)",
        ),
        (
            json!({ "tokenLifetimeSeconds": 21601 }),
            "tokenLifetimeSeconds must be between 60 and 21600 (1 minute to 6 hours; got 21601)",
        ),
    ] {
        let answer = trust(
            &app,
            app.admin_token(),
            input(&app, &project, github, extra).await,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.error_code(),
            Some("BAD_USER_INPUT"),
            "{}",
            answer.text
        );
        let text = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(text.starts_with(message), "{text}");
        assert_eq!(answer.body["data"], Value::Null);
    }
    // Nothing was stored; the bounds themselves are accepted.
    for (secs, subject) in [(60, "repo:acme/a:*"), (21600, "repo:acme/b:*")] {
        let publisher = create(
            &app,
            input(
                &app,
                &project,
                github,
                json!({ "tokenLifetimeSeconds": secs, "subject": subject }),
            )
            .await,
        )
        .await;
        assert_eq!(publisher["tokenLifetimeSeconds"], secs);
    }
    let answer = app
        .gql(
            Some(app.admin_token()),
            "query($id: ID!) { project(id: $id) { trustedPublishers { id } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(
        answer.body["data"]["project"]["trustedPublishers"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn an_exchanged_token_lives_its_publishers_lifetime_and_dies_then() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    create(
        &app,
        input(
            &app,
            &project,
            issuer.url(),
            json!({ "tokenLifetimeSeconds": 60 }),
        )
        .await,
    )
    .await;
    let before = Utc::now();
    let answer = exchange(&app, &project, &key.sign(&github(&issuer))).await;
    let created = &answer.body["data"]["exchangeOidcToken"];
    let secret = created["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let expires_at: DateTime<Utc> = created["token"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let lifetime = (expires_at - before).num_milliseconds();
    assert!((59_000..=61_000).contains(&lifetime), "{lifetime} ms");
    let me = "{ organization { id } }";
    let answer = app.gql(Some(&secret), me, Value::Null).await;
    assert!(
        answer.body["data"]["organization"]["id"].is_string(),
        "{}",
        answer.text
    );
    // Just past its expiresAt, it is dead.
    let wait =
        (expires_at - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_secs(1);
    tokio::time::sleep(wait).await;
    assert_unauthorized(&app.gql(Some(&secret), me, Value::Null).await, true);
}

#[tokio::test]
async fn explain_names_each_failed_check_and_creates_nothing() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let billing = app.create_project("billing").await;
    let exact = create(&app, input(&app, &project, issuer.url(), json!({})).await).await;
    let audience = create(
        &app,
        input(&app, &billing, issuer.url(), json!({ "audience": "other" })).await,
    )
    .await;
    let conditioned = create(
        &app,
        input(
            &app,
            &billing,
            issuer.url(),
            json!({ "conditions": [
            { "claim": "job_workflow_ref", "prefix": "acme/workflows/" },
            { "claim": "environment", "equals": "production" },
        ] }),
        )
        .await,
    )
    .await;
    let elsewhere = create(
        &app,
        input(
            &app,
            &project,
            "https://token.actions.githubusercontent.com",
            json!({}),
        )
        .await,
    )
    .await;
    // A publisher pinned to the repository's old id.
    let pinned_project = app.create_project("pinned").await;
    let pinned = create(
        &app,
        input(&app, &pinned_project, issuer.url(), json!({})).await,
    )
    .await;
    exchange_ok(
        &app,
        &pinned_project,
        &key.sign(&varied(github(&issuer), json!({ "repository_id": "7" }))),
    )
    .await;
    // Another organization's publisher of the same issuer never appears.
    let other = app.other_organization("Globex", "admin@globex.test").await;
    let answer = app
        .gql(
            Some(&other.token),
            r#"mutation { createProject(input: {name: "globex-api"}) { id } }"#,
            Value::Null,
        )
        .await;
    let foreign_project = answer.body["data"]["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = trust(
        &app,
        &other.token,
        json!({
            "projectId": foreign_project,
            "issuer": issuer.url(),
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": app.role_id_in(other.organization.id, "uploader").await.to_string(),
        }),
    )
    .await;
    let foreign_id = foreign.body["data"]["createTrustedPublisher"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let tokens_before = count_tokens(&app).await;
    let identity = key.sign(&github(&issuer));
    let answer = explain(&app, app.admin_token(), &identity).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let matches = answer.body["data"]["explainOidcExchange"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    let by_id = |id: &Value| {
        matches
            .iter()
            .find(|m| &m["publisher"]["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {}", answer.text))
            .clone()
    };
    assert_eq!(matches.len(), 4, "{}", answer.text);
    assert_eq!(by_id(&exact["id"])["matched"], true);
    assert_eq!(by_id(&exact["id"])["reasons"], json!([]));
    assert_eq!(by_id(&audience["id"])["reasons"], json!(["audience"]));
    assert_eq!(by_id(&audience["id"])["matched"], false);
    assert_eq!(
        by_id(&conditioned["id"])["reasons"],
        json!(["condition job_workflow_ref", "condition environment"])
    );
    assert_eq!(
        by_id(&pinned["id"])["reasons"],
        json!(["pinned repository_id"])
    );
    assert!(
        !answer.text.contains(elsewhere["id"].as_str().unwrap()),
        "other issuer"
    );
    assert!(!answer.text.contains(&foreign_id), "other organization");
    // It echoes neither the token nor any secret, and creates nothing.
    assert!(!answer.text.contains(&identity));
    assert!(!answer.text.contains(identity.rsplit('.').next().unwrap()));
    assert!(!answer.text.contains("lynk_"), "{}", answer.text);
    assert_eq!(count_tokens(&app).await, tokens_before);
    // Its jti was not spent: the same token still exchanges.
    exchange_ok(&app, &project, &identity).await;

    // An expired token and a wrong subject say so.
    let now = Utc::now().timestamp();
    let stale = key.sign(&varied(
        github(&issuer),
        json!({ "iat": now - 900, "nbf": now - 900, "exp": now - 300, "sub": "repo:acme/other:ref:refs/heads/main" }),
    ));
    let answer = explain(&app, app.admin_token(), &stale).await;
    let matches = answer.body["data"]["explainOidcExchange"]
        .as_array()
        .unwrap();
    assert_eq!(
        matches
            .iter()
            .find(|m| m["publisher"]["id"] == exact["id"])
            .unwrap()["reasons"],
        json!(["expired", "subject"])
    );
    // A signature that does not verify: nothing else is checked.
    let other_key = SigningKey::ec("ec-x");
    let forged = other_key.sign_as("rsa-1", &github(&issuer));
    let answer = explain(&app, app.admin_token(), &forged).await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
    assert!(!answer.text.contains(&forged));
    let answer = explain(&app, app.admin_token(), "garbage").await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    // The other organization sees only its own publisher.
    let answer = explain(&app, &other.token, &key.sign(&github(&issuer))).await;
    let theirs = answer.body["data"]["explainOidcExchange"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["publisher"]["id"], foreign_id.as_str());
    // Anonymous: the bare 401.
    let answer = app.gql(None, EXPLAIN, json!({ "token": identity })).await;
    assert_unauthorized(&answer, false);
}

async fn count_tokens(app: &TestApp) -> u64 {
    use lynk::entity::token;
    use sea_orm::{EntityTrait, PaginatorTrait};
    token::Entity::find()
        .count(&app.db)
        .await
        .expect("count tokens")
}

#[tokio::test]
async fn explain_needs_tokens_write_and_stays_within_reach() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let shop = app.create_project("shop-api").await;
    let billing = app.create_project("billing").await;
    let mine = create(&app, input(&app, &shop, issuer.url(), json!({})).await).await;
    create(&app, input(&app, &billing, issuer.url(), json!({})).await).await;
    let identity = key.sign(&github(&issuer));
    let admin = app.admin_session().await;

    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let (_, scoped) = app
        .create_personal_token(&admin, Some(vec!["tokens:read", "projects:read"]))
        .await;
    let (_, uploader) = app.service_token("uploader").await;
    for (who, token) in [
        ("a narrower role", viewer.session.as_str()),
        ("a token scoped without tokens:write", scoped.as_str()),
        ("a service token without it", uploader.as_str()),
    ] {
        let answer = explain(&app, token, &identity).await;
        assert_eq!(answer.status, StatusCode::OK, "{who}: {}", answer.text);
        assert_eq!(
            answer.error_code(),
            Some("FORBIDDEN"),
            "{who}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            "tokens:write"
        );
        assert_eq!(answer.body["data"], json!({ "explainOidcExchange": null }));
    }
    // A token restricted to shop-api sees shop-api's publisher only.
    let (_, restricted) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(app.admin.organization.id),
            name: "shop-api admin".into(),
            scopes: None::<PermissionSet>,
            role_id: Some(app.role_id("admin").await),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::Only(vec![shop.parse::<Uuid>().unwrap()]),
            expires_at: None,
        })
        .await;
    let answer = explain(&app, &restricted, &identity).await;
    let matches = answer.body["data"]["explainOidcExchange"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    assert_eq!(matches.len(), 1, "{}", answer.text);
    assert_eq!(matches[0]["publisher"]["id"], mine["id"]);
}

#[tokio::test]
async fn concurrent_first_exchanges_pin_once() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let publisher = create(&app, input(&app, &project, issuer.url(), json!({})).await).await;
    let id = publisher["id"].as_str().unwrap().to_owned();
    // Warm the key cache, so that the exchanges below race on the pin.
    let warm = explain(&app, app.admin_token(), &key.sign(&github(&issuer))).await;
    assert!(
        warm.body["data"]["explainOidcExchange"].is_array(),
        "{}",
        warm.text
    );

    // Eight first exchanges of one repository at once: all succeed, one pins.
    let same: Vec<String> = (0..8).map(|_| key.sign(&github(&issuer))).collect();
    let answers = join_all(same.iter().map(|t| exchange(&app, &project, t))).await;
    for answer in &answers {
        assert!(
            answer.body["data"]["exchangeOidcToken"]["secret"].is_string(),
            "{}",
            answer.text
        );
    }
    let pins = audited(&app, app.admin_token(), "trusted_publisher.pinned").await;
    assert_eq!(pins.len(), 1, "{pins:?}");

    // On a fresh publisher, two repositories of one name racing for the
    // first exchange: exactly one pins and is served, the other is refused.
    let raced_project = app.create_project("raced").await;
    let raced = create(
        &app,
        input(&app, &raced_project, issuer.url(), json!({})).await,
    )
    .await;
    let contenders: Vec<String> = (0..6)
        .map(|i| {
            key.sign(&varied(
                github(&issuer),
                json!({ "repository_id": if i % 2 == 0 { "1001" } else { "2002" } }),
            ))
        })
        .collect();
    let answers = join_all(contenders.iter().map(|t| exchange(&app, &raced_project, t))).await;
    let served: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| a.status == StatusCode::OK)
        .map(|(i, _)| i % 2)
        .collect();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(served.len() + refused, 6);
    assert_eq!(
        served.len(),
        3,
        "one repository's three exchanges are served"
    );
    assert!(served.iter().all(|side| *side == served[0]), "{served:?}");
    let pins = audited(&app, app.admin_token(), "trusted_publisher.pinned").await;
    assert_eq!(pins.len(), 2, "one more pin: {pins:?}");
    let winner = if served[0] == 0 { "1001" } else { "2002" };
    let raced_id = raced["id"].as_str().unwrap();
    assert_eq!(
        read(&app, &raced_project, raced_id).await["pinnedClaims"][0]["value"],
        winner
    );
    assert_eq!(
        read(&app, &project, &id).await["pinnedClaims"][0]["value"],
        "1001"
    );
    let refusals = audited(&app, app.admin_token(), "token.exchange_refused").await;
    assert_eq!(refusals.len(), 3);
}

#[tokio::test]
async fn no_identity_token_is_stored() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let Some(path) = app.database.sqlite_path.clone() else {
        return; // The bytes searched are SQLite's file.
    };
    let project = app.create_project("shop-api").await;
    create(&app, input(&app, &project, issuer.url(), json!({})).await).await;
    let served = key.sign(&github(&issuer));
    exchange_ok(&app, &project, &served).await;
    let refused = key.sign(&varied(github(&issuer), json!({ "repository_id": "2002" })));
    assert_unauthorized(&exchange(&app, &project, &refused).await, false);
    explain(&app, app.admin_token(), &served).await;
    // Everything written is in the file (and its WAL).
    app.execute("PRAGMA wal_checkpoint(TRUNCATE)", vec![]).await;
    let mut bytes = std::fs::read(&path).expect("the database file");
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    for jwt in [&served, &refused] {
        for part in std::iter::once(jwt.as_str()).chain(jwt.split('.')) {
            let found = bytes.windows(part.len()).any(|w| w == part.as_bytes());
            assert!(!found, "a part of an identity token is stored: {part}");
        }
    }
    // The search would find what is there: the pinned id is stored.
    assert!(bytes.windows(4).any(|w| w == b"1001"));
}
