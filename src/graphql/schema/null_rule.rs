//! GraphQL's rule for a field that fails (spec §6.4.4, "Handling Execution
//! Errors"): the error is reported and the field is `null` when its type
//! is nullable; otherwise the `null` goes up to the nearest nullable
//! field, or to `data` itself. async-graphql 7 instead leaves a failed
//! field out of its object (and an object all of whose fields failed is
//! `null`). [`apply`] puts the rule back on the finished response, so that
//! a response never lacks a selected field and never holds `null` where
//! the schema says non-null (docs/DESIGN.md §4): a field the caller may
//! not read is nullable, so it is `null` beside its siblings.
//!
//! It runs after execution and only for a response with errors, reading
//! each error's path against the operation and the schema's field types
//! ([`FieldTypes`]): a request that fails nowhere pays nothing for it. (An
//! execution extension could apply the rule field by field, but
//! registering any extension moves every field and list item of every
//! request onto async-graphql's slower path; BENCHMARKS.md.)

use std::collections::HashMap;

use async_graphql::{
    Name, PathSegment, Value,
    parser::{
        parse_schema,
        types::{
            BaseType, ExecutableDocument, OperationType, SelectionSet, Type, TypeKind,
            TypeSystemDefinition,
        },
    },
};

use super::response_order::{Keys, operation};

/// The type of every field of the schema's object and interface types,
/// read once from its SDL.
pub struct FieldTypes {
    /// Parent type name → field name → the field's type.
    fields: HashMap<String, HashMap<String, Type>>,
    query: String,
    mutation: String,
}

impl FieldTypes {
    /// The field types of the schema whose SDL is `sdl`.
    pub fn from_sdl(sdl: &str) -> FieldTypes {
        let mut types = FieldTypes {
            fields: HashMap::new(),
            query: "Query".to_owned(),
            mutation: "Mutation".to_owned(),
        };
        // The SDL is the schema's own: it parses. Should it not, no field
        // has a known type and every failed field is answered `null`.
        let Ok(document) = parse_schema(sdl) else {
            return types;
        };
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(query) = schema.node.query {
                        types.query = query.node.to_string();
                    }
                    if let Some(mutation) = schema.node.mutation {
                        types.mutation = mutation.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let fields = match ty.node.kind {
                        TypeKind::Object(object) => object.fields,
                        TypeKind::Interface(interface) => interface.fields,
                        _ => continue,
                    };
                    types.fields.insert(
                        ty.node.name.node.to_string(),
                        fields
                            .into_iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                            .collect(),
                    );
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        types
    }

    fn field(&self, parent: &str, field: &str) -> Option<&Type> {
        self.fields.get(parent)?.get(field)
    }
}

/// Applies the rule to a response's `data`, given the errors met while
/// executing `operation_name` of `document`.
pub fn apply(
    types: &FieldTypes,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    errors: &[async_graphql::ServerError],
    data: &mut Value,
) {
    let Some(operation) = operation(document, operation_name) else {
        return;
    };
    let root = match operation.ty {
        OperationType::Mutation => types.mutation.as_str(),
        _ => types.query.as_str(),
    };
    // First every failed field is `null` in place (its object made again
    // where all of its fields failed); then each failed non-null field's
    // `null` moves up. In that order, an object emptied by its own failed
    // fields is not taken for one nulled by a failure below it.
    let mut failed = Vec::with_capacity(errors.len());
    for error in errors {
        if let Some(depth) = null_in_place(data, &error.path) {
            failed.push(&error.path[..=depth]);
        }
    }
    for path in failed {
        let nullable = nullability(types, document, root, &operation.selection_set.node, path);
        match nullable.iter().rposition(|&nullable| nullable) {
            Some(depth) if depth + 1 == path.len() => {}
            Some(depth) => {
                if let Some(value) = value_at(data, &path[..=depth]) {
                    *value = Value::Null;
                }
            }
            None => {
                *data = Value::Null;
                return;
            }
        }
    }
}

/// Puts `null` where the field at `path` failed; the depth of the failed
/// position (a list whose item failed is itself missing, so the failure is
/// the first missing field on the way), or `None` when `path` leads
/// nowhere.
fn null_in_place(data: &mut Value, path: &[PathSegment]) -> Option<usize> {
    let mut value = data;
    for (depth, segment) in path.iter().enumerate() {
        match segment {
            PathSegment::Field(key) => {
                if *value == Value::Null {
                    *value = Value::Object(Default::default());
                }
                let Value::Object(map) = value else {
                    return None;
                };
                let name = Name::new(key);
                if !map.contains_key(&name) {
                    map.insert(name, Value::Null);
                    return Some(depth);
                }
                value = map.get_mut(key.as_str())?;
            }
            PathSegment::Index(index) => match value {
                Value::List(items) => value = items.get_mut(*index)?,
                _ => return None,
            },
        }
    }
    path.len().checked_sub(1)
}

/// The value at `path`, if it is still there.
fn value_at<'v>(data: &'v mut Value, path: &[PathSegment]) -> Option<&'v mut Value> {
    let mut value = data;
    for segment in path {
        value = match (segment, value) {
            (PathSegment::Field(key), Value::Object(map)) => map.get_mut(key.as_str())?,
            (PathSegment::Index(index), Value::List(items)) => items.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Whether each position of `path` may be `null`, from the types of the
/// fields the operation selects along it. A position whose type is not
/// known (an introspection field) counts as nullable.
fn nullability<'d>(
    types: &FieldTypes,
    document: &'d ExecutableDocument,
    root: &str,
    selection: &'d SelectionSet,
    path: &[PathSegment],
) -> Vec<bool> {
    let mut nullable = Vec::with_capacity(path.len());
    let mut parent = Some(root.to_owned());
    let mut sets = vec![selection];
    let mut current: Option<&Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let keys = Keys::of(document, &sets);
                let selected = keys.get(key);
                current = selected.and_then(|selected| {
                    types.field(parent.as_deref()?, selected.field.name.node.as_str())
                });
                sets = selected
                    .map(|selected| selected.sets.clone())
                    .unwrap_or_default();
            }
            PathSegment::Index(_) => {
                current = current.and_then(|ty| match &ty.base {
                    BaseType::List(item) => Some(&**item),
                    BaseType::Named(_) => None,
                });
            }
        }
        nullable.push(current.is_none_or(|ty| ty.nullable));
        parent = current.map(|ty| named(ty).to_owned());
    }
    nullable
}

