//! The token policy (docs/DESIGN.md §9, "Token policy"): lifetimes that
//! bind tokens created afterwards, and revocation of unused tokens, at
//! once by a change (whose dry run names exactly the same tokens) and by
//! the scanner, 7 days after a `token.inactive` notice.

use chrono::{DateTime, Duration, Utc};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    entity::{token, token_notice, webhook_delivery},
    service::{
        token::NewToken,
        token_inactivity::{self, NOTICE_KEY, Swept},
    },
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, days_from_now, spawn_app},
    webhooks::{create_ok, spawn_with_webhooks},
};

const POLICY: &str = "{ organization { tokenPolicy { maxTokenLifetimeDays maxServiceTokenLifetimeDays requireServiceTokenExpiry revokeUnusedAfterDays } } }";
const UPDATE: &str = "mutation($input: TokenPolicyInput!, $dryRun: Boolean) { updateTokenPolicy(input: $input, dryRun: $dryRun) { policy { maxTokenLifetimeDays maxServiceTokenLifetimeDays requireServiceTokenExpiry revokeUnusedAfterDays } revokedTokens { id name status } } }";
const CREATE_SERVICE: &str = "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id expiresAt } secret } }";
const WHO: &str = "{ organization { id } }";

async fn update(app: &TestApp, token: &str, input: Value, dry_run: bool) -> crate::helpers::Answer {
    app.gql(
        Some(token),
        UPDATE,
        json!({ "input": input, "dryRun": dry_run }),
    )
    .await
}

async fn works(app: &TestApp, secret: &str) -> bool {
    app.gql(Some(secret), WHO, json!({})).await.status == reqwest::StatusCode::OK
}

/// A token of the admin's organization, `kind`, named `name`.
async fn issue(app: &TestApp, kind: CredentialKind, name: &str) -> (Uuid, String) {
    let service = kind == CredentialKind::Service;
    let role_id = if service {
        Some(app.role_id("viewer").await)
    } else {
        None
    };
    app.issue_token(NewToken {
        kind,
        organization_id: Some(app.admin.organization.id),
        name: name.into(),
        scopes: None,
        role_id,
        owner_user_id: (!service).then_some(app.admin.user.id),
        created_by_user_id: Some(app.admin.user.id),
        projects: ProjectScope::All,
        expires_at: (!service).then(|| days_from_now(300)),
    })
    .await
}

