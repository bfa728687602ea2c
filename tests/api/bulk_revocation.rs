//! `revokeTokens` (docs/DESIGN.md §9, "Revocation for everyone"): one
//! transaction; a dry run by default that names exactly what the real run
//! revokes; a token the caller could not revoke alone is neither revoked
//! nor counted; another organization's tokens do not exist.

use chrono::{Duration, Utc};
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    entity::token,
    service::token::NewToken,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Answer, TestApp, days_from_now, spawn_app};

const REVOKE: &str = "mutation($filter: TokenFilterInput!, $dryRun: Boolean!) { revokeTokens(filter: $filter, dryRun: $dryRun) { count tokens { id name status } } }";
/// Without `dryRun`: its default.
const REVOKE_DEFAULT: &str = "mutation($filter: TokenFilterInput!) { revokeTokens(filter: $filter) { count tokens { id name status } } }";
const WHO: &str = "{ organization { id } }";

async fn revoke(app: &TestApp, token: &str, filter: Value, dry_run: Option<bool>) -> Answer {
    match dry_run {
        Some(dry_run) => {
            app.gql(
                Some(token),
                REVOKE,
                json!({ "filter": filter, "dryRun": dry_run }),
            )
            .await
        }
        None => {
            app.gql(Some(token), REVOKE_DEFAULT, json!({ "filter": filter }))
                .await
        }
    }
}

async fn works(app: &TestApp, secret: &str) -> bool {
    app.gql(Some(secret), WHO, json!({})).await.status == reqwest::StatusCode::OK
}

/// A service token of the admin's organization named `name`, carrying
/// `role`, restricted to `projects` (none: every project).
async fn service(app: &TestApp, name: &str, role: &str, projects: &[Uuid]) -> (Uuid, String) {
    app.issue_token(NewToken {
        kind: CredentialKind::Service,
        organization_id: Some(app.admin.organization.id),
        name: name.into(),
        scopes: None,
        role_id: Some(app.role_id(role).await),
        owner_user_id: None,
        created_by_user_id: Some(app.admin.user.id),
        projects: if projects.is_empty() {
            ProjectScope::All
        } else {
            ProjectScope::Only(projects.to_vec())
        },
        expires_at: None,
    })
    .await
}

fn ids_of(answer: &Answer) -> Vec<String> {
    let mut ids: Vec<String> = answer.body["data"]["revokeTokens"]["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
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
async fn the_dry_run_is_the_default_and_names_exactly_what_the_real_run_revokes() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let (ci_one, ci_one_secret) = service(&app, "CI deploy 1", "viewer", &[]).await;
    let (ci_two, ci_two_secret) = service(&app, "ci deploy 2", "uploader", &[]).await;
    let (_, keep_secret) = service(&app, "laptop", "viewer", &[]).await;
    let filter = json!({"nameContains": "ci deploy"});

    let dry = revoke(&app, admin, filter.clone(), None).await;
    assert_eq!(dry.body["data"]["revokeTokens"]["count"], 2, "{}", dry.text);
    assert_eq!(ids_of(&dry), sorted(&[ci_one, ci_two]));
    assert_eq!(
        dry.body["data"]["revokeTokens"]["tokens"][0]["status"],
        "ACTIVE"
    );
    assert!(works(&app, &ci_one_secret).await);

    let real = revoke(&app, admin, filter.clone(), Some(false)).await;
    assert_eq!(
        real.body["data"]["revokeTokens"]["count"], 2,
        "{}",
        real.text
    );
    assert_eq!(ids_of(&real), ids_of(&dry));
    assert_eq!(
        real.body["data"]["revokeTokens"]["tokens"][1]["status"],
        "REVOKED"
    );
    assert!(!works(&app, &ci_one_secret).await);
    assert!(!works(&app, &ci_two_secret).await);
    assert!(works(&app, &keep_secret).await);

    // Audited one by one, with the reason.
    let audit = app
        .gql(
            Some(admin),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { targetId detail actorUser { id } } } } } }"#,
            json!({}),
        )
        .await;
    let edges = audit.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 2);
    for edge in &edges {
        assert_eq!(edge["node"]["detail"], r#"{"reason":"bulk"}"#);
        assert_eq!(
            edge["node"]["actorUser"]["id"],
            app.admin.user.id.to_string()
        );
    }
    // What is dead is not chosen again.
    let again = revoke(&app, admin, filter, Some(false)).await;
    assert_eq!(
        again.body["data"]["revokeTokens"],
        json!({"count": 0, "tokens": []})
    );
}