/// The named type under a type's lists.
fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => named(item),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{
        EmptyMutation, EmptySubscription, Object, Schema, parser::parse_query, value,
    };

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn parent(&self) -> Parent {
            Parent
        }

        async fn maybe_parent(&self) -> Option<Parent> {
            Some(Parent)
        }

        async fn parents(&self) -> Option<Vec<Parent>> {
            Some(vec![Parent, Parent])
        }

        async fn absent(&self) -> Option<Parent> {
            None
        }
    }

    struct Parent;

    #[Object]
    impl Parent {
        async fn name(&self) -> &str {
            "acme"
        }

        async fn guarded(&self) -> async_graphql::Result<Option<i32>> {
            Err("Forbidden".into())
        }

        async fn strict(&self) -> async_graphql::Result<i32> {
            Err("broken".into())
        }

        async fn child(&self) -> Parent {
            Parent
        }
    }

    async fn run(query: &str) -> async_graphql::Response {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let types = FieldTypes::from_sdl(&schema.sdl());
        let mut response = schema.execute(query).await;
        let document = parse_query(query).unwrap();
        apply(
            &types,
            &document,
            None,
            &response.errors,
            &mut response.data,
        );
        response
    }

    fn paths(response: &async_graphql::Response) -> Vec<String> {
        response
            .errors
            .iter()
            .map(|e| serde_json::to_string(&e.path).unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_beside_its_siblings() {
        let response = run("{ parent { name guarded } }").await;
        assert_eq!(
            response.data,
            value!({"parent": {"name": "acme", "guarded": null}})
        );
        assert_eq!(paths(&response), [r#"["parent","guarded"]"#]);
        assert_eq!(response.errors[0].message, "Forbidden");
    }

    #[tokio::test]
    async fn an_object_whose_only_fields_failed_keeps_them_as_null() {
        let response = run("{ parent { guarded g: guarded } }").await;
        assert_eq!(
            response.data,
            value!({"parent": {"guarded": null, "g": null}})
        );
        let response = run("{ parent { child { guarded } } absent { guarded } }").await;
        assert_eq!(
            response.data,
            value!({"parent": {"child": {"guarded": null}}, "absent": null})
        );
    }

    #[tokio::test]
    async fn a_failed_non_null_field_nulls_the_nearest_nullable_ancestor() {
        let response = run("{ maybeParent { name strict } parent { name } }").await;
        assert_eq!(
            response.data,
            value!({"maybeParent": null, "parent": {"name": "acme"}})
        );
        assert_eq!(paths(&response), [r#"["maybeParent","strict"]"#]);

        let response = run("{ parents { name strict } }").await;
        assert_eq!(response.data, value!({"parents": null}));
        assert_eq!(
            paths(&response),
            [r#"["parents",0,"strict"]"#, r#"["parents",1,"strict"]"#]
        );

        let response = run("{ maybeParent { child { child { x: strict } } } }").await;
        assert_eq!(response.data, value!({"maybeParent": null}));
    }

    #[tokio::test]
    async fn fragments_and_aliases_are_followed() {
        let response = run("{ p: maybeParent { ...F } parent { name } } \
             fragment F on Parent { ... on Parent { c: child { s: strict } } }")
        .await;
        assert_eq!(
            response.data,
            value!({"p": null, "parent": {"name": "acme"}})
        );
    }

    #[tokio::test]
    async fn a_failed_non_null_field_without_a_nullable_ancestor_nulls_data() {
        let response = run("{ parent { strict } maybeParent { name } }").await;
        assert_eq!(response.data, Value::Null);
        assert_eq!(paths(&response), [r#"["parent","strict"]"#]);
    }

    #[tokio::test]
    async fn a_response_without_errors_is_untouched() {
        let response = run("{ parent { name } parents { name } }").await;
        assert!(response.errors.is_empty());
        assert_eq!(
            response.data,
            value!({"parent": {"name": "acme"}, "parents": [{"name": "acme"}, {"name": "acme"}]})
        );
    }
}
