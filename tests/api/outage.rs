//! The database going away and coming back: lynk answers a generic error
//! meanwhile, `/readyz` says so, and it recovers without a restart.
//! PostgreSQL only (a SQLite file cannot go away in the same sense).

use lynk::database;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn lynk_recovers_when_postgres_comes_back() {
    let Ok(admin_url) = std::env::var("LYNK_TEST_DATABASE_URL") else {
        eprintln!("skipped: set LYNK_TEST_DATABASE_URL to run against PostgreSQL");
        return;
    };
    let app = spawn_app().await;
    let name = app.database.url.rsplit('/').next().unwrap().to_owned();
    let admin = Database::connect(&admin_url).await.unwrap();
    let readyz = format!("http://{}/readyz", app.address);
    let verify = "{ organization { name } }";
    let answer = app.gql(Some(app.admin_token()), verify, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // The outage: no new connections, and every open one is cut.
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    // A connection idle this long is pinged before the pool hands it out,
    // so the cut ones are found and replaced; one reused sooner is trusted
    // (`database::PING_WHEN_IDLE_FOR`), and would fail its request once.
    tokio::time::sleep(database::PING_WHEN_IDLE_FOR).await;
    let response = app.client.get(&readyz).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), "database unreachable");
    let answer = app.gql(Some(app.admin_token()), verify, Value::Null).await;
    assert_eq!(
        answer.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answer.text
    );
    assert_eq!(answer.error_code(), Some("INTERNAL_SERVER_ERROR"));
    assert_eq!(answer.body["errors"][0]["message"], "Internal server error");
    assert!(answer.body["errors"][0]["extensions"]["requestId"].is_string());
    assert!(
        !answer.text.to_lowercase().contains("database"),
        "{}",
        answer.text
    );

    // The database is back: the very same process serves again.
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let response = app.client.get(&readyz).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer = app.gql(Some(app.admin_token()), verify, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
}