#[tokio::test]
async fn a_narrower_caller_cannot_bulk_revoke_a_token_it_could_not_revoke_alone() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let ours: Uuid = app.create_project("ours").await.parse().unwrap();
    let theirs: Uuid = app.create_project("theirs").await.parse().unwrap();
    // A tokens:write holder restricted to one project.
    let (_, restricted) = service(&app, "manager", "admin", &[ours]).await;
    let (inside, inside_secret) = service(&app, "target inside", "viewer", &[ours]).await;
    let (everywhere, everywhere_secret) = service(&app, "target everywhere", "viewer", &[]).await;
    let (other_project, other_project_secret) =
        service(&app, "target other", "viewer", &[theirs]).await;

    // Alone, it may not even see the unrestricted token.
    let alone = app
        .gql(
            Some(&restricted),
            "mutation($id: ID!) { revokeToken(id: $id) { id } }",
            json!({"id": everywhere.to_string()}),
        )
        .await;
    assert_eq!(alone.error_code(), Some("NOT_FOUND"), "{}", alone.text);

    let filter = json!({"nameContains": "target"});
    let dry = revoke(&app, &restricted, filter.clone(), None).await;
    assert_eq!(ids_of(&dry), sorted(&[inside]), "{}", dry.text);
    let real = revoke(&app, &restricted, filter.clone(), Some(false)).await;
    assert_eq!(real.body["data"]["revokeTokens"]["count"], 1);
    assert_eq!(ids_of(&real), ids_of(&dry));
    assert!(!works(&app, &inside_secret).await);
    assert!(works(&app, &everywhere_secret).await);
    assert!(works(&app, &other_project_secret).await);
    // A project it does not reach does not exist for it.
    let answer = revoke(
        &app,
        &restricted,
        json!({"projectId": theirs.to_string()}),
        None,
    )
    .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);

    // A tokens:write holder without project restriction reaches the rest.
    let manager = app.token_with(&["tokens:read", "tokens:write"]).await;
    let answer = revoke(
        &app,
        &manager,
        json!({"projectId": theirs.to_string()}),
        Some(false),
    )
    .await;
    assert_eq!(ids_of(&answer), sorted(&[other_project]), "{}", answer.text);
    let answer = revoke(&app, admin, filter, Some(false)).await;
    assert_eq!(ids_of(&answer), sorted(&[everywhere]));
}

#[tokio::test]
async fn bulk_revocation_needs_tokens_write_a_filter_and_stays_in_its_organization() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let (_, target_secret) = service(&app, "target", "viewer", &[]).await;

    // Without tokens:write: FORBIDDEN, even as a dry run.
    let reader = app.token_with(&["tokens:read"]).await;
    for dry_run in [None, Some(false)] {
        let answer = revoke(&app, &reader, json!({"nameContains": "target"}), dry_run).await;
        assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    }
    let answer = app
        .gql(
            None,
            REVOKE_DEFAULT,
            json!({"filter": {"nameContains": "target"}}),
        )
        .await;
    assert_eq!(answer.status, reqwest::StatusCode::UNAUTHORIZED);

    // Another organization's admin sees none of these tokens.
    let other = app.other_organization("Other", "admin@other.test").await;
    let answer = revoke(&app, &other.token, json!({"kind": "SERVICE"}), Some(false)).await;
    assert_eq!(
        answer.body["data"]["revokeTokens"]["count"], 0,
        "{}",
        answer.text
    );
    let project = app.create_project("ours").await;
    let answer = revoke(&app, &other.token, json!({"projectId": project}), None).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
    assert!(works(&app, &target_secret).await);

    // An empty filter, sessions, an oversized name: refused by name.
    let answer = revoke(&app, admin, json!({}), None).await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "the filter must name at least one of kind, ownerId, projectId, createdBefore, \
         lastUsedBefore, neverUsed, nameContains",
    );
    let answer = revoke(&app, admin, json!({"kind": "SESSION"}), None).await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    let answer = revoke(&app, admin, json!({"nameContains": "x".repeat(101)}), None).await;
    assert_eq!(answer.error_code(), Some("BAD_USER_INPUT"));
    let answer = revoke(&app, admin, json!({"ownerId": "not-an-id"}), None).await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"));
    assert!(works(&app, &target_secret).await);
}