/// Sets when a token was created and last used, in days before now.
async fn age(app: &TestApp, id: Uuid, created_days_ago: i64, used_days_ago: Option<i64>) {
    let now = Utc::now();
    token::Entity::update_many()
        .col_expr(
            token::Column::CreatedAt,
            Expr::value(now - Duration::days(created_days_ago)),
        )
        .col_expr(
            token::Column::LastUsedAt,
            Expr::value(used_days_ago.map(|days| now - Duration::days(days))),
        )
        .filter(token::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("age token");
}

/// Moves a token's history and its notice `days` into the past, as if
/// that much time had passed.
async fn pass(app: &TestApp, id: Uuid, days: i64) {
    let row = token::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let back = Duration::days(days);
    token::Entity::update_many()
        .col_expr(token::Column::CreatedAt, Expr::value(row.created_at - back))
        .col_expr(
            token::Column::LastUsedAt,
            Expr::value(row.last_used_at.map(|at| at - back)),
        )
        .filter(token::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
    if let Some(notice) = notice_of(app, id).await {
        token_notice::Entity::update_many()
            .col_expr(token_notice::Column::CreatedAt, Expr::value(notice - back))
            .filter(token_notice::Column::TokenId.eq(id))
            .filter(token_notice::Column::Notice.eq(NOTICE_KEY))
            .exec(&app.db)
            .await
            .unwrap();
    }
}

async fn notice_of(app: &TestApp, id: Uuid) -> Option<DateTime<Utc>> {
    token_notice::Entity::find()
        .filter(token_notice::Column::TokenId.eq(id))
        .filter(token_notice::Column::Notice.eq(NOTICE_KEY))
        .one(&app.db)
        .await
        .unwrap()
        .map(|n| n.created_at)
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[Uuid]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_policy_defaults_then_changes_and_the_change_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let answer = app.gql(Some(admin), POLICY, json!({})).await;
    assert_eq!(
        answer.body["data"]["organization"]["tokenPolicy"],
        json!({"maxTokenLifetimeDays": 366, "maxServiceTokenLifetimeDays": null,
               "requireServiceTokenExpiry": false, "revokeUnusedAfterDays": null}),
        "{}",
        answer.text
    );
    let answer = update(
        &app,
        admin,
        json!({"maxServiceTokenLifetimeDays": 90, "requireServiceTokenExpiry": true}),
        false,
    )
    .await;
    let changed = json!({"maxTokenLifetimeDays": 366, "maxServiceTokenLifetimeDays": 90,
                         "requireServiceTokenExpiry": true, "revokeUnusedAfterDays": null});
    assert_eq!(
        answer.body["data"]["updateTokenPolicy"],
        json!({"policy": changed, "revokedTokens": []}),
        "{}",
        answer.text
    );
    // Omitted fields stay; null lifts a limit.
    let answer = update(
        &app,
        admin,
        json!({"maxServiceTokenLifetimeDays": null}),
        false,
    )
    .await;
    assert_eq!(
        answer.body["data"]["updateTokenPolicy"]["policy"]["maxServiceTokenLifetimeDays"],
        Value::Null
    );
    assert_eq!(
        answer.body["data"]["updateTokenPolicy"]["policy"]["requireServiceTokenExpiry"],
        true
    );
    let audit = app
        .gql(
            Some(admin),
            r#"{ organization { auditEvents(action: "organization.token_policy_updated") { edges { node { targetType targetId detail actorUser { id } } } } } }"#,
            json!({}),
        )
        .await;
    let edges = audit.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", audit.text))
        .clone();
    assert_eq!(edges.len(), 2);
    let first = &edges[1]["node"];
    assert_eq!(first["targetType"], "organization");
    assert_eq!(first["targetId"], app.admin.organization.id.to_string());
    assert_eq!(first["actorUser"]["id"], app.admin.user.id.to_string());
    let detail: Value = serde_json::from_str(first["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["before"]["maxServiceTokenLifetimeDays"], Value::Null);
    assert_eq!(detail["after"], changed);
}

#[tokio::test]
async fn bad_values_are_refused_by_name_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let cases = [
        (
            json!({"revokeUnusedAfterDays": 7}),
            "revokeUnusedAfterDays must be between 8 and 3650 (got 7) (a token gets its \
             token.inactive notice 7 days before it is revoked); set it to null for no limit",
        ),
        (
            json!({"maxServiceTokenLifetimeDays": 0}),
            "maxServiceTokenLifetimeDays must be between 1 and 3650 (got 0); set it to null for \
             no limit",
        ),
        (
            json!({"maxTokenLifetimeDays": 3651, "requireServiceTokenExpiry": true}),
            "maxTokenLifetimeDays must be between 1 and 3650 (got 3651)",
        ),
    ];
    for (input, message) in cases {
        for dry_run in [true, false] {
            let answer = update(&app, admin, input.clone(), dry_run).await;
            answer.assert_error_exact("BAD_USER_INPUT", message);
        }
    }
    let answer = app.gql(Some(admin), POLICY, json!({})).await;
    assert_eq!(
        answer.body["data"]["organization"]["tokenPolicy"]["requireServiceTokenExpiry"],
        false
    );
}

#[tokio::test]
async fn only_organization_write_sets_it_and_only_in_its_own_organization() {
    let app = spawn_app().await;
    // tokens:write is not enough.
    let token_manager = app.token_with(&["tokens:read", "tokens:write"]).await;
    let answer = update(
        &app,
        &token_manager,
        json!({"revokeUnusedAfterDays": 30}),
        true,
    )
    .await;
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    // Another organization's admin sets its own policy, never this one's.
    let other = app.other_organization("Other", "admin@other.test").await;
    let answer = update(
        &app,
        &other.token,
        json!({"maxTokenLifetimeDays": 5}),
        false,
    )
    .await;
    assert_eq!(
        answer.body["data"]["updateTokenPolicy"]["policy"]["maxTokenLifetimeDays"],
        5
    );
    let answer = app.gql(Some(app.admin_token()), POLICY, json!({})).await;
    assert_eq!(
        answer.body["data"]["organization"]["tokenPolicy"]["maxTokenLifetimeDays"],
        366
    );
    // And its unused tokens are not this organization's business.
    let (old, old_secret) = issue(&app, CredentialKind::Service, "old").await;
    age(&app, old, 400, None).await;
    let answer = update(
        &app,
        &other.token,
        json!({"revokeUnusedAfterDays": 30}),
        false,
    )
    .await;
    assert_eq!(
        answer.body["data"]["updateTokenPolicy"]["revokedTokens"],
        json!([]),
        "{}",
        answer.text
    );
    assert!(works(&app, &old_secret).await);
}

#[tokio::test]
async fn lifetimes_bind_tokens_created_afterwards_only() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let viewer_role = app.role_id("viewer").await.to_string();
    let app = &app;
    let create = |expires_at: Option<DateTime<Utc>>| {
        let input = json!({"input": {"name": "ci", "roleId": viewer_role,
                                     "expiresAt": expires_at.map(|at| at.to_rfc3339())}});
        async move { app.gql(Some(admin), CREATE_SERVICE, input).await }
    };
    let before = create(None).await;
    let before_secret = before.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", before.text))
        .to_owned();

    update(
        app,
        admin,
        json!({"requireServiceTokenExpiry": true}),
        false,
    )
    .await;
    let refused = create(None).await;
    refused.assert_error_exact(
        "BAD_USER_INPUT",
        "expiresAt is required: the organization's token policy requires service tokens to \
         expire (requireServiceTokenExpiry)",
    );
    assert!(
        create(Some(days_from_now(1000))).await.body["data"]["createServiceToken"]["secret"]
            .is_string()
    );

    update(
        app,
        admin,
        json!({"maxServiceTokenLifetimeDays": 30}),
        false,
    )
    .await;
    let far = create(Some(days_from_now(31))).await;
    assert_eq!(far.error_code(), Some("BAD_USER_INPUT"), "{}", far.text);
    let message = far.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "expiresAt must be at most 30 days from now (the organization's \
             maxServiceTokenLifetimeDays)"
        ),
        "{message}"
    );
    let ok = create(Some(days_from_now(29))).await;
    assert!(ok.body["data"]["createServiceToken"]["token"]["expiresAt"].is_string());
    // Lifting the requirement keeps the limit, which needs an expiry too.
    update(
        app,
        admin,
        json!({"requireServiceTokenExpiry": false}),
        false,
    )
    .await;
    let missing = create(None).await;
    assert_eq!(
        missing.body["errors"][0]["message"],
        "expiresAt is required: the organization's token policy limits service tokens to 30 \
         days (maxServiceTokenLifetimeDays)"
    );

    // Personal tokens: maxTokenLifetimeDays, set through the policy.
    update(app, admin, json!({"maxTokenLifetimeDays": 10}), false).await;
    let session = app.admin_session().await;
    let personal = app
        .gql(
            Some(&session),
            "mutation($input: CreatePersonalTokenInput!) { createPersonalToken(input: $input) { secret } }",
            json!({"input": {"name": "laptop", "expiresAt": days_from_now(11).to_rfc3339()}}),
        )
        .await;
    personal.assert_error(
        "BAD_USER_INPUT",
        "at most 10 days from now (the organization's maxTokenLifetimeDays)",
    );

    // Never retroactive: the token made before keeps working, unexpiring.
    assert!(works(app, &before_secret).await);
    let answer = app
        .gql(
            Some(&before_secret),
            "{ viewer { token { expiresAt status } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["token"],
        json!({"expiresAt": null, "status": "ACTIVE"})
    );
}

