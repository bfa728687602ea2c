//! Trusted publishing (docs/DESIGN.md §8.3): a CI job exchanges its OIDC identity
//! token for a 15-minute service token of one project. The issuer is the
//! test's own, on loopback (discovery document and JWKS, keys generated
//! per run), and lynk runs with `--oidc-allow-http-issuers`.

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::get};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, PublicKeyUse},
};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    service::token::NewToken,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Answer, TestApp, assert_unauthorized, captured_logs, spawn_app, spawn_app_with,
};

const CREATE: &str = "mutation($input: CreateTrustedPublisherInput!) {
  createTrustedPublisher(input: $input) {
    id issuer audience subject project { id name } role { name } createdAt createdBy { email }
  }
}";
const DELETE: &str = "mutation($id: ID!) { deleteTrustedPublisher(id: $id) }";
pub(crate) const EXCHANGE: &str = "mutation($token: String!, $projectId: ID!) {
  exchangeOidcToken(token: $token, projectId: $projectId) {
    secret
    token { id name kind status hint expiresAt createdBy { id } role { name } }
  }
}";
pub(crate) const SUBJECT: &str = "repo:acme/shop-api:ref:refs/heads/main";
pub(crate) const BOM: &str =
    r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": []}"#;

/// A key an issuer signs identity tokens with, and its public JWK.
pub(crate) struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    pub(crate) jwk: Value,
}

impl SigningKey {
    fn new(kid: &str, algorithm: Algorithm, encoding: EncodingKey) -> SigningKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        SigningKey {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk: serde_json::to_value(jwk).expect("JWK as JSON"),
        }
    }

    /// A P-256 key (ES256); generating one is instant.
    pub(crate) fn ec(kid: &str) -> SigningKey {
        use p256::{elliptic_curve::Generate, pkcs8::EncodePrivateKey};
        let der = p256::SecretKey::generate()
            .to_pkcs8_der()
            .expect("PKCS#8 DER");
        SigningKey::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(der.as_bytes()),
        )
    }

    /// A 2048-bit RSA key (RS256, what GitHub and GitLab sign with). Slow
    /// to generate in a debug build, so there is one per test run.
    pub(crate) fn rsa() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| {
            use p256::elliptic_curve::common::getrandom::SysRng;
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let private = rsa::PrivateKey::new(&mut SysRng, 2048).expect("RSA key");
            let der = private.to_pkcs1_der().expect("PKCS#1 DER");
            SigningKey::new(
                "rsa-1",
                Algorithm::RS256,
                EncodingKey::from_rsa_der(der.as_bytes()),
            )
        })
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signed with this key, but naming `kid` (another key's id: a
    /// signature that does not verify).
    pub(crate) fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let header = Header {
            kid: Some(kid.to_owned()),
            ..Header::new(self.algorithm)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// What the test issuer serves, shared with its handlers.
#[derive(Clone)]
struct IssuerState {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    discovery_fetches: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
}

/// An OIDC issuer on loopback: `/.well-known/openid-configuration` and
/// `/jwks`, serving the keys the test chooses and counting the fetches.
pub(crate) struct TestIssuer(IssuerState);

impl TestIssuer {
    pub(crate) async fn start(keys: &[&SigningKey]) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the issuer");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = IssuerState {
            url,
            keys: Arc::default(),
            discovery_fetches: Arc::default(),
            jwks_fetches: Arc::default(),
        };
        let routes = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(s): State<IssuerState>| async move {
                    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
                    Json(json!({
                        "issuer": s.url,
                        "jwks_uri": format!("{}/jwks", s.url),
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }))
                }),
            )
            .route(
                "/jwks",
                get(|State(s): State<IssuerState>| async move {
                    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = s.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    Json(json!({ "keys": keys }))
                }),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        let issuer = TestIssuer(state);
        issuer.serve(keys);
        issuer
    }

    pub(crate) fn url(&self) -> &str {
        &self.0.url
    }

    /// From now on, the JWKS holds exactly these keys.
    pub(crate) fn serve(&self, keys: &[&SigningKey]) {
        *self.0.keys.lock().unwrap_or_else(|e| e.into_inner()) =
            keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub(crate) fn jwks_fetches(&self) -> usize {
        self.0.jwks_fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn discovery_fetches(&self) -> usize {
        self.0.discovery_fetches.load(Ordering::SeqCst)
    }

    /// The claims a GitHub Actions job on `acme/shop-api`'s main branch
    /// gets, valid for five minutes from now.
    pub(crate) fn claims(&self) -> Value {
        let now = Utc::now().timestamp();
        json!({
            "iss": self.url(),
            "aud": "lynk",
            "sub": SUBJECT,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "jti": Uuid::new_v4().to_string(),
            "repository": "acme/shop-api",
            "repository_owner": "acme",
            "ref": "refs/heads/main",
            "sha": "5e1b8ae6b3c1f4e0d8a4c0e4b1f2a3d4c5b6a7f8",
            "workflow": "sbom",
            "job_workflow_ref": "acme/shop-api/.github/workflows/sbom.yml@refs/heads/main",
            "run_id": "4242",
            "actor": "octocat",
            "runner_environment": "github-hosted",
        })
    }
}

/// `claims` with some fields replaced.
pub(crate) fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("an object") {
        claims[name] = value.clone();
    }
    claims
}

