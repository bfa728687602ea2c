//! What an operation is, decided before execution: its type (for the
//! GET-is-for-queries rule) and whether it touches only public fields
//! (the only thing an anonymous caller may run).

use async_graphql::parser::{
    parse_query,
    types::{DocumentOperations, OperationType, Selection},
};

/// Root fields an unauthenticated caller may use.
pub const PUBLIC_MUTATIONS: [&str; 2] = ["login", "acceptInvitation"];

/// The parts of an operation the HTTP layer decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationInfo {
    pub operation_type: OperationType,
    /// True when every root field is public.
    pub public: bool,
}

/// Parses the document and picks the operation; `None` when the document
/// does not parse or the operation is not there (execution reports why).
pub fn analyze(query: &str, operation_name: Option<&str>) -> Option<OperationInfo> {
    let document = parse_query(query).ok()?;
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    let items = &operation.node.selection_set.node.items;
    // Fragments at the root are allowed only when authenticated: keeping
    // the public check syntactic keeps it obviously right.
    let public = operation.node.ty == OperationType::Mutation
        && !items.is_empty()
        && items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                PUBLIC_MUTATIONS.contains(&name) || name == "__typename"
            }
            _ => false,
        });
    Some(OperationInfo {
        operation_type: operation.node.ty,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(query: &str) -> bool {
        analyze(query, None).is_some_and(|i| i.public)
    }

    #[test]
    fn only_login_and_accept_invitation_are_public() {
        assert!(public(
            r#"mutation { login(email: "a", password: "b") { token } }"#
        ));
        assert!(public(
            r#"mutation { acceptInvitation(input: {code: "", name: "", password: ""}) { token } }"#
        ));
        assert!(public(
            r#"mutation { a: login(email: "a", password: "b") { token } }"#
        ));
        assert!(!public(
            r#"mutation { login(email: "a", password: "b") { token } logout }"#
        ));
        assert!(!public("query { organization { id } }"));
        assert!(!public("query { login }"));
        assert!(!public("{ __schema { types { name } } }"));
        assert!(!public(
            "mutation { ...F } fragment F on Mutation { logout }"
        ));
        assert!(!public("not graphql"));
    }

    #[test]
    fn operation_is_chosen_by_name() {
        let doc = "query A { organization { id } } mutation B { logout }";
        assert_eq!(
            analyze(doc, Some("B")).map(|i| i.operation_type),
            Some(OperationType::Mutation)
        );
        assert_eq!(
            analyze(doc, Some("A")).map(|i| i.operation_type),
            Some(OperationType::Query)
        );
        assert_eq!(analyze(doc, None), None);
        assert_eq!(analyze(doc, Some("C")), None);
    }
}
