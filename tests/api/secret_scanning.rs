//! `POST /secret-scanning/revoke`: GitHub's secret-scanning partner format,
//! with keys generated here and given to lynk as GitHub's key-list file.

use std::path::{Path, PathBuf};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{Duration, Utc};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope, token_format},
    entity::{webhook, webhook_delivery},
    service::token::NewToken,
    webhook::{
        event::{self, EventType},
        seal::SealingKey,
    },
};
use p256::{
    ecdsa::{Signature, SigningKey, signature::Signer as _},
    elliptic_curve::Generate as _,
    pkcs8::{EncodePublicKey as _, LineEnding},
};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Answer, TestApp, TestDatabase, UNAUTHORIZED_BODY, assert_unauthorized, captured_logs,
    spawn_app, spawn_app_with,
};

const WHO: &str = "query { organization { id } }";
const LEAKED_EVENTS: &str = r#"{ organization { auditEvents(action: "token.leaked") { edges { node { action targetType targetId ip detail actorUser { id } actorToken { id } } } } } }"#;
const URL: &str = "https://github.com/acme/app/blob/abc123/.env";

/// A key GitHub signs with, and its identifier.
struct GitHubKey {
    id: String,
    key: SigningKey,
}

impl GitHubKey {
    fn generate(id: &str) -> GitHubKey {
        GitHubKey {
            id: id.to_owned(),
            key: SigningKey::generate(),
        }
    }

    /// `Github-Public-Key-Signature` for `body`.
    fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_der())
    }
}

/// GitHub's key-list JSON for `keys`, all current.
fn key_list(keys: &[&GitHubKey]) -> String {
    let entries: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "key_identifier": k.id,
                "key": k.key.verifying_key().to_public_key_pem(LineEnding::LF).expect("pem"),
                "is_current": true,
            })
        })
        .collect();
    json!({ "public_keys": entries }).to_string()
}

/// A running lynk reading its keys from a file in `dir`.
struct Scanning {
    app: TestApp,
    github: GitHubKey,
    keys_path: PathBuf,
    _dir: tempfile::TempDir,
}

async fn spawn_with_keys(configure: impl FnOnce(&mut lynk::config::ServeArgs)) -> Scanning {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys_path = dir.path().join("github-keys.json");
    let github = GitHubKey::generate("github-key-1");
    std::fs::write(&keys_path, key_list(&[&github])).expect("write keys");
    let path = keys_path.clone();
    let app = spawn_app_with(|c| {
        c.secret_scanning_keys = Some(path);
        configure(c);
    })
    .await;
    Scanning {
        app,
        github,
        keys_path,
        _dir: dir,
    }
}

/// A batch in GitHub's format, one report per token.
fn batch(tokens: &[&str]) -> Vec<u8> {
    let reports: Vec<Value> = tokens
        .iter()
        .map(|token| json!({"token": token, "type": "lynk_token", "url": URL, "source": "content"}))
        .collect();
    serde_json::to_vec(&reports).expect("json")
}

fn endpoint(app: &TestApp) -> String {
    format!("http://{}/secret-scanning/revoke", app.address)
}

/// POSTs `body` with the given signature headers.
async fn post(
    app: &TestApp,
    key_id: Option<&str>,
    signature: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = app
        .client
        .post(endpoint(app))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(key_id) = key_id {
        request = request.header("Github-Public-Key-Identifier", key_id);
    }
    if let Some(signature) = signature {
        request = request.header("Github-Public-Key-Signature", signature);
    }
    app.send(request).await
}

/// POSTs `body` signed by `key`.
async fn report_signed(app: &TestApp, key: &GitHubKey, body: Vec<u8>) -> Answer {
    let signature = key.sign(&body);
    post(app, Some(&key.id), Some(&signature), body).await
}