#[tokio::test]
async fn the_dry_run_names_exactly_the_tokens_the_change_revokes() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let (unused_service, unused_service_secret) =
        issue(&app, CredentialKind::Service, "never used").await;
    age(&app, unused_service, 40, None).await;
    let (unused_personal, unused_personal_secret) =
        issue(&app, CredentialKind::Personal, "used long ago").await;
    age(&app, unused_personal, 100, Some(31)).await;
    let (recent, recent_secret) = issue(&app, CredentialKind::Service, "used lately").await;
    age(&app, recent, 100, Some(5)).await;
    let (young, young_secret) = issue(&app, CredentialKind::Personal, "young").await;
    age(&app, young, 2, None).await;
    let (revoked, _) = issue(&app, CredentialKind::Service, "revoked").await;
    age(&app, revoked, 100, None).await;
    app.gql(
        Some(admin),
        "mutation($id: ID!) { revokeToken(id: $id) { id } }",
        json!({"id": revoked.to_string()}),
    )
    .await;
    let other = app.other_organization("Other", "admin@other.test").await;
    let (foreign, foreign_secret) = app
        .issue_token(NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(other.organization.id),
            name: "foreign".into(),
            scopes: None,
            role_id: Some(app.role_id_in(other.organization.id, "viewer").await),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::All,
            expires_at: None,
        })
        .await;
    age(&app, foreign, 400, None).await;
    // The admin's own bootstrap token is used by every request here.

    let input = json!({"revokeUnusedAfterDays": 30});
    let dry = update(&app, admin, input.clone(), true).await;
    let dry_ids = ids(&dry.body["data"]["updateTokenPolicy"]["revokedTokens"]);
    assert_eq!(
        dry_ids,
        sorted(&[unused_service, unused_personal]),
        "{}",
        dry.text
    );
    assert_eq!(
        dry.body["data"]["updateTokenPolicy"]["revokedTokens"][0]["status"],
        "ACTIVE"
    );
    // Nothing changed (read from the database: a request with the secret
    // would count as a use).
    assert_eq!(revoked_at(&app, unused_service).await, None);
    let answer = app.gql(Some(admin), POLICY, json!({})).await;
    assert_eq!(
        answer.body["data"]["organization"]["tokenPolicy"]["revokeUnusedAfterDays"],
        Value::Null
    );

    let real = update(&app, admin, input.clone(), false).await;
    let real_ids = ids(&real.body["data"]["updateTokenPolicy"]["revokedTokens"]);
    assert_eq!(real_ids, dry_ids, "{}", real.text);
    assert_eq!(
        real.body["data"]["updateTokenPolicy"]["revokedTokens"][0]["status"],
        "REVOKED"
    );
    assert!(!works(&app, &unused_service_secret).await);
    assert!(!works(&app, &unused_personal_secret).await);
    for secret in [&recent_secret, &young_secret, &foreign_secret] {
        assert!(works(&app, secret).await);
    }
    let audit = app
        .gql(
            Some(admin),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { targetId detail } } } } }"#,
            json!({}),
        )
        .await;
    let edges = audit.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let unused: Vec<&Value> = edges
        .iter()
        .filter(|e| {
            e["node"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("unused"))
        })
        .collect();
    assert_eq!(unused.len(), 2);
    let detail: Value =
        serde_json::from_str(unused[0]["node"]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["reason"], "unused");
    assert_eq!(detail["revokeUnusedAfterDays"], 30);

    // The same limit again revokes nothing at once; the scanner handles
    // what becomes unused from now on.
    let again = update(&app, admin, input, false).await;
    assert_eq!(
        again.body["data"]["updateTokenPolicy"]["revokedTokens"],
        json!([])
    );
    // A lower limit does, and its dry run agrees. (`recent` was used by
    // the checks above: wait for that use to be written, then age it.)
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    age(&app, recent, 100, Some(10)).await;
    let lower = json!({"revokeUnusedAfterDays": 8});
    let dry = update(&app, admin, lower.clone(), true).await;
    let real = update(&app, admin, lower, false).await;
    assert_eq!(
        ids(&dry.body["data"]["updateTokenPolicy"]["revokedTokens"]),
        sorted(&[recent])
    );
    assert_eq!(
        ids(&real.body["data"]["updateTokenPolicy"]["revokedTokens"]),
        sorted(&[recent])
    );
}