/// lynk, accepting a loopback issuer.
pub(crate) async fn spawn_lynk() -> TestApp {
    spawn_app_with(|c| c.oidc_allow_http_issuers = true).await
}

pub(crate) async fn trust(app: &TestApp, token: &str, input: Value) -> Answer {
    app.gql(Some(token), CREATE, json!({ "input": input }))
        .await
}

/// Creates a publisher with the admin token and returns its id.
pub(crate) async fn trust_ok(
    app: &TestApp,
    project_id: &str,
    issuer: &str,
    subject: &str,
    role: &str,
) -> String {
    let role_id = app.role_id(role).await;
    let answer = trust(
        app,
        app.admin_token(),
        json!({
            "projectId": project_id,
            "issuer": issuer,
            "audience": "lynk",
            "subject": subject,
            "roleId": role_id.to_string(),
        }),
    )
    .await;
    answer.body["data"]["createTrustedPublisher"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createTrustedPublisher failed: {}", answer.text))
        .to_owned()
}

/// Exchanges `token` for a token of `project_id`, without a credential.
pub(crate) async fn exchange(app: &TestApp, project_id: &str, token: &str) -> Answer {
    app.gql(
        None,
        EXCHANGE,
        json!({ "token": token, "projectId": project_id }),
    )
    .await
}

/// Exchanges and returns the service token's secret.
pub(crate) async fn exchange_ok(app: &TestApp, project_id: &str, token: &str) -> String {
    let answer = exchange(app, project_id, token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["data"]["exchangeOidcToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("exchange failed: {}", answer.text))
        .to_owned()
}

#[tokio::test]
async fn a_ci_job_exchanges_its_identity_token_for_a_token_of_its_project() {
    let key = SigningKey::rsa();
    let issuer = TestIssuer::start(&[key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let other = app.create_project("billing").await;

    // The admin trusts main of acme/shop-api to upload to shop-api.
    let uploader = app.role_id("uploader").await;
    let answer = trust(
        &app,
        app.admin_token(),
        json!({
            "projectId": project,
            "issuer": format!("  {}  ", issuer.url()),
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": uploader.to_string(),
        }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let publisher = &answer.body["data"]["createTrustedPublisher"];
    assert_eq!(
        publisher["issuer"],
        issuer.url(),
        "stored trimmed, as given"
    );
    assert_eq!(publisher["audience"], "lynk");
    assert_eq!(publisher["subject"], SUBJECT);
    assert_eq!(
        publisher["project"],
        json!({"id": project, "name": "shop-api"})
    );
    assert_eq!(publisher["role"]["name"], "uploader");
    assert_eq!(publisher["createdBy"]["email"], "admin@acme.test");
    let publisher_id = publisher["id"].as_str().unwrap().to_owned();
    assert_eq!(issuer.discovery_fetches(), 0, "creating fetches nothing");

    // The job's identity token, as GitHub mints it; no credential sent.
    let identity = key.sign(&issuer.claims());
    let before = Utc::now();
    let answer = exchange(&app, &project, &identity).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body.get("errors").is_none(), "{}", answer.text);
    let created = &answer.body["data"]["exchangeOidcToken"];
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("lynk_service_live_"), "{secret}");
    let token = &created["token"];
    assert_eq!(token["name"], "oidc: acme/shop-api");
    assert_eq!(token["kind"], "SERVICE");
    assert_eq!(token["status"], "ACTIVE");
    assert_eq!(token["createdBy"], Value::Null);
    assert_eq!(token["role"]["name"], "uploader");
    let expires_at: DateTime<Utc> = token["expiresAt"].as_str().unwrap().parse().unwrap();
    let lifetime = expires_at - before;
    assert!(
        lifetime > chrono::Duration::seconds(14 * 60 + 50)
            && lifetime <= chrono::Duration::seconds(15 * 60 + 1),
        "expires in 15 minutes: {lifetime}"
    );
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));

    // The token uploads to its project, and other projects do not exist for it.
    let answer = app.upload_sbom(&secret, &project, BOM, "id").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.body["data"]["uploadSbom"]["id"].is_string(),
        "{}",
        answer.text
    );
    let answer = app.upload_sbom(&secret, &other, BOM, "id").await;
    answer.assert_error_exact("NOT_FOUND", "project not found");
    // Its role holds: uploader cannot create projects or tokens.
    let answer = app
        .gql(
            Some(&secret),
            r#"mutation { createProject(input: {name: "x"}) { id } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);

    // The exchange is audited with the claims that matched; the keys
    // stay cached (a second exchange fetches nothing).
    exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "token.exchanged") { edges { node {
                 action targetType targetId ip detail actorUser { id } actorToken { id } } } } } }"#,
            Value::Null,
        )
        .await;
    let edges = answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    assert_eq!(edges.len(), 2, "{}", answer.text);
    let event = &edges[1]["node"];
    assert_eq!(event["action"], "token.exchanged");
    assert_eq!(event["targetType"], "token");
    assert_eq!(event["targetId"], token["id"]);
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["actorUser"], Value::Null);
    assert_eq!(event["actorToken"], Value::Null);
    let detail: Value = serde_json::from_str(event["detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({
            "publisherId": publisher_id,
            "iss": issuer.url(),
            "sub": SUBJECT,
            "repository": "acme/shop-api",
            "ref": "refs/heads/main",
            "sha": "5e1b8ae6b3c1f4e0d8a4c0e4b1f2a3d4c5b6a7f8",
            "workflow": "sbom",
            "job_workflow_ref": "acme/shop-api/.github/workflows/sbom.yml@refs/heads/main",
            "run_id": "4242",
            "actor": "octocat",
        })
    );
    // Neither the identity token nor the secret is ever logged.
    let logs = captured_logs();
    assert!(!logs.contains(&identity));
    assert!(!logs.contains(identity.rsplit('.').next().unwrap()));
    assert!(!logs.contains(&secret));
}