fn labels(answer: &Answer) -> Vec<(String, String)> {
    answer
        .body
        .as_array()
        .unwrap_or_else(|| panic!("an array: {}", answer.text))
        .iter()
        .map(|f| {
            (
                f["token_raw"].as_str().unwrap_or_default().to_owned(),
                f["label"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn works(app: &TestApp, token: &str) -> bool {
    app.gql(Some(token), WHO, json!({})).await.status == StatusCode::OK
}

async fn leaked_events(app: &TestApp) -> Vec<Value> {
    let session = app.admin_session().await;
    let answer = app.gql(Some(&session), LEAKED_EVENTS, json!({})).await;
    answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("audit events: {}", answer.text))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// A well-formed lynk personal token that was never issued.
fn unknown_token() -> String {
    token_format::generate(CredentialKind::Personal)
        .secret
        .expose()
        .to_owned()
}

/// `token` with its last checksum character changed.
fn bad_checksum(token: &str) -> String {
    let mut changed = token.to_owned();
    let last = changed.pop().expect("non-empty");
    changed.push(if last == 'A' { 'B' } else { 'A' });
    changed
}

#[tokio::test]
async fn a_signed_batch_revokes_every_live_lynk_secret_and_labels_each() {
    let Scanning { app, github, .. } = spawn_with_keys(|_| {}).await;
    let (personal_id, personal) = app
        .admin_personal_token(Utc::now() + Duration::days(30))
        .await;
    let (service_id, service) = app.service_token("uploader").await;
    let (revoked_id, revoked) = app.service_token("viewer").await;
    app.gql(
        Some(app.admin_token()),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({ "id": revoked_id.to_string() }),
    )
    .await;
    let (_, expired) = app
        .admin_personal_token(Utc::now() - Duration::hours(1))
        .await;
    // A rotated token in its grace period still works: it counts as live.
    let session = app.admin_session().await;
    let (rotated_id, rotated) = app.create_personal_token(&session, None).await;
    let rotation = app
        .gql(
            Some(&session),
            "mutation($id: ID!) { rotateToken(id: $id, gracePeriodSeconds: 3600) { secret } }",
            json!({ "id": rotated_id }),
        )
        .await;
    let successor = rotation.body["data"]["rotateToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("rotate: {}", rotation.text))
        .to_owned();
    assert!(works(&app, &rotated).await);
    let leaked_session = app.admin_session().await;
    let made_up = bad_checksum(&unknown_token());
    let unknown = unknown_token();
    let not_lynk = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    let tokens = [
        personal.as_str(),
        service.as_str(),
        revoked.as_str(),
        made_up.as_str(),
        unknown.as_str(),
        not_lynk,
        expired.as_str(),
        rotated.as_str(),
        leaked_session.as_str(),
        personal.as_str(),
    ];

    let answer = report_signed(&app, &github, batch(&tokens)).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let expected: Vec<(String, String)> = [
        (personal.as_str(), "true_positive"),
        (service.as_str(), "true_positive"),
        (revoked.as_str(), "false_positive"),
        (made_up.as_str(), "false_positive"),
        (unknown.as_str(), "false_positive"),
        (not_lynk, "false_positive"),
        (expired.as_str(), "false_positive"),
        (rotated.as_str(), "true_positive"),
        (leaked_session.as_str(), "true_positive"),
        (personal.as_str(), "true_positive"),
    ]
    .iter()
    .map(|(t, l)| ((*t).to_owned(), (*l).to_owned()))
    .collect();
    assert_eq!(labels(&answer), expected);
    assert_eq!(answer.body[0]["token_type"], "lynk_token");
    for token in [&personal, &service, &rotated, &leaked_session] {
        let refused = app.gql(Some(token), WHO, json!({})).await;
        assert_unauthorized(&refused, true);
    }
    // What the report did not name keeps working.
    assert!(works(&app, &successor).await);
    assert!(works(&app, &session).await);

    let events = leaked_events(&app).await;
    assert_eq!(events.len(), 4, "one event per revoked secret: {events:?}");
    let mut targets: Vec<String> = events
        .iter()
        .map(|e| e["targetId"].as_str().unwrap_or_default().to_owned())
        .collect();
    targets.sort();
    for id in [personal_id.to_string(), service_id.to_string(), rotated_id] {
        assert!(targets.contains(&id), "{id} in {targets:?}");
    }
    for event in &events {
        assert_eq!(event["action"], "token.leaked");
        assert_eq!(event["targetType"], "token");
        assert_eq!(event["actorUser"], Value::Null);
        assert_eq!(event["actorToken"], Value::Null);
        assert_eq!(event["ip"], "127.0.0.1");
        let detail: Value = serde_json::from_str(event["detail"].as_str().unwrap()).unwrap();
        assert_eq!(
            detail,
            json!({"url": URL, "source": "content", "type": "lynk_token"})
        );
    }

    let logs = captured_logs();
    for secret in [
        &personal,
        &service,
        &revoked,
        &made_up,
        &unknown,
        &expired,
        &rotated,
        &leaked_session,
    ] {
        assert!(
            !logs.contains(secret.as_str()),
            "a reported secret was logged"
        );
    }
}

#[tokio::test]
async fn a_leaked_invitation_code_is_withdrawn() {
    let Scanning { app, github, .. } = spawn_with_keys(|_| {}).await;
    let session = app.admin_session().await;
    let viewer = app.role_id("viewer").await;
    let invite = |email: &'static str| {
        let (app, session) = (&app, &session);
        async move {
            let answer = app
                .gql(
                    Some(session),
                    "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { id } code } }",
                    json!({ "input": { "email": email, "roleId": viewer.to_string() } }),
                )
                .await;
            let created = &answer.body["data"]["inviteMember"];
            (
                created["invitation"]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}", answer.text))
                    .to_owned(),
                created["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (leaked_id, leaked) = invite("leaked@acme.test").await;
    let (_, kept) = invite("kept@acme.test").await;

    let answer = report_signed(&app, &github, batch(&[&leaked])).await;

    assert_eq!(
        labels(&answer),
        vec![(leaked.clone(), "true_positive".to_owned())]
    );
    const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { user { id } } }";
    let refused = app
        .gql(None, ACCEPT, json!({ "input": { "code": leaked, "name": "L", "password": "a long enough password" } }))
        .await;
    assert_eq!(
        refused.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        refused.text
    );
    let accepted = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "code": kept, "name": "K", "password": "a long enough password" } }),
        )
        .await;
    assert!(
        accepted.body["data"]["acceptInvitation"]["user"]["id"].is_string(),
        "{}",
        accepted.text
    );
    let events = app
        .gql(
            Some(&session),
            r#"{ organization { auditEvents(action: "member.invitation_revoked") { edges { node { targetId actorUser { id } detail } } } } }"#,
            json!({}),
        )
        .await;
    let edges = events.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(edges.len(), 1, "{}", events.text);
    assert_eq!(edges[0]["node"]["targetId"], leaked_id.as_str());
    assert_eq!(edges[0]["node"]["actorUser"], Value::Null);
    let detail: Value = serde_json::from_str(edges[0]["node"]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["reason"], "leaked");
    assert_eq!(detail["url"], URL);

    // Reported again, it is no longer live.
    let again = report_signed(&app, &github, batch(&[&leaked])).await;
    assert_eq!(labels(&again), vec![(leaked, "false_positive".to_owned())]);
}

#[tokio::test]
async fn unsigned_or_badly_signed_reports_are_refused_and_change_nothing() {
    let Scanning { app, github, .. } = spawn_with_keys(|_| {}).await;
    let (_, live) = app.service_token("viewer").await;
    let body = batch(&[&live]);
    let good = github.sign(&body);
    let stranger = GitHubKey::generate("github-key-1");
    // (case, key id, signature, body)
    type Case<'a> = (&'a str, Option<&'a str>, Option<String>, Vec<u8>);
    let cases: Vec<Case> = vec![
        ("unsigned", None, None, body.clone()),
        ("no signature", Some("github-key-1"), None, body.clone()),
        ("no key id", None, Some(good.clone()), body.clone()),
        (
            "unknown key id",
            Some("github-key-2"),
            Some(good.clone()),
            body.clone(),
        ),
        (
            "another key's signature",
            Some("github-key-1"),
            Some(stranger.sign(&body)),
            body.clone(),
        ),
        (
            "signature over another body",
            Some("github-key-1"),
            Some(github.sign(&batch(&["x"]))),
            body.clone(),
        ),
        (
            "body changed after signing",
            Some("github-key-1"),
            Some(good.clone()),
            batch(&[&live, "y"]),
        ),
        (
            "not base64",
            Some("github-key-1"),
            Some("%%%".into()),
            body.clone(),
        ),
        (
            "not DER",
            Some("github-key-1"),
            Some(STANDARD.encode(b"not a signature")),
            body.clone(),
        ),
    ];
    for (case, key_id, signature, body) in cases {
        let answer = post(&app, key_id, signature.as_deref(), body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            answer.text
        );
        assert_eq!(answer.text, UNAUTHORIZED_BODY, "{case}");
    }
    assert!(works(&app, &live).await, "nothing was revoked");
    assert!(leaked_events(&app).await.is_empty());
    // The same report, correctly signed, is acted on.
    let answer = post(&app, Some(&github.id), Some(&good), body).await;
    assert_eq!(
        labels(&answer),
        vec![(live.clone(), "true_positive".to_owned())]
    );
    assert!(!works(&app, &live).await);
}

#[tokio::test]
async fn without_the_keys_flag_the_endpoint_does_not_exist() {
    let app = spawn_app().await;
    let github = GitHubKey::generate("github-key-1");
    let answer = report_signed(&app, &github, batch(&[app.admin_token()])).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert!(works(&app, app.admin_token()).await);
}

#[tokio::test]
async fn a_bad_keys_file_stops_the_start_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(
        &path,
        r#"{"public_keys":[{"key_identifier":"k","key":"not a key","is_current":true}]}"#,
    )
    .unwrap();
    let database = TestDatabase::new().await;
    let mut config = lynk::config::ServeArgs::new(
        "127.0.0.1:0".parse().unwrap(),
        lynk::config::DatabaseArgs::new(database.url.clone()),
    );
    config.secret_scanning_keys = Some(path.clone());
    crate::helpers::postgres_needs_a_key(&mut config);
    let Err(err) = lynk::startup::Application::build(config).await else {
        panic!("a bad keys file must stop the start");
    };
    assert_eq!(
        format!("{err:?}"),
        format!(
            "Internal(--secret-scanning-keys {}: key \"k\" is not a PEM-encoded P-256 public key)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_batch_over_the_limits_is_refused_naming_them() {
    let Scanning { app, github, .. } = spawn_with_keys(|_| {}).await;
    let (_, live) = app.service_token("viewer").await;
    let mut tokens = vec!["not-a-token"; 1000];
    tokens.push(&live);
    let answer = report_signed(&app, &github, batch(&tokens)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("BAD_REQUEST"), "{}", answer.text);
    assert_eq!(
        answer.error_message(),
        "too many reports: at most 1000 per request, this one has 1001"
    );
    assert!(works(&app, &live).await);

    let malformed = br#"{"token":"x"}"#.to_vec();
    let answer = report_signed(&app, &github, malformed).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);

    let huge = format!(
        r#"[{{"token":"{}","type":"t","url":"u","source":"s"}}]"#,
        "a".repeat(1024 * 1024)
    );
    let answer = report_signed(&app, &github, huge.into_bytes()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_endpoint_has_its_own_rate_limit_per_client_address() {
    let Scanning { app, github, .. } = spawn_with_keys(|_| {}).await;
    for _ in 0..60 {
        let answer = post(&app, None, None, b"[]".to_vec()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = report_signed(&app, &github, b"[]".to_vec()).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.error_code(), Some("RATE_LIMITED"));
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The GraphQL endpoint's budgets are separate.
    assert!(works(&app, app.admin_token()).await);
}

#[tokio::test]
async fn a_key_added_to_the_file_is_picked_up_without_a_restart() {
    let Scanning {
        app,
        github,
        keys_path,
        _dir: _keys_dir,
    } = spawn_with_keys(|_| {}).await;
    let (_, first) = app.service_token("viewer").await;
    let (_, second) = app.service_token("viewer").await;
    let rotated_in = GitHubKey::generate("github-key-2");
    write_keys(&keys_path, &[&github, &rotated_in]);

    let answer = report_signed(&app, &rotated_in, batch(&[&first])).await;
    assert_eq!(
        labels(&answer),
        vec![(first.clone(), "true_positive".to_owned())]
    );
    // The old key still works after the reload.
    let answer = report_signed(&app, &github, b"[]".to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Unknown keys reload the file at most once a minute.
    let third_key = GitHubKey::generate("github-key-3");
    write_keys(&keys_path, &[&github, &rotated_in, &third_key]);
    let answer = report_signed(&app, &third_key, batch(&[&second])).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert!(works(&app, &second).await);
}

fn write_keys(path: &Path, keys: &[&GitHubKey]) {
    std::fs::write(path, key_list(keys)).expect("write keys");
}

#[tokio::test]
async fn a_leak_is_announced_to_subscribed_webhooks_without_the_secret() {
    let sealing: SealingKey = STANDARD.encode([7u8; 32]).parse().expect("key");
    let sealing_for_app = sealing.clone();
    let Scanning { app, github, .. } =
        spawn_with_keys(|c| c.encryption_key = Some(sealing_for_app)).await;
    let organization_id = app.admin.organization.id;
    let webhook_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let subscribed =
        insert_webhook(&app, &sealing, webhook_secret, &[EventType::TokenLeaked]).await;
    let other = insert_webhook(&app, &sealing, webhook_secret, &[EventType::TokenCreated]).await;
    let (service_id, service) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(organization_id),
            name: "deploy".into(),
            scopes: None,
            role_id: Some(app.role_id("viewer").await),
            owner_user_id: None,
            created_by_user_id: Some(app.admin.user.id),
            projects: ProjectScope::All,
            expires_at: None,
        })
        .await;

    let answer = report_signed(&app, &github, batch(&[&service])).await;
    assert_eq!(
        labels(&answer),
        vec![(service.clone(), "true_positive".to_owned())]
    );

    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Event.eq("token.leaked"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.webhook_id, subscribed);
    assert_ne!(delivery.webhook_id, other);
    assert_eq!(delivery.organization_id, organization_id);
    let payload: Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(payload["type"], "token.leaked");
    assert_eq!(payload["data"]["url"], URL);
    assert_eq!(payload["data"]["source"], "content");
    assert_eq!(payload["data"]["token"]["id"], service_id.to_string());
    assert_eq!(payload["data"]["token"]["kind"], "SERVICE");
    assert!(payload["data"]["token"]["revokedAt"].is_string());
    assert!(
        !delivery.payload.contains(&service),
        "the leaked secret is not announced"
    );
    assert!(!delivery.payload.contains(webhook_secret));
    assert!(!delivery.payload.contains(&service[service.len() - 10..]));
}

async fn insert_webhook(
    app: &TestApp,
    sealing: &SealingKey,
    secret: &str,
    events: &[EventType],
) -> Uuid {
    let id = Uuid::now_v7();
    webhook::ActiveModel {
        id: Set(id),
        organization_id: Set(app.admin.organization.id),
        url: Set("https://hooks.example.com/lynk".into()),
        events: Set(event::to_storage(events)),
        active: Set(true),
        secret_sealed: Set(sealing.seal(id, secret)),
        secret_hint: Set("whsec_Mf…Sw".into()),
        created_by_user_id: Set(Some(app.admin.user.id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("insert webhook");
    id
}
