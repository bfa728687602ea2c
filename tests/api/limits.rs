//! Limits that hold at execution (docs/DESIGN.md §4.3): every list costs its maximum
//! length × its children, each list's maximum is enforced where its rows
//! are written, at most 50 aliased fields per document, and a request that
//! resolves too many objects is stopped.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// POSTs `query` with the admin token, accepting
/// `application/graphql-response+json` (so a refused document is a 400).
async fn post(app: &TestApp, query: &str) -> Answer {
    app.send(
        app.client
            .post(app.url())
            .bearer_auth(app.admin_token())
            .header("Accept", GRAPHQL_RESPONSE)
            .json(&json!({ "query": query })),
    )
    .await
}

/// A document refused before execution: 400, no `data`, one error with
/// `message` and `GRAPHQL_VALIDATION_FAILED`.
fn assert_refused(answer: &Answer, message: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(
        answer.headers["content-type"], GRAPHQL_RESPONSE,
        "{}",
        answer.text
    );
    assert!(answer.body.get("data").is_none(), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["message"], message,
        "{}",
        answer.text
    );
    assert_eq!(answer.error_code(), Some("GRAPHQL_VALIDATION_FAILED"));
}

const TOO_COMPLEX: &str = "Query is too complex.";

fn mutation_ok<'a>(answer: &'a Answer, field: &str) -> &'a Value {
    let value = &answer.body["data"][field];
    assert!(
        !value.is_null() && answer.body["errors"].is_null(),
        "{field}: {}",
        answer.text
    );
    value
}

async fn create_publisher(app: &TestApp, project: &str, n: usize) -> Answer {
    let role = app.role_id("uploader").await;
    app.gql(
        Some(app.admin_token()),
        "mutation($input: CreateTrustedPublisherInput!) { createTrustedPublisher(input: $input) { id } }",
        json!({ "input": {
            "projectId": project,
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": "lynk",
            "subject": format!("repo:acme/shop-{n}:ref:refs/heads/main"),
            "roleId": role.to_string(),
        } }),
    )
    .await
}

#[tokio::test]
async fn a_project_trusts_at_most_50_publishers_and_their_chain_is_refused_before_execution() {
    let app = spawn_app().await;
    let project = app.create_project("shop").await;
    for n in 0..50 {
        mutation_ok(
            &create_publisher(&app, &project, n).await,
            "createTrustedPublisher",
        );
    }
    let answer = create_publisher(&app, &project, 50).await;
    answer.assert_error_exact(
        "CONFLICT",
        "this project already has 50 trusted publishers, the most it may have; delete one, or \
         use a subject ending in `:*` for several of one repository's jobs",
    );
    assert!(answer.body["data"].is_null(), "{}", answer.text);

    // One level of the list is fine, and shows all 50.
    let one = format!("{{ project(id: \"{project}\") {{ trustedPublishers {{ id subject }} }} }}");
    let answer = post(&app, &one).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["data"]["project"]["trustedPublishers"]
            .as_array()
            .map(Vec::len),
        Some(50)
    );
    // project > trustedPublishers > project > trustedPublishers > … costs
    // 50 × 50 × … and is refused before anything runs.
    let chain = format!(
        "{{ project(id: \"{project}\") {{ trustedPublishers {{ project {{ trustedPublishers {{ \
         project {{ trustedPublishers {{ id }} }} }} }} }} }} }}"
    );
    assert_refused(&post(&app, &chain).await, TOO_COMPLEX);
    let two = format!(
        "{{ project(id: \"{project}\") {{ trustedPublishers {{ project {{ trustedPublishers {{ id \
         subject }} }} }} }} }}"
    );
    assert_refused(&post(&app, &two).await, TOO_COMPLEX);
}

#[tokio::test]
async fn token_projects_cost_their_maximum_so_documents_stay_within_the_limit() {
    let app = spawn_app().await;
    let project = app.create_project("shop").await;
    let answer = app
        .gql(
            Some(app.admin_token()),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } } }",
            json!({ "input": {
                "name": "ci",
                "roleId": app.role_id("uploader").await.to_string(),
                "projectIds": [project],
            } }),
        )
        .await;
    let token = mutation_ok(&answer, "createServiceToken")["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token names up to 100 projects, each with up to `first` SBOMs, and
    // a document costs 1000: even one SBOM per project is over the limit.
    let documents = format!(
        "{{ token(id: \"{token}\") {{ projects {{ sboms(first: 1) {{ nodes {{ document }} }} }} }} }}"
    );
    assert_refused(&post(&app, &documents).await, TOO_COMPLEX);
    let many = format!(
        "{{ token(id: \"{token}\") {{ projects {{ sboms(first: 100) {{ nodes {{ id document }} }} }} }} }}"
    );
    assert_refused(&post(&app, &many).await, TOO_COMPLEX);
    // Their names are fine.
    let names = format!("{{ token(id: \"{token}\") {{ projects {{ id name }} }} }}");
    let answer = post(&app, &names).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["data"]["token"]["projects"][0]["name"], "shop",
        "{}",
        answer.text
    );
}

