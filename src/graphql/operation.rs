//! What an operation is, decided before execution: its type (for the
//! GET-is-for-queries rule) and whether it touches only public fields
//! (the only thing an anonymous caller may run).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
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

/// Picks the operation from a parsed document; `None` when it is not there
/// (execution reports why). The handler parses once, through
/// `async_graphql::Request::parsed_query`, and execution reuses that parse.
pub fn analyze(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationInfo> {
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
    use async_graphql::parser::parse_query;

    use super::*;

    fn analyze_text(query: &str, operation_name: Option<&str>) -> Option<OperationInfo> {
        analyze(&parse_query(query).ok()?, operation_name)
    }

    fn public(query: &str) -> bool {
        analyze_text(query, None).is_some_and(|i| i.public)
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
            analyze_text(doc, Some("B")).map(|i| i.operation_type),
            Some(OperationType::Mutation)
        );
        assert_eq!(
            analyze_text(doc, Some("A")).map(|i| i.operation_type),
            Some(OperationType::Query)
        );
        assert_eq!(analyze_text(doc, None), None);
        assert_eq!(analyze_text(doc, Some("C")), None);
    }
}
