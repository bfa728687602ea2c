//! Secrets never reach the database, the logs or an error.

use serde_json::Value;

use crate::helpers::{captured_logs, spawn_app};

#[tokio::test]
async fn the_database_never_holds_a_token_plaintext() {
    let app = spawn_app().await;
    let (_, service) = app.service_token("uploader").await;
    // Use both, so last-use writes happen too.
    for token in [app.admin_token(), service.as_str()] {
        app.gql(Some(token), "{ organization { id } }", Value::Null)
            .await;
    }
    let Some(path) = &app.database.sqlite_path else {
        // On PostgreSQL the same code path stores digests; the file check is SQLite's.
        return;
    };
    app.db.close_by_ref().await.ok();
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    let haystack = String::from_utf8_lossy(&bytes);
    for token in [app.admin_token(), service.as_str()] {
        assert!(!haystack.contains(token));
        // Not even the random part without its prefix.
        let body = &token[token.len() - 36..];
        assert!(!haystack.contains(body));
    }
}

#[tokio::test]
async fn logs_never_hold_a_token() {
    let app = spawn_app().await;
    let (_, service) = app.service_token("uploader").await;
    for token in [app.admin_token(), service.as_str()] {
        app.gql(Some(token), "{ viewer { kind } }", Value::Null)
            .await;
        app.gql(
            Some(&format!("{token}x")),
            "{ viewer { kind } }",
            Value::Null,
        )
        .await;
    }
    let logs = captured_logs();
    assert!(logs.contains("authenticated"), "trace logs were captured");
    for token in [app.admin_token(), service.as_str()] {
        assert!(!logs.contains(&token[token.len() - 36..]));
    }
    assert!(!logs.contains(crate::helpers::ADMIN_PASSWORD));
}