/// `count` aliases of `organization { id }`, as a selection.
fn aliases(count: usize) -> String {
    (0..count)
        .map(|i| format!("a{i}: organization {{ id }} "))
        .collect()
}

const TOO_MANY_ALIASES: &str = "the document has {n} aliased fields; at most 50 are accepted. \
                                Send separate requests, or select each field once";

fn too_many_aliases(n: usize) -> String {
    TOO_MANY_ALIASES.replace("{n}", &n.to_string())
}

#[tokio::test]
async fn a_thousand_aliases_are_refused_and_fifty_are_fine() {
    let app = spawn_app().await;
    let answer = post(&app, &format!("{{ {} }}", aliases(1000))).await;
    assert_refused(&answer, &too_many_aliases(1000));
    // Counted across the document, fragments included, once per use.
    let answer = post(
        &app,
        &format!(
            "{{ ...A ...A organization {{ ...B }} }} fragment A on Query {{ {} }} \
             fragment B on Organization {{ n: name }}",
            aliases(25)
        ),
    )
    .await;
    assert_refused(&answer, &too_many_aliases(51));
    let answer = post(
        &app,
        &format!(
            "query A {{ {} }} query B {{ {} }}",
            aliases(30),
            aliases(30)
        ),
    )
    .await;
    assert_refused(&answer, &too_many_aliases(60));
    // With `application/json`, the same refusal is a 200 (GraphQL over HTTP).
    let answer = app
        .gql(
            Some(app.admin_token()),
            &format!("{{ {} }}", aliases(51)),
            Value::Null,
        )
        .await;
    answer.assert_error_exact("GRAPHQL_VALIDATION_FAILED", &too_many_aliases(51));
    assert!(answer.body.get("data").is_none(), "{}", answer.text);

    let answer = post(&app, &format!("{{ {} }}", aliases(50))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    assert_eq!(
        answer.body["data"]["a49"]["id"],
        answer.body["data"]["a0"]["id"]
    );
    // The same text again (now from the document cache) is still fine.
    let again = post(&app, &format!("{{ {} }}", aliases(50))).await;
    assert_eq!(again.body, answer.body);
}

#[tokio::test]
async fn a_request_resolving_more_objects_than_allowed_is_stopped() {
    let app = spawn_app_with(|c| c.limits.max_resolved_objects = 10).await;
    // The catalog has more than 10 permissions.
    let answer = post(&app, "{ permissions { name } }").await;
    answer.assert_error_exact(
        "BAD_USER_INPUT",
        "this request resolves more than 10 objects, the most one request may; ask for \
         smaller pages or fewer lists",
    );
    assert_eq!(answer.body["errors"][0]["path"], json!(["permissions"]));
    assert!(answer.body["data"].is_null(), "{}", answer.text);
    // Counted across the request: 4 roles three times is 12.
    let answer = post(
        &app,
        "{ organization { a: roles { id } b: roles { id } c: roles { id } } }",
    )
    .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["errors"].as_array().map(Vec::len), Some(1));
    // Connections count their nodes as well: 4 + 4 + 4.
    for n in 0..4 {
        app.create_project(&format!("p{n}")).await;
    }
    let answer = post(
        &app,
        "{ organization { roles { id } a: projects { nodes { id } } b: projects { nodes { id } } } }",
    )
    .await;
    assert_eq!(
        answer.error_code(),
        Some("BAD_USER_INPUT"),
        "{}",
        answer.text
    );
    // Within the budget, and the budget is per request.
    for _ in 0..2 {
        let answer = post(
            &app,
            "{ organization { roles { id } projects { nodes { id } } } }",
        )
        .await;
        assert!(answer.body["errors"].is_null(), "{}", answer.text);
        assert_eq!(
            answer.body["data"]["organization"]["roles"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
    }
}

#[tokio::test]
async fn lists_without_a_cap_get_one_where_their_rows_are_written() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    // Roles: 4 built-in, 46 custom.
    let create_role = |n: usize| {
        format!(
            r#"mutation {{ createRole(input: {{name: "r{n}", permissions: ["projects:read"]}}) {{ id }} }}"#
        )
    };
    for n in 0..46 {
        mutation_ok(
            &app.gql(Some(&admin), &create_role(n), Value::Null).await,
            "createRole",
        );
    }
    let answer = app.gql(Some(&admin), &create_role(46), Value::Null).await;
    answer.assert_error_exact(
        "CONFLICT",
        "this organization already has 50 roles (built-in ones included), the most it may; \
         delete a custom role it no longer uses",
    );

    // Pending invitations.
    let viewer = app.role_id("viewer").await.to_string();
    let invite = |n: usize| json!({ "input": { "email": format!("person{n}@example.test"), "roleId": viewer } });
    const INVITE: &str =
        "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { code } }";
    for n in 0..100 {
        mutation_ok(
            &app.gql(Some(&admin), INVITE, invite(n)).await,
            "inviteMember",
        );
    }
    let answer = app.gql(Some(&admin), INVITE, invite(100)).await;
    answer.assert_error_exact(
        "CONFLICT",
        "this organization already has 100 pending invitations, the most it may; revoke one, \
         or wait for some to be accepted or to expire",
    );

    // Organizations a user belongs to: the bootstrap one and 99 more.
    const CREATE_ORG: &str = "mutation($name: String!) { createOrganization(name: $name) { id } }";
    for n in 0..99 {
        let answer = app
            .gql(
                Some(&admin),
                CREATE_ORG,
                json!({ "name": format!("org {n}") }),
            )
            .await;
        mutation_ok(&answer, "createOrganization");
    }
    let answer = app
        .gql(Some(&admin), CREATE_ORG, json!({ "name": "one too many" }))
        .await;
    answer.assert_error_exact(
        "CONFLICT",
        "this account already belongs to 100 organizations, the most one may",
    );
    let answer = app
        .gql(Some(&admin), "{ organizations { id } }", Value::Null)
        .await;
    assert_eq!(
        answer.body["data"]["organizations"]
            .as_array()
            .map(Vec::len),
        Some(100),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_list_of_typenames_costs_its_rows_all_the_same() {
    let app = spawn_app().await;
    // `__typename` costs nothing, but each node's row is fetched: before,
    // 48 connections of 100 rows under each of 100 projects cost 4,901.
    let inner: String = (0..48)
        .map(|i| format!("a{i}: sboms(first: 100) {{ __typename }} "))
        .collect();
    let answer = post(
        &app,
        &format!("{{ organization {{ projects(first: 100) {{ nodes {{ {inner} }} }} }} }}"),
    )
    .await;
    assert_refused(&answer, TOO_COMPLEX);
    let pages: String = (0..50)
        .map(|i| format!("p{i}: projects(first: 100) {{ __typename }} "))
        .collect();
    let answer = post(&app, &format!("{{ organization {{ {pages} }} }}")).await;
    assert_refused(&answer, TOO_COMPLEX);
    let answer = post(&app, "{ organization { roles { __typename } } }").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["data"]["organization"]["roles"][0]["__typename"],
        "Role"
    );
}

#[tokio::test]
async fn one_request_checks_at_most_one_password() {
    let app = spawn_app().await;
    let login = |alias: &str| {
        format!(r#"{alias}: login(email: "admin@example.com", password: "not it") {{ token }} "#)
    };
    let anonymous = |query: String| {
        app.send(
            app.client
                .post(app.url())
                .header("Accept", GRAPHQL_RESPONSE)
                .json(&json!({ "query": query })),
        )
    };
    let answer = anonymous(format!("mutation {{ {} {} }}", login("a"), login("b"))).await;
    assert_refused(&answer, TOO_COMPLEX);
    let session = app.admin_session().await;
    let change = |alias: &str| {
        format!(
            r#"{alias}: changePassword(currentPassword: "not it", newPassword: "long enough passphrase") "#
        )
    };
    let answer = app
        .send(
            app.client
                .post(app.url())
                .bearer_auth(&session)
                .header("Accept", GRAPHQL_RESPONSE)
                .json(
                    &json!({ "query": format!("mutation {{ {} {} }}", change("a"), change("b")) }),
                ),
        )
        .await;
    assert_refused(&answer, TOO_COMPLEX);
    // One is checked (and fails as a wrong password does).
    let answer = anonymous(format!("mutation {{ {} }}", login("a"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
}

#[tokio::test]
async fn a_connection_under_a_list_pays_for_its_statements() {
    let app = spawn_app().await;
    // One `sboms` statement per project: 24 of them under 100 projects
    // were 2,400 statements for a cost of 4,902.
    let inner: String = (0..24)
        .map(|i| format!("a{i}: sboms(first: 1) {{ __typename }} "))
        .collect();
    let answer = post(
        &app,
        &format!("{{ organization {{ projects(first: 100) {{ nodes {{ {inner} }} }} }} }}"),
    )
    .await;
    assert_refused(&answer, TOO_COMPLEX);
    // Four are fine.
    let inner: String = (0..4)
        .map(|i| format!("a{i}: sboms(first: 1) {{ __typename }} "))
        .collect();
    let answer = post(
        &app,
        &format!("{{ organization {{ projects(first: 100) {{ nodes {{ {inner} }} }} }} }}"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
}