#[tokio::test]
async fn each_criterion_narrows_the_choice() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let (old, _) = service(&app, "old", "viewer", &[]).await;
    let (used, _) = service(&app, "used", "viewer", &[]).await;
    let (personal, _) = app.admin_personal_token(days_from_now(30)).await;
    let now = Utc::now();
    token::Entity::update_many()
        .col_expr(
            token::Column::CreatedAt,
            Expr::value(now - Duration::days(50)),
        )
        .filter(token::Column::Id.eq(old))
        .exec(&app.db)
        .await
        .unwrap();
    token::Entity::update_many()
        .col_expr(
            token::Column::LastUsedAt,
            Expr::value(Some(now - Duration::days(10))),
        )
        .filter(token::Column::Id.eq(used))
        .exec(&app.db)
        .await
        .unwrap();
    let cases = [
        (
            json!({"kind": "PERSONAL", "neverUsed": true, "nameContains": "test"}),
            vec![personal],
        ),
        (
            json!({"createdBefore": (now - Duration::days(40)).to_rfc3339()}),
            vec![old],
        ),
        (
            json!({"lastUsedBefore": (now - Duration::days(5)).to_rfc3339()}),
            vec![used],
        ),
        (json!({"kind": "SERVICE", "neverUsed": true}), vec![old]),
        (
            json!({"ownerId": app.admin.user.id.to_string(), "nameContains": "test"}),
            vec![personal],
        ),
        (
            json!({"neverUsed": false, "nameContains": "use"}),
            vec![used],
        ),
    ];
    for (filter, expected) in cases {
        let answer = revoke(&app, admin, filter.clone(), None).await;
        assert_eq!(
            ids_of(&answer),
            sorted(&expected),
            "{filter}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn concurrent_bulk_revocations_revoke_each_token_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().to_owned();
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(service(&app, &format!("race {n}"), "viewer", &[]).await.0);
    }
    let filter = json!({"nameContains": "race"});
    let (one, two) = tokio::join!(
        revoke(&app, &admin, filter.clone(), Some(false)),
        revoke(&app, &admin, filter.clone(), Some(false)),
    );
    let counted = |answer: &Answer| {
        answer.body["data"]["revokeTokens"]["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}", answer.text))
    };
    // Together they revoked every token, each once, and said so.
    assert_eq!(
        counted(&one) + counted(&two),
        6,
        "{} / {}",
        one.text,
        two.text
    );
    let mut all = ids_of(&one);
    all.extend(ids_of(&two));
    all.sort();
    assert_eq!(all, sorted(&ids));
    let audit = app
        .gql(
            Some(&admin),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { targetId } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        audit.body["data"]["organization"]["auditEvents"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
}

/// Another instance whose clock runs a little ahead stamps its revocation
/// "in the future" from this one's view: that is still a revocation, not
/// a rotation's grace, and neither `revokeTokens` nor `revokeToken` may
/// revoke (and announce) the token a second time.
#[tokio::test]
async fn a_revocation_stamped_by_a_clock_running_ahead_is_not_repeated() {
    let app = spawn_app().await;
    let admin = app.admin_token().to_owned();
    let (id, _) = service(&app, "ahead", "viewer", &[]).await;
    token::Entity::update_many()
        .col_expr(
            token::Column::RevokedAt,
            Expr::value(Utc::now() + Duration::seconds(30)),
        )
        .col_expr(token::Column::RevocationScheduled, Expr::value(false))
        .filter(token::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();

    let bulk = revoke(&app, &admin, json!({"nameContains": "ahead"}), Some(false)).await;
    assert_eq!(bulk.status, reqwest::StatusCode::OK, "{}", bulk.text);
    assert_eq!(
        bulk.body["data"]["revokeTokens"]["count"],
        json!(0),
        "{}",
        bulk.text
    );
    let single = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { revokeToken(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(single.status, reqwest::StatusCode::OK, "{}", single.text);
    let audit = app
        .gql(
            Some(&admin),
            r#"{ organization { auditEvents(action: "token.revoked") { edges { node { targetId } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        audit.body["data"]["organization"]["auditEvents"]["edges"],
        json!([]),
        "{}",
        audit.text
    );
}
