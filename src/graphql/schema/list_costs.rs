//! Every list of objects in the schema costs its maximum length × its
//! children (docs/DESIGN.md §4.3). The schema's SDL is walked for list fields, and
//! each one's multiplier is measured from the complexity async-graphql
//! computes at validation: a new list field without a complexity, or with
//! another maximum than the cap its rows are written under, fails here.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use async_graphql::{
    ServerError, ValidationResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation},
    parser::{
        parse_schema,
        types::{BaseType, FieldDefinition, Type, TypeKind, TypeSystemDefinition},
    },
};

use super::{LynkSchema, QueryLimits, builder, pagination::DEFAULT_PAGE_SIZE};
use crate::service::{
    invitation::MAX_PENDING_INVITATIONS, member::MAX_ORGANIZATIONS_PER_USER, role::MAX_ROLES,
    token_bulk::MAX_BULK_TOKENS, token_create::MAX_TOKEN_PROJECTS,
    trusted_publisher::MAX_PUBLISHERS_PER_PROJECT, webhook::MAX_WEBHOOKS,
};

/// Each plain list of objects, with the cap enforced where its rows are
/// written.
fn plain_lists() -> HashMap<&'static str, u64> {
    HashMap::from([
        ("Query.organizations", MAX_ORGANIZATIONS_PER_USER),
        (
            "Query.permissions",
            crate::auth::Permission::ALL.len() as u64,
        ),
        (
            "Query.webhookEvents",
            <crate::webhook::event::EventType as sea_orm::Iterable>::iter().len() as u64,
        ),
        ("Organization.invitations", MAX_PENDING_INVITATIONS),
        ("Organization.roles", MAX_ROLES),
        ("Organization.webhooks", MAX_WEBHOOKS),
        ("Project.trustedPublishers", MAX_PUBLISHERS_PER_PROJECT),
        // Capped where read: the most recent 200.
        (
            "Project.policyViolations",
            crate::graphql::schema::project::MAX_POLICY_VIOLATIONS as u64,
        ),
        ("Token.projects", MAX_TOKEN_PROJECTS as u64),
        (
            "Query.explainOidcExchange",
            crate::service::trusted_publisher::MAX_EXPLAINED_PUBLISHERS,
        ),
        (
            "TrustedPublisher.conditions",
            crate::auth::oidc::conditions::MAX_CONDITIONS as u64,
        ),
        (
            "TrustedPublisher.pinnedClaims",
            crate::auth::oidc::conditions::PINNABLE_CLAIMS.len() as u64,
        ),
        ("TokenPolicyChange.revokedTokens", MAX_BULK_TOKENS as u64),
        ("RevokeTokensPayload.tokens", MAX_BULK_TOKENS as u64),
    ])
}

/// Records the complexity validation computed, then stops the request.
#[derive(Clone, Default)]
struct Measure(Arc<Mutex<Option<usize>>>);

impl ExtensionFactory for Measure {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for Measure {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        *self.0.lock().expect("not poisoned") = Some(result.complexity);
        Err(vec![ServerError::new("measured", None)])
    }
}

struct Costs {
    schema: LynkSchema,
    measured: Measure,
}

impl Costs {
    fn new() -> Costs {
        let measured = Measure::default();
        let schema = builder(QueryLimits {
            depth: 64,
            complexity: usize::MAX,
            ..QueryLimits::default()
        })
        .extension(measured.clone())
        .finish();
        Costs { schema, measured }
    }

    async fn of(&self, query: &str) -> usize {
        *self.measured.0.lock().expect("not poisoned") = None;
        let response = self.schema.execute(query).await;
        self.measured
            .0
            .lock()
            .expect("not poisoned")
            .unwrap_or_else(|| panic!("{query} does not validate: {:?}", response.errors))
    }

    /// How many times a scalar field `leaf` counts when selected where
    /// `{}` is. (`__typename` would not do: it costs nothing.)
    async fn multiplier(&self, path: &str, leaf: &str) -> usize {
        let one = self.of(&path.replace("{}", leaf)).await;
        let two = self
            .of(&path.replace("{}", &format!("{leaf} t: {leaf}")))
            .await;
        two - one
    }
}

/// The named type under lists and non-nulls, and whether there is a list.
fn unwrap(ty: &Type) -> (&str, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.as_str(), false),
        BaseType::List(inner) => (unwrap(inner).0, true),
    }
}

/// Input objects whose every field is optional: `{ }` is one of them.
static EMPTY_INPUTS: std::sync::OnceLock<std::collections::HashSet<String>> =
    std::sync::OnceLock::new();

/// A literal for a required argument of a scalar type, or of an input
/// object whose fields are all optional; `None` for what a walk cannot
/// make up (other input objects, enums).
fn literal(ty: &Type) -> Option<&'static str> {
    match unwrap(ty) {
        (_, true) => Some("[]"),
        ("ID" | "String", false) => Some("\"0\""),
        ("Int", false) => Some("1"),
        ("Boolean", false) => Some("true"),
        // With a space: the walk's paths use `{}` as their hole.
        (name, false)
            if EMPTY_INPUTS
                .get()
                .is_some_and(|inputs| inputs.contains(name)) =>
        {
            Some("{ }")
        }
        _ => None,
    }
}

