//! Trusted publishing scoped to one project (docs/DESIGN.md §3.7): an exchange names
//! its project and is matched only against that project's publishers;
//! wildcard subjects must name a repository; an identity token is
//! exchanged once and lives at most 6 hours; only the issuers a publisher
//! of the named project names are fetched, at public addresses, without
//! redirects to another host. The issuer and its keys are the test's own
//! (`trusted_publishing.rs`).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Json, Router,
    http::{StatusCode as HttpStatus, header},
    response::IntoResponse,
    routing::get,
};
use chrono::Utc;
use lynk::entity::trusted_publisher;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, assert_unauthorized, captured_logs, spawn_app},
    trusted_publishing::{
        SUBJECT, SigningKey, TestIssuer, exchange, exchange_ok, spawn_lynk, trust, trust_ok, with,
    },
};

/// The reason lynk logged for refusing the exchange that got `answer`.
fn refusal_reason(answer: &crate::helpers::Answer) -> String {
    let request_id = answer.headers["x-request-id"].to_str().unwrap();
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|line| line.contains(request_id) && line.contains("OIDC token exchange refused"))
        .unwrap_or_else(|| panic!("no refusal logged for {request_id}"));
    let start = line.find("reason=\"").expect("a reason") + "reason=\"".len();
    line[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Asserts the bare 401 and the reason lynk logged for it.
#[track_caller]
fn assert_refused(answer: &crate::helpers::Answer, reason: &str) {
    assert_unauthorized(answer, false);
    assert_eq!(refusal_reason(answer), reason, "{}", answer.text);
}

async fn create_project_as(app: &TestApp, token: &str, name: &str) -> String {
    let answer = app
        .gql(
            Some(token),
            "mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }",
            json!({ "input": { "name": name } }),
        )
        .await;
    answer.body["data"]["createProject"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createProject failed: {}", answer.text))
        .to_owned()
}

/// The `createTrustedPublisher` input for the admin's organization.
async fn input(app: &TestApp, project: &str, issuer: &str, subject: &str) -> Value {
    json!({
        "projectId": project,
        "issuer": issuer,
        "audience": "lynk",
        "subject": subject,
        "roleId": app.role_id("uploader").await.to_string(),
    })
}

#[tokio::test]
async fn an_exchange_is_matched_only_against_the_named_projects_publishers() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    // A squatter registers the victim's exact subject first, in its own
    // organization and project.
    let squatter = app
        .other_organization("Squatters", "admin@squat.test")
        .await;
    let squat = create_project_as(&app, &squatter.token, "squat").await;
    let answer = trust(
        &app,
        &squatter.token,
        json!({
            "projectId": squat,
            "issuer": issuer.url(),
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": app.role_id_in(squatter.organization.id, "admin").await.to_string(),
        }),
    )
    .await;
    assert!(
        answer.body["data"]["createTrustedPublisher"]["id"].is_string(),
        "{}",
        answer.text
    );
    let project = app.create_project("shop-api").await;
    let empty = app.create_project("no publishers").await;

    // Projects without a publisher of that issuer: nothing is fetched.
    for (project_id, reason) in [
        (Uuid::now_v7().to_string(), "unknown_issuer"),
        (empty.clone(), "unknown_issuer"),
        ("not-an-id".to_owned(), "bad_project_id"),
    ] {
        let answer = exchange(&app, &project_id, &key.sign(&issuer.claims())).await;
        assert_refused(&answer, reason);
    }
    assert_eq!(issuer.discovery_fetches(), 0, "no project, no fetch");

    // The victim's own publisher, newer than the squatter's.
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let answer = exchange(&app, &project, &key.sign(&issuer.claims())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let secret = answer.body["data"]["exchangeOidcToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    assert_eq!(
        answer.body["data"]["exchangeOidcToken"]["token"]["role"]["name"],
        "uploader"
    );
    let answer = app
        .gql(Some(&secret), "{ organization { name } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["name"], "Acme Corp",
        "{}",
        answer.text
    );
    // The squatter's audit log learned nothing of the victim's CI.
    let answer = app
        .gql(
            Some(&squatter.token),
            r#"{ organization { auditEvents(action: "token.exchanged") { edges { node { id } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"],
        json!([]),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_wildcard_subject_must_name_a_repository() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    let github = "https://token.actions.githubusercontent.com";
    for subject in [
        "*",
        "repo:*",
        "repo:acme*",
        "repo:acme/shop-api*",
        "repo:acme/shop-api:ref:refs/heads/*",
        "repo:*:ref:refs/heads/main",
        "repo:acme/**",
    ] {
        let answer = trust(
            &app,
            app.admin_token(),
            input(&app, &project, github, subject).await,
        )
        .await;
        answer.assert_error_exact(
            "BAD_USER_INPUT",
            &format!(
                "subject `{subject}` is refused: a subject is a token's `sub` exactly, or ends \
                 in `*` right after a `:` whose prefix names a repository (contains a `/`), \
                 e.g. `repo:acme/shop-api:*` or `project_path:acme/shop:*`"
            ),
        );
        assert_eq!(answer.body["data"], Value::Null);
    }
    for subject in [
        "repo:acme/shop-api:*",
        "project_path:acme/shop:*",
        "repo:acme/shop-api:ref:refs/heads/main",
        "repo:acme:environment:prod",
    ] {
        let answer = trust(
            &app,
            app.admin_token(),
            input(&app, &project, github, subject).await,
        )
        .await;
        assert_eq!(
            answer.body["data"]["createTrustedPublisher"]["subject"], subject,
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn a_stored_catch_all_subject_matches_nothing_but_itself() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    // A publisher saved before the subject rule: `repo:*`.
    trusted_publisher::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(app.admin.organization.id),
        project_id: Set(project.parse().unwrap()),
        issuer: Set(issuer.url().to_owned()),
        audience: Set("lynk".into()),
        subject: Set("repo:*".into()),
        role_id: Set(app.role_id("uploader").await),
        created_by_user_id: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("insert a publisher");
    let answer = exchange(&app, &project, &key.sign(&issuer.claims())).await;
    assert_refused(&answer, "no_matching_publisher");
}

#[tokio::test]
async fn a_project_has_at_most_50_publishers_even_under_concurrency() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    let github = "https://token.actions.githubusercontent.com";
    for i in 0..48 {
        let subject = format!("repo:acme/shop-api:environment:env-{i}");
        let answer = trust(
            &app,
            app.admin_token(),
            input(&app, &project, github, &subject).await,
        )
        .await;
        assert!(
            answer.body["data"]["createTrustedPublisher"]["id"].is_string(),
            "{}",
            answer.text
        );
    }
    // Four at once for the last two places.
    let mut inputs = Vec::new();
    for i in 48..52 {
        let subject = format!("repo:acme/shop-api:environment:env-{i}");
        inputs.push(input(&app, &project, github, &subject).await);
    }
    let answers = futures_util::future::join_all(
        inputs
            .into_iter()
            .map(|input| trust(&app, app.admin_token(), input)),
    )
    .await;
    let created = answers
        .iter()
        .filter(|a| a.body["data"]["createTrustedPublisher"]["id"].is_string())
        .count();
    assert_eq!(
        created,
        2,
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.error_code().is_some()) {
        refused.assert_error_exact(
            "CONFLICT",
            "this project already has 50 trusted publishers, the most it may have; delete one, \
             or use a subject ending in `:*` for several of one repository's jobs",
        );
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
            .map(Vec::len),
        Some(50),
        "{}",
        answer.text
    );
    // Another project has places of its own.
    let other = app.create_project("billing").await;
    let answer = trust(
        &app,
        app.admin_token(),
        input(&app, &other, github, "repo:acme/billing:*").await,
    )
    .await;
    assert!(
        answer.body["data"]["createTrustedPublisher"]["id"].is_string(),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn an_identity_token_is_exchanged_once() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;

    let identity = key.sign(&issuer.claims());
    exchange_ok(&app, &project, &identity).await;
    assert_refused(&exchange(&app, &project, &identity).await, "replayed");

    // Two exchanges of one token at once: exactly one token.
    let identity = key.sign(&issuer.claims());
    let (first, second) = tokio::join!(
        exchange(&app, &project, &identity),
        exchange(&app, &project, &identity)
    );
    let (won, lost) = if first.status == StatusCode::OK {
        (first, second)
    } else {
        (second, first)
    };
    assert!(
        won.body["data"]["exchangeOidcToken"]["secret"].is_string(),
        "{}",
        won.text
    );
    assert_refused(&lost, "replayed");
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "token.exchanged") { edges { node { id } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{}",
        answer.text
    );

    // A token without a `jti` cannot be held to once.
    let mut claims = issuer.claims();
    claims.as_object_mut().unwrap().remove("jti");
    assert_refused(
        &exchange(&app, &project, &key.sign(&claims)).await,
        "no_token_id",
    );
    // A failed exchange spends no `jti`: the same token works once fixed
    // elsewhere (here: the publisher it lacked).
    let other = issuer.claims();
    let staging = with(
        other,
        json!({"sub": "repo:acme/shop-api:environment:staging"}),
    );
    let identity = key.sign(&staging);
    assert_refused(
        &exchange(&app, &project, &identity).await,
        "no_matching_publisher",
    );
    trust_ok(
        &app,
        &project,
        issuer.url(),
        "repo:acme/shop-api:environment:staging",
        "uploader",
    )
    .await;
    exchange_ok(&app, &project, &identity).await;
}

#[tokio::test]
async fn an_identity_token_valid_for_more_than_6_hours_is_refused() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let now = Utc::now().timestamp();
    const SIX_HOURS: i64 = 6 * 3600;
    // Exactly six hours, from iat (and nbf): accepted.
    exchange_ok(
        &app,
        &project,
        &key.sign(&with(
            issuer.claims(),
            json!({"iat": now, "nbf": now, "exp": now + SIX_HOURS}),
        )),
    )
    .await;
    for (what, changes) in [
        (
            "a second more than six hours after iat",
            json!({"iat": now, "nbf": now, "exp": now + SIX_HOURS + 1}),
        ),
        (
            "ten years",
            json!({"iat": now, "nbf": now, "exp": now + 10 * 366 * 24 * 3600}),
        ),
        (
            "valid since long before iat",
            json!({"iat": now, "nbf": now - SIX_HOURS, "exp": now + 300}),
        ),
    ] {
        let answer = exchange(&app, &project, &key.sign(&with(issuer.claims(), changes))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_refused(&answer, "too_long_lived");
    }
}

/// A server on loopback answering every request with `router`, and
/// counting the requests it receives.
async fn counting_server(router: Router<Arc<AtomicUsize>>) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = router
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (port, hits)
}

/// An issuer's routes: `key` as a JWKS at `/jwks`, and a discovery
/// document naming the issuer as the request's own address and the JWKS
/// at `http://{jwks_host}:{the same port}/jwks`.
fn issuer_routes(jwks_host: &'static str, key: Value) -> Router<Arc<AtomicUsize>> {
    Router::new()
        .route(
            "/jwks",
            get(move || {
                let key = key.clone();
                async move { Json(json!({ "keys": [key] })) }
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(move |request: axum::extract::Request| async move {
                let host = request
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let port = host.rsplit(':').next().unwrap_or_default();
                Json(json!({
                    "issuer": format!("http://{host}"),
                    "jwks_uri": format!("http://{jwks_host}:{port}/jwks"),
                }))
            }),
        )
}

/// Claims of a current token of `issuer` for [`SUBJECT`].
fn claims_of(issuer: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": issuer, "aud": "lynk", "sub": SUBJECT, "iat": now, "exp": now + 300,
        "jti": Uuid::new_v4().to_string(),
    })
}

#[tokio::test]
async fn issuers_must_be_public_addresses() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    for issuer in [
        "https://127.0.0.1:8443",
        "https://[::1]",
        "https://169.254.169.254/latest",
        "https://localhost",
        "https://intranet",
        "https://10.0.0.7/oidc",
    ] {
        let answer = trust(
            &app,
            app.admin_token(),
            input(&app, &project, issuer, SUBJECT).await,
        )
        .await;
        answer.assert_error_exact(
            "BAD_USER_INPUT",
            &format!(
                "issuer must be at a public address, not a loopback, private, link-local or \
                 metadata one (got `{issuer}`); a test issuer on this machine needs \
                 --oidc-allow-http-issuers"
            ),
        );
    }
}

#[tokio::test]
async fn a_private_issuer_is_never_contacted() {
    let key = SigningKey::ec("ec-1");
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    // Something listening on loopback, counting the connections it gets
    // (a TLS handshake would never reach an HTTP router).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    for issuer in [
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        format!("https://vm:{port}"),
    ] {
        // Saved directly: the API refuses such an issuer.
        trusted_publisher::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(app.admin.organization.id),
            project_id: Set(project.parse().unwrap()),
            issuer: Set(issuer.clone()),
            audience: Set("lynk".into()),
            subject: Set(SUBJECT.into()),
            role_id: Set(app.role_id("uploader").await),
            created_by_user_id: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("insert a publisher");
        let answer = exchange(&app, &project, &key.sign(&claims_of(&issuer))).await;
        assert_refused(&answer, "issuer_unavailable");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn discovery_is_not_redirected_to_another_host() {
    let key = SigningKey::ec("ec-1");
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    // Another host (`localhost`, not the issuer's `127.0.0.1`) with keys.
    let (elsewhere, elsewhere_hits) =
        counting_server(issuer_routes("localhost", key.jwk.clone())).await;
    // The issuer redirects its discovery document there.
    let (port, issuer_hits) = counting_server(Router::new().route(
        "/.well-known/openid-configuration",
        get(move || async move {
            (
                HttpStatus::TEMPORARY_REDIRECT,
                [(
                    header::LOCATION,
                    format!("http://localhost:{elsewhere}/.well-known/openid-configuration"),
                )],
            )
                .into_response()
        }),
    ))
    .await;
    let issuer = format!("http://127.0.0.1:{port}");
    trust_ok(&app, &project, &issuer, SUBJECT, "uploader").await;
    let answer = exchange(&app, &project, &key.sign(&claims_of(&issuer))).await;
    assert_refused(&answer, "issuer_unavailable");
    assert_eq!(issuer_hits.load(Ordering::SeqCst), 1);
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn keys_are_fetched_only_from_the_issuers_host() {
    let key = SigningKey::ec("ec-1");
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    // The issuer is 127.0.0.1; its discovery document names a JWKS on
    // `localhost` (here the same server, under another host name).
    let (port, hits) = counting_server(issuer_routes("localhost", key.jwk.clone())).await;
    let issuer = format!("http://127.0.0.1:{port}");
    trust_ok(&app, &project, &issuer, SUBJECT, "uploader").await;
    let answer = exchange(&app, &project, &key.sign(&claims_of(&issuer))).await;
    assert_refused(&answer, "issuer_unavailable");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the discovery document only"
    );

    // On the issuer's host, the same keys verify.
    let (port, _) = counting_server(issuer_routes("127.0.0.1", key.jwk.clone())).await;
    let issuer = format!("http://127.0.0.1:{port}");
    trust_ok(&app, &project, &issuer, SUBJECT, "uploader").await;
    exchange_ok(&app, &project, &key.sign(&claims_of(&issuer))).await;
}

#[tokio::test]
async fn the_console_shows_the_project_id_to_exchange_with() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    let answer = trust(
        &app,
        app.admin_token(),
        input(
            &app,
            &project,
            "https://token.actions.githubusercontent.com",
            "repo:acme/shop-api:*",
        )
        .await,
    )
    .await;
    assert!(
        answer.body["data"]["createTrustedPublisher"]["id"].is_string(),
        "{}",
        answer.text
    );
    let Some((browser, _turn)) =
        crate::browser::start(format!("http://{}/", app.address), 1280).await
    else {
        return;
    };
    browser
        .sign_in("admin@acme.test", crate::helpers::ADMIN_PASSWORD)
        .await;
    browser.open(&format!("#/projects/{project}")).await;
    browser
        .wait_for_text("main table", "repo:acme/shop-api:*")
        .await;
    let hint = browser
        .wait_for_text("#exchange-project-id", &project)
        .await;
    assert_eq!(
        hint,
        format!(
            "A CI job names this project in the exchange: exchangeOidcToken(token: $token, \
             projectId: \"{project}\") (the LYNK_PROJECT_ID of the CI recipes in docs/ci.md in \
             lynk’s repository)."
        )
    );
    browser.close().await;
}
