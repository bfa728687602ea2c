//! Response keys in selection order.
//!
//! GraphQL's execution algorithm orders a response's keys as the
//! selection set orders its fields, and GraphQL over HTTP says a server
//! SHOULD keep that order. async-graphql 7 resolves a query's fields
//! concurrently and inserts each as it completes, so two identical
//! requests can come back in different orders. [`reorder`] puts the keys
//! back, walking the response beside the operation's selection sets. It
//! descends only where the response has values, and expands each fragment
//! once per object, so its work is bounded by the response, whatever the
//! document.

use async_graphql::{
    Name, Value,
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
    },
};

/// Orders every object of `data` as the operation's selection sets order
/// their response keys. `data` is left as it is when the operation is not
/// in `document`.
pub fn reorder(document: &ExecutableDocument, operation_name: Option<&str>, data: &mut Value) {
    if let Some(operation) = operation(document, operation_name) {
        reorder_value(document, &[&operation.selection_set.node], data);
    }
}

fn operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|op| &op.node)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|op| &op.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn reorder_value(document: &ExecutableDocument, sets: &[&SelectionSet], value: &mut Value) {
    match value {
        Value::List(items) => {
            for item in items {
                reorder_value(document, sets, item);
            }
        }
        Value::Object(map) => {
            let keys = response_keys(document, sets);
            let rank = |key: &Name| keys.iter().position(|(k, _)| *k == key);
            if !map.keys().map(rank).is_sorted() {
                map.sort_by_cached_key(|key, _| rank(key));
            }
            for (key, child) in map.iter_mut() {
                if matches!(child, Value::Object(_) | Value::List(_))
                    && let Some((_, children)) = keys.iter().find(|(k, _)| *k == key)
                {
                    reorder_value(document, children, child);
                }
            }
        }
        _ => {}
    }
}

/// The response keys of `sets` in order of first appearance, each with the
/// selection sets of the fields behind it (the same key may be selected
/// more than once, directly or through fragments).
fn response_keys<'d>(
    document: &'d ExecutableDocument,
    sets: &[&'d SelectionSet],
) -> Vec<(&'d Name, Vec<&'d SelectionSet>)> {
    let mut keys = Vec::new();
    let mut expanded = Vec::new();
    for set in sets {
        collect(document, set, &mut keys, &mut expanded);
    }
    keys
}

fn collect<'d>(
    document: &'d ExecutableDocument,
    set: &'d SelectionSet,
    keys: &mut Vec<(&'d Name, Vec<&'d SelectionSet>)>,
    expanded: &mut Vec<&'d Name>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let children = &field.node.selection_set.node;
                let index = match keys.iter().position(|(k, _)| *k == key) {
                    Some(index) => index,
                    None => {
                        keys.push((key, Vec::new()));
                        keys.len() - 1
                    }
                };
                if !children.items.is_empty() {
                    keys[index].1.push(children);
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                // Each fragment once per object: a fragment spread twice
                // adds no key, and a cycle (which validation refuses) ends.
                if expanded.contains(&name) {
                    continue;
                }
                expanded.push(name);
                if let Some(fragment) = document.fragments.get(name) {
                    collect(document, &fragment.node.selection_set.node, keys, expanded);
                }
            }
            Selection::InlineFragment(fragment) => {
                collect(document, &fragment.node.selection_set.node, keys, expanded);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn ordered(query: &str, response: serde_json::Value) -> String {
        let document = parse_query(query).unwrap();
        let mut data = Value::from_json(response).unwrap();
        reorder(&document, None, &mut data);
        serde_json::to_string(&data).unwrap()
    }

    #[test]
    fn keys_follow_the_selection_nested_and_in_lists() {
        let query =
            "{ viewer { kind user { email id } permissions } tokens { nodes { name id } } }";
        let response = serde_json::json!({
            "tokens": { "nodes": [ { "id": 1, "name": "a" }, { "id": 2, "name": "b" } ] },
            "viewer": { "permissions": [], "user": { "id": 3, "email": "e" }, "kind": "K" }
        });
        assert_eq!(
            ordered(query, response),
            r#"{"viewer":{"kind":"K","user":{"email":"e","id":3},"permissions":[]},"tokens":{"nodes":[{"name":"a","id":1},{"name":"b","id":2}]}}"#
        );
    }

    #[test]
    fn aliases_and_fragments_keep_their_first_position() {
        let query = "query { a: organization { ...F name } b: organization { name } } \
                     fragment F on Organization { id ... on Organization { createdAt } }";
        let response = serde_json::json!({
            "b": { "name": "n" },
            "a": { "name": "n", "createdAt": "t", "id": "i" }
        });
        assert_eq!(
            ordered(query, response),
            r#"{"a":{"id":"i","createdAt":"t","name":"n"},"b":{"name":"n"}}"#
        );
    }

    #[test]
    fn cyclic_fragments_end() {
        let query = "{ organization { ...A } } fragment A on Organization { id ...B } \
                     fragment B on Organization { name ...A }";
        let response = serde_json::json!({ "organization": { "name": "n", "id": "i" } });
        assert_eq!(
            ordered(query, response),
            r#"{"organization":{"id":"i","name":"n"}}"#
        );
    }

    #[test]
    fn an_unknown_operation_leaves_the_data_alone() {
        let document = parse_query("query A { x } query B { y }").unwrap();
        let mut data = Value::from_json(serde_json::json!({ "y": 1, "x": 2 })).unwrap();
        let before = serde_json::to_string(&data).unwrap();
        reorder(&document, None, &mut data);
        assert_eq!(serde_json::to_string(&data).unwrap(), before);
    }
}