#[tokio::test]
async fn es256_keys_and_a_trailing_star_in_the_subject() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(
        &app,
        &project,
        issuer.url(),
        "repo:acme/shop-api:*",
        "uploader",
    )
    .await;

    for sub in [
        "repo:acme/shop-api:environment:production",
        "repo:acme/shop-api:pull_request",
        SUBJECT,
    ] {
        let identity = key.sign(&with(issuer.claims(), json!({ "sub": sub })));
        let secret = exchange_ok(&app, &project, &identity).await;
        let answer = app.upload_sbom(&secret, &project, BOM, "id").await;
        assert!(
            answer.body["data"]["uploadSbom"]["id"].is_string(),
            "{}",
            answer.text
        );
    }
    for sub in [
        "repo:acme/shop-api",
        "repo:acme/shop-api-fork:pull_request",
        "repo:evil/x",
    ] {
        let identity = key.sign(&with(issuer.claims(), json!({ "sub": sub })));
        assert_unauthorized(&exchange(&app, &project, &identity).await, false);
    }
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_refused_with_a_401() {
    let key = SigningKey::ec("ec-1");
    let impostor = SigningKey::ec("ec-2");
    let issuer = TestIssuer::start(&[&key]).await;
    let stranger = TestIssuer::start(&[&impostor]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    // A good token works, so each refusal below is for its one defect.
    exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;

    let now = Utc::now().timestamp();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64.encode(json!({"alg": alg, "typ": "JWT", "kid": "ec-1"}).to_string()),
            b64.encode(issuer.claims().to_string())
        )
    };
    let hs256 = jsonwebtoken::encode(
        &Header {
            kid: Some("ec-1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &issuer.claims(),
        &EncodingKey::from_secret(key.jwk["x"].as_str().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    // Each defect, and the reason lynk logs for it.
    let cases = [
        (
            "signed by another key under the right kid",
            "bad_signature",
            impostor.sign_as("ec-1", &issuer.claims()),
        ),
        ("a tampered payload", "bad_signature", {
            let good = key.sign(&issuer.claims());
            let parts: Vec<&str> = good.split('.').collect();
            let forged = with(
                issuer.claims(),
                json!({"sub": "repo:evil/x:ref:refs/heads/main"}),
            );
            format!(
                "{}.{}.{}",
                parts[0],
                b64.encode(forged.to_string()),
                parts[2]
            )
        }),
        (
            "another audience",
            "no_matching_publisher",
            key.sign(&with(issuer.claims(), json!({"aud": "sigstore"}))),
        ),
        ("no audience", "missing_claims", {
            let mut claims = issuer.claims();
            claims.as_object_mut().unwrap().remove("aud");
            key.sign(&claims)
        }),
        (
            "expired",
            "expired",
            key.sign(&with(
                issuer.claims(),
                json!({"iat": now - 900, "nbf": now - 900, "exp": now - 61}),
            )),
        ),
        (
            "not yet valid",
            "not_yet_valid",
            key.sign(&with(issuer.claims(), json!({"nbf": now + 120}))),
        ),
        (
            "issued in the future",
            "issued_in_future",
            key.sign(&with(issuer.claims(), json!({"iat": now + 120}))),
        ),
        (
            "another subject",
            "no_matching_publisher",
            key.sign(&with(
                issuer.claims(),
                json!({"sub": "repo:acme/shop-api:ref:refs/heads/dev"}),
            )),
        ),
        (
            "another issuer claimed",
            "unknown_issuer",
            key.sign(&with(issuer.claims(), json!({"iss": stranger.url()}))),
        ),
        (
            "an issuer no publisher names",
            "unknown_issuer",
            impostor.sign(&stranger.claims()),
        ),
        ("alg none", "malformed", unsigned("none")),
        (
            "alg none, signed part kept",
            "malformed",
            format!("{}{}", unsigned("none"), "c2ln"),
        ),
        (
            "HS256 keyed with the public key",
            "algorithm_not_allowed",
            hs256,
        ),
        (
            "an unknown kid",
            "unknown_key",
            key.sign_as("ec-9", &issuer.claims()),
        ),
        (
            "not a JWT",
            "malformed",
            "lynk_service_live_notajwt".to_owned(),
        ),
        ("empty", "malformed", String::new()),
    ];
    for (defect, reason, token) in &cases {
        let answer = exchange(&app, &project, token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{defect}: {}",
            answer.text
        );
        assert_unauthorized(&answer, false);
        let request_id = answer.headers["x-request-id"].to_str().unwrap();
        let logs = captured_logs();
        let line = logs
            .lines()
            .find(|line| line.contains(request_id) && line.contains("OIDC token exchange refused"))
            .unwrap_or_else(|| panic!("{defect}: no refusal logged"));
        assert!(
            line.contains(&format!("reason=\"{reason}\"")),
            "{defect}: {line}"
        );
    }
    // Only the issuer of a publisher was ever asked for keys.
    assert_eq!(stranger.discovery_fetches(), 0);
    // No token is ever logged.
    let logs = captured_logs();
    for (_, _, token) in cases.iter().filter(|(_, _, t)| t.len() > 20) {
        assert!(!logs.contains(token.as_str()));
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_its_first_unknown_kid() {
    let old = SigningKey::ec("2024");
    let new = SigningKey::ec("2025");
    let issuer = TestIssuer::start(&[&old]).await;
    // No minimum between refreshes, so the test needs no clock.
    let app = spawn_app_with(|c| {
        c.oidc_allow_http_issuers = true;
        c.oidc_min_refresh = Duration::ZERO;
    })
    .await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    exchange_ok(&app, &project, &old.sign(&issuer.claims())).await;
    assert_eq!(issuer.jwks_fetches(), 1);

    // A token signed with a key the issuer does not publish yet.
    let early = new.sign(&issuer.claims());
    assert_unauthorized(&exchange(&app, &project, &early).await, false);
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "the unknown kid refreshed the keys"
    );
    // The issuer rotates: the new key is published, the old one retired.
    issuer.serve(&[&new]);
    exchange_ok(&app, &project, &new.sign(&issuer.claims())).await;
    assert_eq!(issuer.jwks_fetches(), 3);
    exchange_ok(&app, &project, &new.sign(&issuer.claims())).await;
    assert_eq!(issuer.jwks_fetches(), 3, "then it is cached");
    // The retired key is gone from the cache too.
    assert_unauthorized(
        &exchange(&app, &project, &old.sign(&issuer.claims())).await,
        false,
    );
}

#[tokio::test]
async fn unknown_kids_refresh_an_issuer_at_most_once_a_minute() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
    // A flood of tokens naming made-up key ids, some at once.
    let floods = (0..12).map(|i| {
        let token = key.sign_as(&format!("made-up-{i}"), &issuer.claims());
        let (app, project) = (&app, project.as_str());
        async move { exchange(app, project, &token).await }
    });
    for answer in futures_util::future::join_all(floods).await {
        assert_unauthorized(&answer, false);
    }
    assert_eq!(
        (issuer.discovery_fetches(), issuer.jwks_fetches()),
        (1, 1),
        "within a minute of the last fetch, nothing is fetched again"
    );
    // The known key keeps working meanwhile.
    exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
}

#[tokio::test]
async fn failed_exchanges_spend_the_address_budget() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_app_with(|c| {
        c.oidc_allow_http_issuers = true;
        c.limits.auth_failures_per_ip = 2;
    })
    .await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    // Successes cost nothing: more of them than the budget.
    for _ in 0..3 {
        exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;
    }
    let wrong = key.sign(&with(issuer.claims(), json!({"aud": "other"})));
    for _ in 0..2 {
        assert_unauthorized(&exchange(&app, &project, &wrong).await, false);
    }
    // The third failure is refused before any work, and so is a good token now.
    for token in [wrong, key.sign(&issuer.claims())] {
        let answer = exchange(&app, &project, &token).await;
        assert_eq!(
            answer.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            answer.text
        );
        assert_eq!(answer.error_code(), Some("RATE_LIMITED"), "{}", answer.text);
        assert_eq!(answer.body["data"], Value::Null);
        let retry_after: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry_after));
        assert_eq!(
            answer.body["errors"][0]["extensions"]["retryAfter"],
            retry_after
        );
    }
    // Other credentials are unaffected.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { id } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn issuers_must_be_https_unless_allowed() {
    let app = spawn_app().await;
    let project = app.create_project("shop-api").await;
    let uploader = app.role_id("uploader").await.to_string();
    let input = |issuer: &str| {
        json!({
            "projectId": project,
            "issuer": issuer,
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": uploader,
        })
    };
    let answer = trust(&app, app.admin_token(), input("http://127.0.0.1:9")).await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "issuer must use https (got `http://127.0.0.1:9`); plain http is allowed only when \
         lynk runs with --oidc-allow-http-issuers, for tests",
    );
    assert_eq!(answer.body["data"], Value::Null);
    for (issuer, message) in [
        (
            "token.actions.githubusercontent.com",
            "issuer must be an absolute URL such as https://token.actions.githubusercontent.com (got `token.actions.githubusercontent.com`)",
        ),
        (
            "https://issuer.example/?tenant=1",
            "issuer must not have a query or a fragment (got `https://issuer.example/?tenant=1`)",
        ),
    ] {
        let answer = trust(&app, app.admin_token(), input(issuer)).await;
        answer.assert_error_exact("BAD_USER_INPUT", message);
    }
    let answer = trust(
        &app,
        app.admin_token(),
        input("https://token.actions.githubusercontent.com"),
    )
    .await;
    assert_eq!(
        answer.body["data"]["createTrustedPublisher"]["issuer"],
        "https://token.actions.githubusercontent.com",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn creating_a_publisher_grants_nothing_the_caller_lacks() {
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let admin = app.admin_session().await;
    // A custom role with tokens:write and what an uploader holds, not more.
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
    let input = |role: Uuid| {
        json!({
            "projectId": project,
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": "lynk",
            "subject": SUBJECT,
            "roleId": role.to_string(),
        })
    };
    let answer = trust(&app, &keeper.session, input(app.role_id("editor").await)).await;
    answer.assert_error_exact(
        "FORBIDDEN",
        "Forbidden: you cannot grant permissions you do not hold: members:read, roles:read, \
         projects:write, projects:delete, sboms:delete",
    );
    assert_eq!(answer.body["data"], Value::Null);
    let answer = trust(&app, &keeper.session, input(app.role_id("uploader").await)).await;
    assert_eq!(
        answer.body["data"]["createTrustedPublisher"]["role"]["name"], "uploader",
        "{}",
        answer.text
    );
    // The same identity twice for one project is a conflict.
    let answer = trust(&app, &keeper.session, input(app.role_id("uploader").await)).await;
    answer.assert_error_exact(
        "CONFLICT",
        "this project already trusts that issuer, audience and subject",
    );
    // A viewer has no tokens:write.
    let viewer = app.add_member(&admin, "vera@acme.test", "viewer").await;
    let answer = trust(&app, &viewer.session, input(app.role_id("viewer").await)).await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "tokens:write"
    );
}

