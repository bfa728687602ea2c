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

/// Every credential of a full session: signing in, creating personal and
/// service tokens, inviting and joining, changing a password, rotating a
/// token, signing out, plus failed attempts with each. None of them may
/// appear in any log line at any level, nor in the `Debug` of the types
/// that carry them.
#[tokio::test]
async fn no_credential_of_a_full_session_reaches_the_logs() {
    use lynk::auth::token_format::{self, SecretKind};
    use serde_json::json;
    use uuid::Uuid;

    use crate::helpers::ADMIN_PASSWORD;

    let app = spawn_app().await;
    let admin_session = app.admin_session().await;
    let (personal_id, personal) = app.create_personal_token(&admin_session, None).await;

    let uploader = app.role_id("uploader").await.to_string();
    let answer = app
        .gql(
            Some(&admin_session),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "ci", "roleId": uploader } }),
        )
        .await;
    let service = answer.body["data"]["createServiceToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("createServiceToken: {}", answer.text))
        .to_owned();

    let viewer = app.role_id("viewer").await.to_string();
    let answer = app
        .gql(
            Some(&admin_session),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }",
            json!({ "input": { "email": "newcomer@acme.test", "roleId": viewer } }),
        )
        .await;
    let invitation = answer.body["data"]["inviteMember"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("inviteMember: {}", answer.text))
        .to_owned();
    let first_password = format!("first password {}", Uuid::new_v4().simple());
    let second_password = format!("second password {}", Uuid::new_v4().simple());
    let wrong_password = format!("wrong password {}", Uuid::new_v4().simple());
    let answer = app
        .gql(
            None,
            "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }",
            json!({ "input": { "code": invitation, "name": "Newcomer", "password": first_password } }),
        )
        .await;
    let member_session = answer.body["data"]["acceptInvitation"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("acceptInvitation: {}", answer.text))
        .to_owned();

    // A wrong current password first, then the right one.
    for current in [&wrong_password, &first_password] {
        app.gql(
            Some(&member_session),
            "mutation($current: String!, $new: String!) { changePassword(currentPassword: $current, newPassword: $new) }",
            json!({ "current": current, "new": second_password }),
        )
        .await;
    }
    let member_second_session = app.login("newcomer@acme.test", &second_password).await;
    // Failed logins: the old password, a wrong one.
    for password in [&first_password, &wrong_password] {
        let answer = app
            .gql(
                None,
                "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }",
                json!({ "email": "newcomer@acme.test", "password": password }),
            )
            .await;
        assert_eq!(answer.error_code(), Some("UNAUTHORIZED"), "{}", answer.text);
    }

    let answer = app
        .gql(
            Some(&admin_session),
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({ "id": personal_id }),
        )
        .await;
    let rotated = answer.body["data"]["rotateToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("rotateToken: {}", answer.text))
        .to_owned();
    let answer = app
        .gql(
            Some(&member_second_session),
            "mutation { logout }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.body["data"]["logout"], true, "{}", answer.text);

    // Use every credential, valid or dead, and a mangled copy of each; an
    // invitation code replayed; another organization's header.
    let tokens = [
        admin_session.as_str(),
        personal.as_str(),
        rotated.as_str(),
        service.as_str(),
        member_session.as_str(),
        member_second_session.as_str(),
        invitation.as_str(),
    ];
    let mut request_ids = Vec::new();
    for token in tokens {
        for sent in [
            token.to_owned(),
            format!("{token}x"),
            token[..token.len() - 1].to_owned(),
        ] {
            let answer = app
                .gql(
                    Some(&sent),
                    "{ viewer { kind permissions } organization { id } }",
                    Value::Null,
                )
                .await;
            request_ids.extend(
                answer
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            );
        }
        app.gql_in(
            token,
            Uuid::now_v7(),
            "{ organization { id } }",
            Value::Null,
        )
        .await;
    }
    app.gql(
        None,
        "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }",
        json!({ "input": { "code": invitation, "name": "Again", "password": wrong_password } }),
    )
    .await;

    let logs = captured_logs();
    assert!(
        request_ids.iter().any(|id| logs.contains(id.as_str())),
        "this test's requests were logged"
    );
    assert!(logs.contains("authenticated"), "trace logs were captured");
    for token in tokens {
        // Not the whole secret, nor its random part without the prefix.
        assert!(
            !logs.contains(&token[token.len() - 36..]),
            "a {}… credential is in the logs",
            &token[..token.len() - 36]
        );
    }
    for (name, password) in [
        ("the admin's password", ADMIN_PASSWORD),
        ("the first password", first_password.as_str()),
        ("the changed password", second_password.as_str()),
        ("a wrong password", wrong_password.as_str()),
    ] {
        assert!(!logs.contains(password), "{name} is in the logs");
    }

    // The types that carry these secrets print none of them in `Debug`.
    for kind in SecretKind::all() {
        let generated = token_format::generate(kind);
        let body = &generated.secret.expose()[kind.prefix().len()..];
        for debug in [
            format!("{generated:?}"),
            format!("{:?}", generated.secret),
            format!("{:?}", token_format::parse(generated.secret.expose())),
        ] {
            assert!(!debug.contains(body), "{debug}");
        }
    }
    for token in tokens {
        let body = &token[token.len() - 36..];
        let parsed = format!("{:?}", token_format::parse(token));
        assert!(!parsed.contains(body), "{parsed}");
    }
    let hash = lynk::auth::password::hash_password(second_password.clone())
        .await
        .expect("hash");
    assert!(!format!("{hash:?}").contains(&second_password));
    assert!(!format!("{:?}", app.admin).contains(&app.admin.token[10..]));
}

/// A database failure inside a resolver is a generic error with the
/// request id; the cause goes to the log only, and the server keeps serving.
#[tokio::test]
async fn an_internal_error_never_leaks_sql_or_driver_text() {
    let app = spawn_app().await;
    app.execute("DROP TABLE audit_event", vec![]).await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { auditEvents { edges { cursor } } } }",
            Value::Null,
        )
        .await;
    assert!(
        answer.status == reqwest::StatusCode::OK
            || answer.status == reqwest::StatusCode::INTERNAL_SERVER_ERROR,
        "{}: {}",
        answer.status,
        answer.text
    );
    let error = &answer.body["errors"][0];
    assert_eq!(
        answer.error_code(),
        Some("INTERNAL_SERVER_ERROR"),
        "{}",
        answer.text
    );
    assert_eq!(error["message"], "Internal server error", "{}", answer.text);
    let request_id = error["extensions"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId: {}", answer.text));
    assert!(!request_id.is_empty());
    assert_eq!(
        answer
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(request_id),
        "the requestId is the response's x-request-id"
    );
    let lowercase = answer.text.to_lowercase();
    for leak in [
        "audit_event",
        "select",
        "no such table",
        "does not exist",
        "sqlx",
        "sqlite",
        "postgres",
    ] {
        assert!(
            !lowercase.contains(leak),
            "{leak:?} leaked: {}",
            answer.text
        );
    }
    // The cause is in the log, under the same request id.
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("internal error") && line.contains(request_id)),
        "the cause is logged with the request id"
    );

    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { id } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, reqwest::StatusCode::OK, "{}", answer.text);
    assert!(answer.body["data"]["organization"]["id"].is_string());
}