#[tokio::test]
async fn the_scanner_announces_token_inactive_and_revokes_a_week_later() {
    let app = spawn_with_webhooks().await;
    let admin = app.admin_token();
    create_ok(
        &app,
        "https://hooks.example.com/lynk",
        &["token.inactive", "token.revoked"],
    )
    .await;
    update(&app, admin, json!({"revokeUnusedAfterDays": 30}), false).await;
    let (idle, idle_secret) = issue(&app, CredentialKind::Service, "idle").await;
    age(&app, idle, 24, None).await;
    let (comeback, comeback_secret) = issue(&app, CredentialKind::Personal, "comeback").await;
    age(&app, comeback, 60, Some(25)).await;
    let (busy, busy_secret) = issue(&app, CredentialKind::Service, "busy").await;
    age(&app, busy, 60, Some(22)).await;
    // The admin's bootstrap token is used by these requests: never idle.

    let swept = token_inactivity::sweep(&app.db, Utc::now()).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            noticed: 2,
            revoked: 0
        }
    );
    assert!(notice_of(&app, idle).await.is_some());
    assert!(notice_of(&app, busy).await.is_none());
    // Each notice goes out once.
    let swept = token_inactivity::sweep(&app.db, Utc::now()).await.unwrap();
    assert_eq!(swept, Swept::default());
    let inactive = deliveries(&app, "token.inactive").await;
    assert_eq!(inactive.len(), 2);
    let data = inactive
        .iter()
        .map(|payload| payload["data"].clone())
        .find(|data| data["token"]["id"] == idle.to_string())
        .expect("idle's notice");
    assert_eq!(data["revokeUnusedAfterDays"], 30);
    assert!(data["unusedSince"].is_string() && data["revokedFrom"].is_string());

    // Six days later nothing is revoked yet; `comeback` is used meanwhile.
    for id in [idle, comeback, busy] {
        pass(&app, id, 6).await;
    }
    assert!(works(&app, &comeback_secret).await);
    let used_now = Utc::now();
    token::Entity::update_many()
        .col_expr(token::Column::LastUsedAt, Expr::value(Some(used_now)))
        .filter(token::Column::Id.eq(comeback))
        .exec(&app.db)
        .await
        .unwrap();
    let swept = token_inactivity::sweep(&app.db, Utc::now()).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            noticed: 1,
            revoked: 0
        },
        "busy reaches 28 days unused"
    );
    assert_eq!(revoked_at(&app, idle).await, None);

    // A week after its notice, `idle` goes; `comeback` was used since.
    for id in [idle, busy] {
        pass(&app, id, 1).await;
    }
    let swept = token_inactivity::sweep(&app.db, Utc::now()).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            noticed: 0,
            revoked: 1
        }
    );
    assert!(!works(&app, &idle_secret).await);
    assert!(works(&app, &comeback_secret).await);
    assert!(works(&app, &busy_secret).await);
    let revoked = deliveries(&app, "token.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["data"]["token"]["id"], idle.to_string());
    assert_eq!(
        revoked[0]["data"]["actor"],
        json!({"userId": null, "tokenId": null})
    );
    let audit = app
        .gql(
            Some(admin),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { targetId detail actorUser { id } actorToken { id } } } } } }"#,
            json!({}),
        )
        .await;
    let node = &audit.body["data"]["organization"]["auditEvents"]["edges"][0]["node"];
    assert_eq!(node["targetId"], idle.to_string());
    assert_eq!(node["actorUser"], Value::Null);
    assert_eq!(node["actorToken"], Value::Null);
    assert!(
        node["detail"]
            .as_str()
            .unwrap()
            .contains(r#""reason":"unused""#)
    );

    // Lifting the policy stops the scanner.
    update(&app, admin, json!({"revokeUnusedAfterDays": null}), false).await;
    pass(&app, busy, 30).await;
    let swept = token_inactivity::sweep(&app.db, Utc::now()).await.unwrap();
    assert_eq!(swept, Swept::default());
    assert!(works(&app, &busy_secret).await);
}