#[tokio::test]
async fn projects_and_roles_come_from_the_callers_reach() {
    let app = spawn_lynk().await;
    let shop = app.create_project("shop-api").await;
    let billing = app.create_project("billing").await;
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
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let foreign_role = app.role_id_in(other.organization.id, "uploader").await;
    let uploader = app.role_id("uploader").await;
    let input = |project: &str, role: Uuid| {
        json!({
            "projectId": project,
            "issuer": "https://gitlab.com",
            "audience": "lynk",
            "subject": "project_path:acme/shop:ref_type:branch:ref:main",
            "roleId": role.to_string(),
        })
    };
    for (project, role, what) in [
        (foreign_project.as_str(), uploader, "project not found"),
        (shop.as_str(), foreign_role, "role not found"),
        ("not-an-id", uploader, "project not found"),
    ] {
        let answer = trust(&app, app.admin_token(), input(project, role)).await;
        answer.assert_error_exact("NOT_FOUND", what);
    }
    // A token restricted to shop-api: billing does not exist for it.
    let admin_role = app.role_id("admin").await;
    let (_, restricted) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(app.admin.organization.id),
            name: "shop-api admin".into(),
            scopes: None,
            role_id: Some(admin_role),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::Only(vec![shop.parse().unwrap()]),
            expires_at: None,
        })
        .await;
    let answer = trust(&app, &restricted, input(&billing, uploader)).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    let answer = trust(&app, &restricted, input(&shop, uploader)).await;
    let id = answer.body["data"]["createTrustedPublisher"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    // Nor can the other organization delete it.
    let answer = app
        .gql(Some(&other.token), DELETE, json!({ "id": id }))
        .await;
    answer.assert_error_exact("NOT_FOUND", "trusted publisher not found");
}

