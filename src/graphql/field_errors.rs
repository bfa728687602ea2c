//! GraphQL's rule for a field that fails (spec §6.4.4, "Handling Execution
//! Errors"): the error is reported and the field is `null` when its type
//! is nullable; otherwise the `null` goes up to the nearest nullable
//! field, or to `data` itself. async-graphql 7 instead leaves a failed
//! field out of its object and keeps the object. [`FieldErrors`] applies
//! the rule, so that a response never lacks a selected field and never
//! holds `null` where the schema says non-null (docs/DESIGN.md §4.1): a field the
//! caller may not read is nullable, so it is `null` beside its siblings.

use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    QueryPathNode, Response, ServerError, ServerResult, Value,
    extensions::{ExtensionContext, NextResolve, ResolveInfo},
};

/// What one request's execution has to put right: an extension calls
/// [`FieldErrors::resolve`] for every field and [`FieldErrors::finish`]
/// on the response.
#[derive(Default)]
pub struct FieldErrors {
    /// Errors of nullable fields, answered `null` here instead of being
    /// handed to async-graphql (which would drop the field); they go back
    /// into the response's `errors`.
    nulled: Mutex<Vec<ServerError>>,
    /// Paths of failed non-null fields whose nearest nullable ancestor has
    /// not finished yet.
    pending: Mutex<Vec<Vec<String>>>,
    /// Whether `pending` holds any, so that fields answered without error
    /// take no lock.
    has_pending: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `path` lies strictly below `ancestor`.
fn is_below(path: &[String], ancestor: &[String]) -> bool {
    path.len() > ancestor.len() && path.starts_with(ancestor)
}

impl FieldErrors {
    /// Records a failed non-null field: its `null` is for an ancestor.
    fn pend(&self, path: &QueryPathNode<'_>) {
        lock(&self.pending).push(path.to_string_vec());
        self.has_pending.store(true, Ordering::Release);
    }

    /// Takes the failed non-null fields below `path`; whether there were any.
    fn take_pending_below(&self, path: &QueryPathNode<'_>) -> bool {
        if !self.has_pending.load(Ordering::Acquire) {
            return false;
        }
        let ancestor = path.to_string_vec();
        let mut pending = lock(&self.pending);
        let before = pending.len();
        pending.retain(|failed| !is_below(failed, &ancestor));
        self.has_pending
            .store(!pending.is_empty(), Ordering::Release);
        pending.len() != before
    }

    /// Resolves a field (`Extension::resolve`), applying the rule.
    pub async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let nullable = !info.return_type.ends_with('!');
        let path = info.path_node;
        match next.run(ctx, info).await {
            Ok(_) if nullable && self.take_pending_below(path) => Ok(Some(Value::Null)),
            Ok(value) => Ok(value),
            Err(error) if nullable => {
                self.take_pending_below(path);
                lock(&self.nulled).push(error);
                Ok(Some(Value::Null))
            }
            Err(error) => {
                self.pend(path);
                Err(error)
            }
        }
    }

    /// Completes the response of the execution.
    pub fn finish(&self, response: &mut Response) {
        // A non-null field failed with no nullable field above it.
        if !lock(&self.pending).is_empty() {
            response.data = Value::Null;
        }
        response.errors.append(&mut lock(&self.nulled));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::{
        EmptyMutation, EmptySubscription, Object, Schema,
        extensions::{Extension, ExtensionFactory, NextExecute},
        value,
    };

    use super::*;

    /// The rule alone, as an extension.
    struct NullRule;

    impl ExtensionFactory for NullRule {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(RequestNullRule::default())
        }
    }

    #[derive(Default)]
    struct RequestNullRule(FieldErrors);

    #[async_trait::async_trait]
    impl Extension for RequestNullRule {
        async fn execute(
            &self,
            ctx: &ExtensionContext<'_>,
            operation_name: Option<&str>,
            next: NextExecute<'_>,
        ) -> Response {
            let mut response = next.run(ctx, operation_name).await;
            self.0.finish(&mut response);
            response
        }

        async fn resolve(
            &self,
            ctx: &ExtensionContext<'_>,
            info: ResolveInfo<'_>,
            next: NextResolve<'_>,
        ) -> ServerResult<Option<Value>> {
            self.0.resolve(ctx, info, next).await
        }
    }

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
    }

    async fn run(query: &str) -> async_graphql::Response {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(NullRule)
            .finish()
            .execute(query)
            .await
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
