//! What an operation is, decided before execution: its type (for the
//! GET-is-for-queries rule) and whether it touches only public fields
//! (the only thing an anonymous caller may run).

use async_graphql::{
    Positioned, Value as ConstValue, Variables,
    parser::types::{
        Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
        Selection, SelectionSet,
    },
};

/// Root fields an unauthenticated caller may use.
pub const PUBLIC_MUTATIONS: [&str; 3] = ["login", "acceptInvitation", "exchangeOidcToken"];

/// Root query fields an unauthenticated caller may use: an invitation code
/// is its own credential.
pub const PUBLIC_QUERIES: [&str; 1] = ["invitationPreview"];

/// The parts of an operation the HTTP layer decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationInfo {
    pub operation_type: OperationType,
    /// True when every root field is public.
    pub public: bool,
    /// True when every root field is introspection (`__schema`, `__type`,
    /// `__typename`): the standard introspection query of GraphQL tools
    /// nests deeper than the depth limit allows other queries.
    pub introspection: bool,
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
    let public_fields: &[&str] = match operation.node.ty {
        OperationType::Mutation => &PUBLIC_MUTATIONS,
        OperationType::Query => &PUBLIC_QUERIES,
        OperationType::Subscription => &[],
    };
    let public = !items.is_empty()
        && items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                public_fields.contains(&name) || name == "__typename"
            }
            _ => false,
        })
        // `{ __typename }` alone stays a query that needs a credential.
        && (operation.node.ty == OperationType::Mutation
            || items.iter().any(|item| {
                matches!(&item.node, Selection::Field(field) if field.node.name.node != "__typename")
            }));
    let introspection = operation.node.ty == OperationType::Query
        && !items.is_empty()
        && items.iter().all(|item| match &item.node {
            Selection::Field(field) => field.node.name.node.starts_with("__"),
            _ => false,
        });
    Some(OperationInfo {
        operation_type: operation.node.ty,
        public,
        introspection,
    })
}

/// Whether a string literal anywhere in the document (arguments,
/// directives, variable defaults) holds a NUL character. PostgreSQL cannot
/// store one in text, so it is refused up front on every backend alike.
/// (A literal can hold one only if the text has one or a `\u` escape: the
/// caller may skip the walk otherwise.)
pub fn has_nul_in_literals(document: &ExecutableDocument) -> bool {
    let operations: Vec<&OperationDefinition> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node).collect(),
    };
    operations.into_iter().any(|op| {
        op.variable_definitions.iter().any(|var| {
            var.node
                .default_value
                .as_ref()
                .is_some_and(|v| const_has_nul(&v.node))
        }) || directives_have_nul(&op.directives)
            || selection_set_has_nul(&op.selection_set.node)
    }) || document.fragments.values().any(|fragment| {
        directives_have_nul(&fragment.node.directives)
            || selection_set_has_nul(&fragment.node.selection_set.node)
    })
}

/// Whether a string (or an object key) anywhere in the variables holds a NUL.
pub fn has_nul_in_variables(variables: &Variables) -> bool {
    variables
        .iter()
        .any(|(name, value)| name.contains('\0') || const_has_nul(value))
}

/// A literal argument value with its variables read as null (they are
/// checked in [`has_nul_in_variables`]). async-graphql does not export the
/// parser's value type, so this is a macro rather than a function over it.
macro_rules! literal {
    ($value:expr) => {
        $value
            .clone()
            .into_const_with(|_| Ok::<_, std::convert::Infallible>(ConstValue::Null))
            .unwrap_or_default()
    };
}

fn selection_set_has_nul(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            field
                .node
                .arguments
                .iter()
                .any(|(_, value)| const_has_nul(&literal!(value.node)))
                || directives_have_nul(&field.node.directives)
                || selection_set_has_nul(&field.node.selection_set.node)
        }
        Selection::FragmentSpread(spread) => directives_have_nul(&spread.node.directives),
        Selection::InlineFragment(inline) => {
            directives_have_nul(&inline.node.directives)
                || selection_set_has_nul(&inline.node.selection_set.node)
        }
    })
}

fn directives_have_nul(directives: &[Positioned<Directive>]) -> bool {
    directives.iter().any(|d| {
        d.node
            .arguments
            .iter()
            .any(|(_, value)| const_has_nul(&literal!(value.node)))
    })
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(key, v)| key.contains('\0') || const_has_nul(v)),
        _ => false,
    }
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
    fn only_login_accept_invitation_and_the_oidc_exchange_are_public() {
        assert!(public(
            r#"mutation { login(email: "a", password: "b") { token } }"#
        ));
        assert!(public(
            r#"mutation { acceptInvitation(input: {code: "", name: "", password: ""}) { token } }"#
        ));
        assert!(public(
            r#"mutation { a: login(email: "a", password: "b") { token } }"#
        ));
        assert!(public(
            r#"mutation { exchangeOidcToken(token: "a.b.c") { secret } }"#
        ));
        assert!(!public(
            r#"mutation { exchangeOidcToken(token: "a.b.c") { secret } createTrustedPublisher }"#
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
    fn the_invitation_preview_is_the_one_public_query() {
        assert!(public(r#"{ invitationPreview(code: "c") { email } }"#));
        assert!(public(
            r#"query { __typename p: invitationPreview(code: "c") { roleName } }"#
        ));
        assert!(!public(
            r#"{ invitationPreview(code: "c") { email } organization { id } }"#
        ));
        assert!(!public("{ __typename }"));
        assert!(!public(
            r#"mutation { invitationPreview(code: "c") { email } }"#
        ));
        assert!(!public(
            r#"{ ...F } fragment F on Query { invitationPreview(code: "c") { email } }"#
        ));
    }

    #[test]
    fn nul_characters_are_found_wherever_a_string_can_be() {
        let nul = |query: &str| has_nul_in_literals(&parse_query(query).unwrap());
        assert!(!nul(
            r#"mutation { login(email: "a", password: "b") { token } }"#
        ));
        assert!(nul(
            r#"mutation { login(email: "a\u0000", password: "b") { token } }"#
        ));
        assert!(nul(
            r#"mutation { createRole(input: {name: "x", permissions: ["a\u0000"]}) { id } }"#
        ));
        assert!(nul(
            r#"query($n: String = "\u0000") { organization { id @include(if: true) } }"#
        ));
        assert!(nul(
            r#"{ ...F } fragment F on Query { role(id: "\u0000") { id } }"#
        ));
        let vars = |json: serde_json::Value| has_nul_in_variables(&Variables::from_json(json));
        assert!(!vars(serde_json::json!({"a": "b", "c": ["d"]})));
        assert!(vars(serde_json::json!({"input": {"name": "a\u{0}b"}})));
        assert!(vars(serde_json::json!({"list": ["ok", "\u{0}"]})));
    }

    #[test]
    fn introspection_is_recognised_at_the_root() {
        let introspection =
            |query: &str| analyze_text(query, None).is_some_and(|i| i.introspection);
        assert!(introspection("{ __schema { types { name } } }"));
        assert!(introspection(
            "query IntrospectionQuery { __schema { queryType { name } } __type(name: \"X\") { name } }"
        ));
        assert!(!introspection(
            "{ __schema { types { name } } organization { id } }"
        ));
        assert!(!introspection(
            "{ ...F } fragment F on Query { __schema { types { name } } }"
        ));
        assert!(!introspection("mutation { __typename }"));
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
