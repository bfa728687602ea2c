//! [`Names`]: a `[String!]!` field whose strings are known when the field
//! resolves (permission names, event names), answered in one step.
//! async-graphql resolves each item of a `Vec` as a future of its own,
//! joined with the others; for a viewer's sixteen permissions that cost
//! more than the rest of the request's fields (BENCHMARKS.md).

use std::borrow::Cow;

use async_graphql::{
    ContextSelectionSet, OutputType, Positioned, ServerResult, Value, parser::types::Field,
    registry::Registry,
};

/// Static strings, answered as a non-null list of non-null strings.
pub struct Names(pub Vec<&'static str>);

impl OutputType for Names {
    fn type_name() -> Cow<'static, str> {
        <Vec<String> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<String> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<String> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::List(
            self.0
                .iter()
                .map(|name| Value::String((*name).to_owned()))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, value};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn names(&self) -> Names {
            Names(vec!["tokens:read", "audit:read"])
        }

        async fn maybe(&self) -> Option<Names> {
            None
        }

        async fn strings(&self) -> Vec<&'static str> {
            vec![]
        }
    }

    #[tokio::test]
    async fn names_answer_as_a_list_of_strings_does() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let sdl = schema.sdl();
        assert!(sdl.contains("names: [String!]!"), "{sdl}");
        assert!(sdl.contains("maybe: [String!]"), "{sdl}");
        assert!(sdl.contains("strings: [String!]!"), "{sdl}");
        let response = schema.execute("{ names maybe }").await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(
            response.data,
            value!({"names": ["tokens:read", "audit:read"], "maybe": null})
        );
    }
}
