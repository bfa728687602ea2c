//! `lastUsedAt` written behind the requests, in batches (docs/DESIGN.md §2.5): every
//! first use is recorded, by fewer statements than tokens, and the uses
//! made just before a shutdown are written on the way out.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use futures_util::future::join_all;
use lynk::{
    auth::{CredentialKind, project_scope::ProjectScope},
    config::{DatabaseArgs, ServeArgs},
    database,
    entity::token,
    service::token::{NewToken, issue},
    startup::Application,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, TestDatabase, days_from_now};

const WHO: &str = "{ viewer { token { id lastUsedAt lastUsedIps } } }";

/// A server on `database` whose pool counts the `lastUsedAt` writes.
async fn counting_app(database: &TestDatabase) -> (Application, Arc<AtomicUsize>) {
    let mut db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let writes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&writes);
    db.set_metric_callback(move |info| {
        if info
            .statement
            .sql
            .starts_with("UPDATE token SET last_used_at")
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut config = ServeArgs::new(
        "127.0.0.1:0".parse().expect("address"),
        DatabaseArgs::new(database.url.clone()),
    );
    config.bootstrap_password = Some(ADMIN_PASSWORD.into());
    crate::helpers::postgres_needs_a_key(&mut config);
    let app = Application::build_with_connection(config, db)
        .await
        .expect("build app");
    (app, writes)
}

async fn used_tokens(db: &DatabaseConnection, name: &str) -> u64 {
    token::Entity::find()
        .filter(token::Column::Name.eq(name))
        .filter(token::Column::LastUsedAt.is_not_null())
        .count(db)
        .await
        .expect("count used tokens")
}

async fn who(client: &reqwest::Client, url: &str, secret: &str) -> Value {
    let answer = client
        .post(url)
        .bearer_auth(secret)
        .json(&json!({ "query": WHO }))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("JSON body")
}

#[tokio::test]
async fn many_tokens_used_once_each_are_all_recorded_by_few_statements() {
    const TOKENS: usize = 60;
    let database = TestDatabase::new().await;
    let (app, writes) = counting_app(&database).await;
    let db = app.db().clone();
    let url = format!("http://{}/lynkapi", app.local_addr());
    let outcome = app.bootstrapped().expect("bootstrapped");
    let (organization_id, user_id) = (outcome.organization.id, outcome.user.id);
    tokio::spawn(app.run_until(std::future::pending()));
    let mut secrets = Vec::new();
    for _ in 0..TOKENS {
        let (_, secret) = issue(
            &db,
            NewToken {
                kind: CredentialKind::Personal,
                organization_id: Some(organization_id),
                name: "batch".into(),
                scopes: None,
                role_id: None,
                owner_user_id: Some(user_id),
                created_by_user_id: Some(user_id),
                projects: ProjectScope::All,
                expires_at: Some(days_from_now(1)),
            },
            Utc::now(),
        )
        .await
        .expect("issue a token");
        secrets.push(secret.expose().to_owned());
    }

    let client = reqwest::Client::new();
    join_all(secrets.iter().map(|secret| who(&client, &url, secret))).await;
    // Written behind the requests: poll (bounded) until every use landed
    // and the pool has reported its statements (it does so once they
    // return, which may be after their rows are visible).
    let mut used = 0;
    for _ in 0..200 {
        used = used_tokens(&db, "batch").await;
        if used == TOKENS as u64 && writes.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(used, TOKENS as u64);
    // One statement per flush, each for every token waiting.
    let writes = writes.load(Ordering::Relaxed);
    assert!((1..TOKENS).contains(&writes), "{writes} writes");

    // As read back, by the server's own verification.
    let answer = who(&client, &url, &secrets[0]).await;
    let token = &answer["data"]["viewer"]["token"];
    let last_used: chrono::DateTime<Utc> = token["lastUsedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .parse()
        .expect("a timestamp");
    assert!(Utc::now() - last_used < chrono::Duration::minutes(1));
    assert_eq!(token["lastUsedIps"], json!(["127.0.0.1"]));
}

#[tokio::test]
async fn a_use_just_before_shutdown_is_written() {
    let database = TestDatabase::new().await;
    let (app, _) = counting_app(&database).await;
    let url = format!("http://{}/lynkapi", app.local_addr());
    let secret = app.bootstrapped().expect("bootstrapped").token.clone();
    let recorder = Arc::clone(app.last_used());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let answer = who(&reqwest::Client::new(), &url, &secret).await;
    let token_id: Uuid = answer["data"]["viewer"]["token"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{answer}"));
    // Unless a periodic write ran meanwhile (they are a second apart), the
    // use is still waiting when the server is told to stop.
    let waiting = recorder.pending();
    stop.send(()).expect("the server is running");
    server
        .await
        .expect("the server task")
        .expect("a clean shutdown");
    assert_eq!(recorder.pending(), 0);

    // The server closed its pool; look with a connection of our own.
    let db = database::connect(&DatabaseArgs::new(database.url.clone()))
        .await
        .expect("connect");
    let stored = token::Entity::find_by_id(token_id)
        .one(&db)
        .await
        .expect("read the token")
        .expect("the token");
    assert!(
        stored.last_used_at.is_some(),
        "{waiting} waiting at shutdown"
    );
    assert_eq!(stored.last_used_ips.as_deref(), Some("127.0.0.1"));
}
