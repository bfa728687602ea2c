//! Response keys in selection order.
//!
//! GraphQL's execution algorithm orders a response's keys as the
//! selection set orders its fields, and GraphQL over HTTP says a server
//! SHOULD keep that order. async-graphql 7 resolves a query's fields
//! concurrently and inserts each as it completes, so two identical
//! requests can come back in different orders. [`reorder`] puts the keys
//! back, walking the response beside the operation's selection sets. It
//! descends only where the response has values, expands each fragment
//! once per object, and works out the keys of a selection once for all
//! the objects of a list, so its work is bounded by the response, whatever
//! the document; an object already in order is only read.

use std::cell::OnceCell;

use async_graphql::{
    Name, Value,
    parser::types::{
        DocumentOperations, ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet,
    },
};

/// Orders every object of `data` as the operation's selection sets order
/// their response keys. `data` is left as it is when the operation is not
/// in `document`.
pub fn reorder(document: &ExecutableDocument, operation_name: Option<&str>, data: &mut Value) {
    if let Some(operation) = operation(document, operation_name) {
        let keys = Keys::of(document, &[&operation.selection_set.node]);
        reorder_value(document, &keys, data);
    }
}

/// The operation a request runs: the one named, or the only one.
pub(super) fn operation<'d>(
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

/// The response keys of some selection sets in order of first appearance,
/// each with the selection sets of the fields behind it (the same key may
/// be selected more than once, directly or through fragments) and their
/// own keys, worked out when first needed. [`super::null_rule`] reads the
/// fields behind a key through it too.
pub(super) struct Keys<'d> {
    keys: Vec<Key<'d>>,
}

pub(super) struct Key<'d> {
    name: &'d Name,
    /// The first field selected under this response key (fields that
    /// share a key share a name, or validation refuses the document).
    pub(super) field: &'d Field,
    /// Their selection sets, those that are not empty.
    pub(super) sets: Vec<&'d SelectionSet>,
    children: OnceCell<Keys<'d>>,
}

impl<'d> Keys<'d> {
    pub(super) fn of(document: &'d ExecutableDocument, sets: &[&'d SelectionSet]) -> Keys<'d> {
        let mut keys = Keys { keys: Vec::new() };
        let mut expanded = Vec::new();
        for set in sets {
            keys.collect(document, set, &mut expanded);
        }
        keys
    }

    fn rank(&self, name: &Name) -> Option<usize> {
        self.keys.iter().position(|key| key.name == name)
    }

    /// The key `name`, if the selection sets select it.
    pub(super) fn get(&self, name: &str) -> Option<&Key<'d>> {
        self.keys.iter().find(|key| key.name.as_str() == name)
    }

    fn collect(
        &mut self,
        document: &'d ExecutableDocument,
        set: &'d SelectionSet,
        expanded: &mut Vec<&'d Name>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = &field.node.response_key().node;
                    let children = &field.node.selection_set.node;
                    let index = match self.rank(name) {
                        Some(index) => index,
                        None => {
                            self.keys.push(Key {
                                name,
                                field: &field.node,
                                sets: Vec::new(),
                                children: OnceCell::new(),
                            });
                            self.keys.len() - 1
                        }
                    };
                    if !children.items.is_empty() {
                        self.keys[index].sets.push(children);
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
                        self.collect(document, &fragment.node.selection_set.node, expanded);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.collect(document, &fragment.node.selection_set.node, expanded);
                }
            }
        }
    }
}

fn reorder_value<'d>(document: &'d ExecutableDocument, keys: &Keys<'d>, value: &mut Value) {
    match value {
        Value::List(items) => {
            for item in items {
                reorder_value(document, keys, item);
            }
        }
        Value::Object(map) => {
            if !map.keys().map(|name| keys.rank(name)).is_sorted() {
                map.sort_by_cached_key(|name, _| keys.rank(name));
            }
            for (name, child) in map.iter_mut() {
                if matches!(child, Value::Object(_) | Value::List(_))
                    && let Some(key) = keys.keys.iter().find(|key| key.name == name)
                {
                    let children = key.children.get_or_init(|| Keys::of(document, &key.sets));
                    reorder_value(document, children, child);
                }
            }
        }
        _ => {}
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
