//! Authorization belongs to the object (docs/DESIGN.md §3.6): whatever path leads to
//! a project, an SBOM or a token, a caller is handed it only if the
//! object's by-id query answers it for that caller. The graph walk below
//! follows every path of the schema from introspection, so a field added
//! tomorrow that forgets the rule fails it without anyone listing it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Value, json};

use crate::{
    ci_tokens::{CYCLONEDX, data, project_manager_role},
    helpers::{ADMIN_PASSWORD, TestApp, spawn_app},
};

/// Object types with a by-id query, and that query's root field.
const BY_ID: [(&str, &str); 3] = [("Project", "project"), ("Sbom", "sbom"), ("Token", "token")];

/// How many entity hops a walked path takes at most (connection
/// wrappers, `edges` and `node`, are not hops).
const DEPTH: usize = 5;

/// A field of an object type, as introspection describes it.
#[derive(Clone, Debug)]
struct FieldInfo {
    name: String,
    /// The named type it returns, unwrapped of lists and non-null.
    returns: String,
    /// Names of required arguments.
    required: Vec<String>,
    /// Whether it pages with `first` (kept small, within the limits).
    pages: bool,
}

/// Object types by name, each with its object-valued fields, and whether
/// it has an `id`.
struct SchemaMap {
    objects: BTreeMap<String, (Vec<FieldInfo>, bool)>,
}