/// `name(args)` for a field whose required arguments can be written.
fn call(field: &FieldDefinition) -> Option<String> {
    let required: Option<Vec<String>> = field
        .arguments
        .iter()
        .filter(|arg| !arg.node.ty.node.nullable && arg.node.default_value.is_none())
        .map(|arg| {
            literal(&arg.node.ty.node).map(|value| format!("{}: {value}", arg.node.name.node))
        })
        .collect();
    let required = required?;
    Some(if required.is_empty() {
        field.name.node.to_string()
    } else {
        format!("{}({})", field.name.node, required.join(", "))
    })
}

/// A selection of one scalar of `object`: a scalar field without required
/// arguments, or else one inside its first object field that is not a
/// list (a mutation's payload may hold no scalar of its own).
fn leaf(objects: &HashMap<String, Vec<FieldDefinition>>, object: &str) -> String {
    let plain =
        |field: &&FieldDefinition| field.arguments.iter().all(|arg| arg.node.ty.node.nullable);
    if let Some(field) = objects[object]
        .iter()
        .filter(plain)
        .find(|field| !objects.contains_key(unwrap(&field.ty.node).0))
    {
        return field.name.node.to_string();
    }
    objects[object]
        .iter()
        .filter(plain)
        .find(|field| !unwrap(&field.ty.node).1)
        .map(|field| {
            let inner = leaf(objects, unwrap(&field.ty.node).0);
            format!("{} {{ {inner} }}", field.name.node)
        })
        .unwrap_or_else(|| panic!("{object} has no scalar field"))
}

#[tokio::test]
async fn every_list_of_objects_costs_its_maximum_length_times_its_children() {
    let sdl = super::sdl();
    let document = parse_schema(&sdl).expect("the SDL parses");
    let mut objects: HashMap<String, Vec<FieldDefinition>> = HashMap::new();
    let mut empty_inputs = std::collections::HashSet::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        match ty.node.kind {
            TypeKind::Object(object) => {
                objects.insert(
                    ty.node.name.node.to_string(),
                    object.fields.into_iter().map(|f| f.node).collect(),
                );
            }
            TypeKind::InputObject(input)
                if input.fields.iter().all(|f| f.node.ty.node.nullable) =>
            {
                empty_inputs.insert(ty.node.name.node.to_string());
            }
            _ => {}
        }
    }
    EMPTY_INPUTS.get_or_init(|| empty_inputs);

    // The shortest selection reaching each object type, `{}` where its
    // fields go.
    let mut paths: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::new();
    for (root, path) in [("Query", "{ {} }"), ("Mutation", "mutation { {} }")] {
        paths.insert(root.to_owned(), path.to_owned());
        queue.push_back(root.to_owned());
    }
    while let Some(name) = queue.pop_front() {
        for field in &objects[&name] {
            let (target, _) = unwrap(&field.ty.node);
            if !objects.contains_key(target) || paths.contains_key(target) {
                continue;
            }
            if let Some(call) = call(field) {
                let path = paths[&name].replace("{}", &format!("{call} {{ {{}} }}"));
                paths.insert(target.to_owned(), path);
                queue.push_back(target.to_owned());
            }
        }
    }

    let costs = Costs::new();
    let mut expected = plain_lists();
    let mut checked = 0;
    let mut names: Vec<&String> = objects.keys().collect();
    names.sort();
    for name in names {
        let is_connection = name.ends_with("Connection");
        for field in &objects[name] {
            let (target, is_list) = unwrap(&field.ty.node);
            let key = format!("{name}.{}", field.name.node);
            let Some(path) = paths.get(name) else {
                assert!(
                    !is_list || !objects.contains_key(target),
                    "{key} is a list of objects on a type this walk cannot reach: extend the walk"
                );
                continue;
            };
            let inside = |selection: &str| {
                let call = call(field).unwrap_or_else(|| panic!("{key}: arguments to write"));
                path.replace("{}", &format!("{call} {{ {selection} }}"))
            };
            // How many times the parent object itself counts.
            let parent = || async {
                if matches!(name.as_str(), "Query" | "Mutation") {
                    1
                } else {
                    {
                        // A nested leaf (`policy { maxTokenLifetimeDays }`)
                        // counts each of its fields.
                        let selection = leaf(&objects, name);
                        let fields = selection.matches('{').count() + 1;
                        costs.multiplier(path, &selection).await / fields
                    }
                }
            };
            if target.ends_with("Connection") && objects.contains_key(target) {
                let node = unwrap(
                    &objects[target]
                        .iter()
                        .find(|f| f.name.node == "nodes")
                        .expect("nodes")
                        .ty
                        .node,
                )
                .0;
                let multiplier = costs
                    .multiplier(&inside("nodes { {} }"), &leaf(&objects, node))
                    .await
                    / parent().await;
                assert_eq!(
                    multiplier, DEFAULT_PAGE_SIZE as usize,
                    "{key} is a connection: give it `connection_complexity`"
                );
                checked += 1;
            } else if is_list && objects.contains_key(target) && !is_connection {
                let multiplier = costs
                    .multiplier(&inside("{}"), &leaf(&objects, target))
                    .await
                    / parent().await;
                let cap = expected.remove(key.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{key} is a list of objects: cap its rows where they are written, give \
                         it `list_complexity(CAP, child_complexity)` and add it to \
                         `plain_lists` (it costs {multiplier} × its children)"
                    )
                });
                assert_eq!(
                    multiplier as u64, cap,
                    "{key} costs {multiplier} × its children; its cap is {cap}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        expected.is_empty(),
        "no longer in the schema: {:?}",
        expected.keys()
    );
    assert!(checked > 10, "{checked} lists checked");
}