async fn revoked_at(app: &TestApp, id: Uuid) -> Option<DateTime<Utc>> {
    token::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
}

/// The payloads of the deliveries queued for `event`.
async fn deliveries(app: &TestApp, event: &str) -> Vec<Value> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Event.eq(event))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn a_change_revoking_more_than_500_at_once_is_refused_and_says_what_to_do() {
    let app = spawn_app().await;
    let mut first = None;
    for n in 0..501 {
        let (id, _) = issue(&app, CredentialKind::Service, &format!("old {n}")).await;
        first.get_or_insert(id);
    }
    token::Entity::update_many()
        .col_expr(
            token::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::days(100)),
        )
        .filter(token::Column::Name.starts_with("old "))
        .exec(&app.db)
        .await
        .unwrap();
    for dry_run in [true, false] {
        let answer = update(
            &app,
            app.admin_token(),
            json!({"revokeUnusedAfterDays": 30}),
            dry_run,
        )
        .await;
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
                .starts_with("this change would revoke 501 tokens unused that long at once; one change revokes at most 500")
        );
    }
    assert_eq!(revoked_at(&app, first.unwrap()).await, None);
    // Revoking some first in bulk makes room.
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation { revokeTokens(filter: {nameContains: \"old 1\"}, dryRun: false) { count } }",
            json!({}),
        )
        .await;
    assert!(
        answer.body["data"]["revokeTokens"]["count"]
            .as_u64()
            .unwrap()
            > 1
    );
    let answer = update(
        &app,
        app.admin_token(),
        json!({"revokeUnusedAfterDays": 30}),
        false,
    )
    .await;
    assert!(
        answer.body["data"]["updateTokenPolicy"]["revokedTokens"].is_array(),
        "{}",
        answer.text
    );
}