fn unwrap_named(ty: &Value) -> (String, String) {
    let mut t = ty;
    while t["name"].is_null() {
        t = &t["ofType"];
    }
    (
        t["name"].as_str().unwrap_or_default().to_owned(),
        t["kind"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn schema_map(app: &TestApp, token: &str) -> SchemaMap {
    const TYPE_REF: &str =
        "kind name ofType { kind name ofType { kind name ofType { kind name } } }";
    let query = format!(
        "{{ __schema {{ types {{ name kind fields {{ name args {{ name defaultValue type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }} }} }} }}"
    );
    let answer = app.gql(Some(token), &query, json!({})).await;
    let types = answer.body["data"]["__schema"]["types"]
        .as_array()
        .unwrap_or_else(|| panic!("introspection: {}", answer.text));
    let mut objects = BTreeMap::new();
    for ty in types {
        let name = ty["name"].as_str().unwrap_or_default();
        if ty["kind"] != "OBJECT" || name.starts_with("__") {
            continue;
        }
        let mut fields = Vec::new();
        let mut has_id = false;
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap_or_default().to_owned();
            if field_name == "id" {
                has_id = true;
            }
            let (returns, kind) = unwrap_named(&field["type"]);
            if kind != "OBJECT" {
                continue;
            }
            let required = field["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null())
                .map(|a| a["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            let pages = field["args"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["name"] == "first");
            fields.push(FieldInfo {
                name: field_name,
                returns,
                required,
                pages,
            });
        }
        objects.insert(name.to_owned(), (fields, has_id));
    }
    SchemaMap { objects }
}

/// One step of a path: a field, with its arguments written out.
#[derive(Clone, Debug)]
struct Step {
    field: String,
    args: String,
    returns: String,
}

fn is_wrapper(type_name: &str) -> bool {
    type_name.ends_with("Connection") || type_name.ends_with("Edge") || type_name == "PageInfo"
}

/// A paging field's arguments: a small page, within the limits.
fn args_for(field: &FieldInfo) -> String {
    if field.pages {
        "(first: 3)".to_owned()
    } else {
        String::new()
    }
}

/// The query for `path`, selecting `__typename` and `id` at every level.
fn query_for(map: &SchemaMap, path: &[Step]) -> String {
    let mut inner = String::new();
    for step in path.iter().rev() {
        let has_id = map.objects.get(&step.returns).is_some_and(|(_, id)| *id);
        let own = if has_id {
            "__typename id"
        } else {
            "__typename"
        };
        inner = format!("{}{} {{ {own} {inner} }}", step.field, step.args);
    }
    format!("{{ {inner} }}")
}

/// Every (typename, id) in an answer.
fn collect_objects(value: &Value, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(ty)), Some(Value::String(id))) =
                (map.get("__typename"), map.get("id"))
            {
                found.insert((ty.clone(), id.clone()));
            }
            for v in map.values() {
                collect_objects(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_objects(v, found)),
        _ => {}
    }
}

/// Walks every path of the query type to [`DEPTH`] entity hops as
/// `token`, filling the by-id roots with every id in `ids`, and returns
/// every object it was handed with the path that handed it.
async fn walk(
    app: &TestApp,
    token: &str,
    map: &SchemaMap,
    ids: &BTreeSet<(String, String)>,
) -> BTreeMap<(String, String), String> {
    let mut seen = BTreeMap::new();
    let mut queue: VecDeque<(Vec<Step>, usize)> = VecDeque::new();
    let (root_fields, _) = &map.objects["Query"];
    for field in root_fields {
        if field.required.is_empty() {
            queue.push_back((
                vec![Step {
                    field: field.name.clone(),
                    args: args_for(field),
                    returns: field.returns.clone(),
                }],
                1,
            ));
        } else if field.required == ["id"] {
            for (_, id) in ids.iter().filter(|(ty, _)| *ty == field.returns) {
                queue.push_back((
                    vec![Step {
                        field: field.name.clone(),
                        args: format!("(id: \"{id}\")"),
                        returns: field.returns.clone(),
                    }],
                    1,
                ));
            }
        }
    }
    let mut requests = 0;
    let mut refused_as_too_complex = 0;
    while let Some((path, hops)) = queue.pop_front() {
        let query = query_for(map, &path);
        let answer = app.gql(Some(token), &query, json!({})).await;
        requests += 1;
        assert!(
            answer.status.is_success(),
            "{query}: HTTP {} {}",
            answer.status,
            answer.text
        );
        // A path the complexity limit refuses hands out nothing (the admins'
        // walk below shows every object is still reached by another
        // path); any other refusal would make the walk prove nothing.
        if answer.body["errors"][0]["message"] == "Query is too complex." {
            assert!(answer.body["data"].is_null(), "{query}: {}", answer.text);
            refused_as_too_complex += 1;
            continue;
        }
        assert!(
            !matches!(
                answer.error_code(),
                Some("GRAPHQL_VALIDATION_FAILED" | "QUERY_TOO_LARGE" | "BAD_REQUEST")
            ),
            "{query}: {}",
            answer.text
        );
        let mut found = BTreeSet::new();
        collect_objects(&answer.body["data"], &mut found);
        let produced_something = !found.is_empty() || {
            // Wrappers carry no id: a non-null answer still goes on.
            fn non_null_leaf(v: &Value) -> bool {
                match v {
                    Value::Object(m) => m.values().any(non_null_leaf),
                    Value::Array(a) => a.iter().any(non_null_leaf),
                    Value::Null => false,
                    _ => true,
                }
            }
            non_null_leaf(&answer.body["data"])
        };
        for object in found {
            seen.entry(object).or_insert_with(|| query.clone());
        }
        if !produced_something {
            continue;
        }
        let last = path.last().expect("a path has a step");
        let Some((fields, _)) = map.objects.get(&last.returns) else {
            continue;
        };
        for field in fields.iter().filter(|f| f.required.is_empty()) {
            let next_hops = hops + usize::from(!is_wrapper(&field.returns));
            if next_hops > DEPTH {
                continue;
            }
            // No edge twice on one path: cycles add nothing new.
            let edge = (&last.returns, &field.name);
            if path
                .windows(2)
                .any(|w| (&w[0].returns, &w[1].field) == edge)
            {
                continue;
            }
            let mut next = path.clone();
            next.push(Step {
                field: field.name.clone(),
                args: args_for(field),
                returns: field.returns.clone(),
            });
            queue.push_back((next, next_hops));
        }
        assert!(requests < 5000, "the walk does not end");
    }
    // Most paths must be answered, or the walk proves little.
    assert!(
        refused_as_too_complex * 4 < requests,
        "{refused_as_too_complex} of {requests} paths refused as too complex"
    );
    seen
}

/// Whether the by-id query answers `id` for `token`.
async fn by_id_answers(app: &TestApp, token: &str, root: &str, id: &str) -> bool {
    let answer = app
        .gql(
            Some(token),
            &format!("query($id: ID!) {{ {root}(id: $id) {{ id }} }}"),
            json!({ "id": id }),
        )
        .await;
    answer.body["data"][root]["id"] == id
}

/// The small fixture: one organization with two projects (an SBOM in
/// each, uploaded by a token restricted to that project), tokens
/// restricted to each, a trusted publisher, an audit trail; and another
/// organization with its own project and SBOM.
struct Fixture {
    callers: Vec<(&'static str, String)>,
    /// The token restricted to project b.
    b_token: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_session().await;
    let a = app.create_project("a").await;
    let b = app.create_project("b").await;
    let manager = project_manager_role(app, &admin).await;
    let mut restricted = HashMap::new();
    for (name, project) in [("a", &a), ("b", &b)] {
        let answer = app
            .gql(
                Some(&admin),
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
                json!({ "input": { "name": format!("ci {name}"), "roleId": manager, "projectIds": [project] } }),
            )
            .await;
        let secret = data(&answer, "createServiceToken")["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let upload = app
            .upload_sbom(
                &secret,
                project,
                &CYCLONEDX.replace("\"api\"", &format!("\"api-{name}\"")),
                "id",
            )
            .await;
        data(&upload, "uploadSbom");
        restricted.insert(name, secret);
    }
    let publisher = app
        .gql(
            Some(&admin),
            "mutation($input: CreateTrustedPublisherInput!) { createTrustedPublisher(input: $input) { id } }",
            json!({ "input": {
                "projectId": b,
                "issuer": "https://token.actions.githubusercontent.com",
                "audience": "lynk",
                "subject": "repo:acme/b:ref:refs/heads/main",
                "roleId": app.role_id("uploader").await.to_string(),
            } }),
        )
        .await;
    data(&publisher, "createTrustedPublisher");
    // An audit-only role and a viewer, both members with sessions.
    let auditor_role = app
        .gql(
            Some(&admin),
            r#"mutation { createRole(input: {name: "auditor", permissions: ["audit:read"]}) { id } }"#,
            json!({}),
        )
        .await;
    data(&auditor_role, "createRole");
    let auditor = app.add_member(&admin, "auditor@acme.test", "auditor").await;
    let viewer = app.add_member(&admin, "viewer@acme.test", "viewer").await;
    // The viewer's own personal token, scoped: the audit log names other
    // tokens it may not see.
    let (_, scoped) = app
        .create_personal_token(&viewer.session, Some(vec!["projects:read", "sboms:read"]))
        .await;
    let _ = app.create_personal_token(&admin, None).await;
    // Another organization, whose admin anyone could be.
    let other = app.other_organization("Other", "boss@other.test").await;
    let other_session = app.login("boss@other.test", ADMIN_PASSWORD).await;
    let theirs = app
        .gql(
            Some(&other_session),
            r#"mutation { createProject(input: {name: "theirs"}) { id } }"#,
            json!({}),
        )
        .await;
    let theirs = data(&theirs, "createProject")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let upload = app
        .upload_sbom(&other.token, &theirs, CYCLONEDX, "id")
        .await;
    data(&upload, "uploadSbom");
    Fixture {
        callers: vec![
            ("a token restricted to project a", restricted["a"].clone()),
            ("a scoped personal token", scoped),
            ("an audit-only role", auditor.session),
            ("a viewer", viewer.session),
            ("another organization's admin", other_session),
        ],
        b_token: restricted["b"].clone(),
    }
}

#[tokio::test]
async fn every_object_on_every_path_is_one_its_by_id_query_answers() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let admin = app.admin_session().await;
    let map = schema_map(&app, &admin).await;
    // Every id the fixture holds, found by walking as the admin of each
    // organization: the walk must reach every project, SBOM and token, or
    // it proves nothing.
    let other_admin = app.login("boss@other.test", ADMIN_PASSWORD).await;
    let mut ids = BTreeSet::new();
    for token in [&admin, &other_admin] {
        ids.extend(walk(&app, token, &map, &BTreeSet::new()).await.into_keys());
    }
    for (ty, _) in BY_ID {
        let count = ids.iter().filter(|(t, _)| t == ty).count();
        assert!(count >= 2, "the admins' walk found {count} {ty}: {ids:?}");
    }
    for (caller, token) in &fixture.callers {
        let seen = walk(&app, token, &map, &ids).await;
        let mut answers: HashMap<(String, String), bool> = HashMap::new();
        for ((ty, id), query) in &seen {
            let Some((_, root)) = BY_ID.iter().find(|(t, _)| t == ty) else {
                continue;
            };
            let key = (ty.clone(), id.clone());
            if !answers.contains_key(&key) {
                let answered = by_id_answers(&app, token, root, id).await;
                answers.insert(key.clone(), answered);
            }
            assert!(
                answers[&key],
                "{caller} was handed {ty} {id} by `{query}`, which `{root}(id)` refuses it"
            );
        }
    }
}

#[tokio::test]
async fn a_restricted_token_reads_no_other_projects_sboms_by_walking() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let restricted = &fixture.callers[0].1;
    let everything =
        r#"{ organization { tokens(first: 10) { edges { node { id projects { id name } } } } } }"#;
    let answer = app.gql(Some(restricted), everything, json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let tokens = answer.body["data"]["organization"]["tokens"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    // Only itself: the token restricted to b and every unrestricted token
    // are outside its projects.
    assert_eq!(tokens.len(), 1, "{}", answer.text);
    assert!(!answer.text.contains("\"b\""), "{}", answer.text);
    // The token restricted to b does not exist for it, nor b's SBOMs
    // through it.
    let by_b = app
        .gql(
            Some(&fixture.b_token),
            "{ viewer { token { id } } }",
            json!({}),
        )
        .await;
    let b_token_id = by_b.body["data"]["viewer"]["token"]["id"].clone();
    let answer = app
        .gql(
            Some(restricted),
            "query($id: ID!) { token(id: $id) { projects { sboms(first: 5) { edges { node { name } } } } } }",
            json!({ "id": b_token_id }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    assert!(!answer.text.contains("api-b"), "{}", answer.text);
}

#[tokio::test]
async fn the_audit_log_names_only_tokens_the_reader_may_see() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let auditor = &fixture.callers[2].1;
    let answer = app
        .gql(
            Some(auditor),
            "{ organization { auditEvents(first: 100) { edges { node { action actorToken { id } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let events = answer.body["data"]["organization"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text));
    assert!(events.len() > 5, "{}", answer.text);
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
    for event in events {
        assert_eq!(event["node"]["actorToken"], Value::Null, "{event}");
    }
}

#[tokio::test]
async fn a_project_restricted_token_is_a_project_level_credential() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let a = app.create_project("a").await;
    let b = app.create_project("b").await;
    // An admin role restricted to project a.
    let answer = app
        .gql(
            Some(&admin),
            "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { secret } }",
            json!({ "input": { "name": "wide", "roleId": app.role_id("admin").await.to_string(), "projectIds": [a] } }),
        )
        .await;
    let wide = data(&answer, "createServiceToken")["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (in_b, _) = {
        let answer = app
            .gql(
                Some(&admin),
                "mutation($input: CreateServiceTokenInput!) { createServiceToken(input: $input) { token { id } secret } }",
                json!({ "input": { "name": "b", "roleId": app.role_id("uploader").await.to_string(), "projectIds": [b] } }),
            )
            .await;
        let created = data(&answer, "createServiceToken");
        (
            created["token"]["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    };
    let forbidden = [
        (
            "mutation($r: ID!) { inviteMember(input: {email: \"new@acme.test\", roleId: $r}) { code } }",
            "members:write",
        ),
        (
            "mutation($r: ID!) { updateMemberRole(userId: $r, roleId: $r) { joinedAt } }",
            "members:write",
        ),
        (
            "mutation { updateOrganization(name: \"taken\") { name } }",
            "organization:write",
        ),
        (
            "mutation { createRole(input: {name: \"x\", permissions: []}) { id } }",
            "roles:write",
        ),
        (
            "mutation { createWebhook(input: {url: \"https://example.com/h\", events: [\"token.created\"]}) { secret } }",
            "webhooks:write",
        ),
        (
            "{ organization { members { edges { cursor } } } }",
            "members:read",
        ),
        (
            "{ organization { auditEvents { edges { cursor } } } }",
            "audit:read",
        ),
    ];
    let admin_role = app.role_id("admin").await.to_string();
    for (query, permission) in forbidden {
        let answer = app
            .gql(Some(&wide), query, json!({ "r": admin_role }))
            .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
        assert_eq!(
            answer.error_code(),
            Some("FORBIDDEN"),
            "{query}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"], permission,
            "{query}: {}",
            answer.text
        );
        answer.assert_error("FORBIDDEN", "restricted to some projects");
    }
    // Tokens of other projects do not exist for it.
    let answer = app
        .gql(
            Some(&wide),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": in_b }),
        )
        .await;
    assert_eq!(answer.error_code(), Some("NOT_FOUND"), "{}", answer.text);
    // Its effective permissions say so.
    let answer = app
        .gql(Some(&wide), "{ viewer { permissions } }", json!({}))
        .await;
    assert_eq!(
        answer.body["data"]["viewer"]["permissions"],
        json!([
            "tokens:read",
            "tokens:write",
            "projects:read",
            "projects:write",
            "projects:delete",
            "sboms:read",
            "sboms:write",
            "sboms:delete"
        ]),
        "{}",
        answer.text
    );
    // And it still works in its project.
    let upload = app.upload_sbom(&wide, &a, CYCLONEDX, "id").await;
    data(&upload, "uploadSbom");
}

#[tokio::test]
async fn a_secret_in_its_rotation_grace_manages_no_token() {
    let app = spawn_app().await;
    let (_, admin_service) = app.service_token("admin").await;
    let me = app
        .gql(
            Some(&admin_service),
            "{ viewer { token { id } } }",
            json!({}),
        )
        .await;
    let old_id = me.body["data"]["viewer"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app
        .gql(
            Some(&admin_service),
            "mutation($id: ID!) { rotateToken(id: $id, gracePeriodSeconds: 3600) { token { id } secret } }",
            json!({ "id": old_id }),
        )
        .await;
    let successor = data(&rotated, "rotateToken")["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_secret = data(&rotated, "rotateToken")["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // The old secret still reads.
    let answer = app
        .gql(Some(&admin_service), "{ organization { name } }", json!({}))
        .await;
    assert_eq!(answer.body["data"]["organization"]["name"], "Acme Corp");
    // It rotates nothing, revokes nothing but itself, mints nothing.
    let admin_role = app.role_id("admin").await.to_string();
    let attempts = [
        (
            "mutation($id: ID!) { rotateToken(id: $id) { secret } }",
            json!({ "id": successor }),
        ),
        (
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": successor }),
        ),
        (
            "mutation($r: ID!) { createServiceToken(input: {name: \"forever\", roleId: $r}) { secret } }",
            json!({ "r": admin_role }),
        ),
    ];
    for (query, variables) in attempts {
        let answer = app.gql(Some(&admin_service), query, variables).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(
            answer.error_code(),
            Some("FORBIDDEN"),
            "{query}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["requiredPermission"],
            "tokens:write"
        );
        assert!(
            answer.text.contains("rotation grace"),
            "{query}: {}",
            answer.text
        );
    }
    // The successor is intact.
    let answer = app
        .gql(
            Some(&new_secret),
            "{ viewer { token { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.body["data"]["viewer"]["token"]["status"], "ACTIVE");
    // Revoking the successor ends the predecessor's grace at once.
    let answer = app
        .gql(
            Some(&new_secret),
            "mutation($id: ID!) { revokeToken(id: $id) { status } }",
            json!({ "id": successor }),
        )
        .await;
    assert_eq!(data(&answer, "revokeToken")["status"], "REVOKED");
    for secret in [&admin_service, &new_secret] {
        let answer = app
            .gql(Some(secret), "{ organization { name } }", json!({}))
            .await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.error_code(), Some("UNAUTHORIZED"));
    }
}

#[tokio::test]
async fn an_exchange_payload_is_seen_by_the_credential_it_created() {
    use crate::trusted_publishing::{SUBJECT, SigningKey, TestIssuer, spawn_lynk, trust};
    let key = SigningKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = spawn_lynk().await;
    let admin = app.admin_session().await;
    let project = app.create_project("shop-api").await;
    let upload = app
        .upload_sbom(app.admin_token(), &project, CYCLONEDX, "id")
        .await;
    data(&upload, "uploadSbom");
    // An upload-only CI identity: it may not read the project's SBOMs.
    let role = app
        .gql(
            Some(&admin),
            r#"mutation { createRole(input: {name: "upload only", permissions: ["sboms:write"]}) { id } }"#,
            json!({}),
        )
        .await;
    let role = data(&role, "createRole")["id"].as_str().unwrap().to_owned();
    let answer = trust(
        &app,
        app.admin_token(),
        json!({ "projectId": project, "issuer": issuer.url(), "audience": "lynk",
                "subject": SUBJECT, "roleId": role }),
    )
    .await;
    data(&answer, "createTrustedPublisher");
    // Another organization's admin sends its own credential beside the
    // public exchange and walks the payload.
    let other = app.other_organization("Other", "boss@other.test").await;
    let walk = "mutation($token: String!, $projectId: ID!) { exchangeOidcToken(token: $token, projectId: $projectId) { secret token { id projects { id sboms(first: 5) { edges { node { name sha256 } } } } } } }";
    let answer = app
        .gql(
            Some(&other.token),
            walk,
            json!({ "token": key.sign(&issuer.claims()), "projectId": project }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let created = data(&answer, "exchangeOidcToken");
    assert!(created["secret"].is_string(), "{}", answer.text);
    // Seen by the exchanged credential, which lacks projects:read.
    assert_eq!(created["token"]["projects"], Value::Null, "{}", answer.text);
    assert_eq!(answer.error_code(), Some("FORBIDDEN"), "{}", answer.text);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["requiredPermission"],
        "projects:read"
    );
    assert!(!answer.text.contains("\"api\""), "{}", answer.text);
}