#[tokio::test]
async fn a_deleted_publisher_exchanges_nothing_more_and_its_role_stays_until_then() {
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let project = app.create_project("shop-api").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "sbom pusher", "permissions": ["sboms:write"] } }),
        )
        .await;
    let role_id = answer.body["data"]["createRole"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .to_owned();
    let publisher = trust_ok(&app, &project, issuer.url(), SUBJECT, "sbom pusher").await;
    let secret = exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;

    // The role is in use by the publisher (the exchanged token too).
    let delete_role = "mutation($id: ID!) { deleteRole(id: $id) }";
    let answer = app
        .gql(
            Some(app.admin_token()),
            delete_role,
            json!({ "id": role_id }),
        )
        .await;
    answer.assert_error("CONFLICT", "and 1 trusted publisher(s)");

    let answer = app
        .gql(Some(app.admin_token()), DELETE, json!({ "id": publisher }))
        .await;
    assert_eq!(
        answer.body["data"]["deleteTrustedPublisher"], publisher,
        "{}",
        answer.text
    );
    assert_unauthorized(
        &exchange(&app, &project, &key.sign(&issuer.claims())).await,
        false,
    );
    let answer = app
        .gql(Some(app.admin_token()), DELETE, json!({ "id": publisher }))
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    // The token already exchanged lives out its 15 minutes.
    let answer = app.upload_sbom(&secret, &project, BOM, "id").await;
    assert!(
        answer.body["data"]["uploadSbom"]["id"].is_string(),
        "{}",
        answer.text
    );

    let answer = app
        .gql(
            Some(app.admin_token()),
            r#"{ organization { auditEvents(action: "trusted_publisher.deleted") { edges { node {
                 targetType targetId actorUser { email } } } } } }"#,
            Value::Null,
        )
        .await;
    assert_eq!(
        answer.body["data"]["organization"]["auditEvents"]["edges"][0]["node"],
        json!({ "targetType": "trusted_publisher", "targetId": publisher, "actorUser": { "email": "admin@acme.test" } }),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn an_exchange_announces_the_token_it_created() {
    use lynk::entity::webhook_delivery;
    use sea_orm::EntityTrait;

    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_app_with(|c| {
        c.oidc_allow_http_issuers = true;
        c.encryption_key = Some(crate::webhooks::sealing_key());
    })
    .await;
    crate::webhooks::create_ok(&app, "https://hooks.example.invalid/", &["token.created"]).await;
    let project = app.create_project("shop-api").await;
    trust_ok(&app, &project, issuer.url(), SUBJECT, "uploader").await;
    let secret = exchange_ok(&app, &project, &key.sign(&issuer.claims())).await;

    let deliveries = webhook_delivery::Entity::find()
        .all(&app.db)
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].event, "token.created");
    let body: Value = serde_json::from_str(&deliveries[0].payload).expect("JSON");
    assert_eq!(body["data"]["token"]["kind"], "SERVICE");
    // Exchanged by a CI job: no user or token acted.
    assert_eq!(
        body["data"]["actor"],
        json!({"userId": null, "tokenId": null})
    );
    assert!(!deliveries[0].payload.contains(&secret));
}
