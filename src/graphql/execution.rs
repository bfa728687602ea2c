//! How lynk runs a request's operation, beyond async-graphql: a row loader
//! for the request, its batch window ([`loader::in_window`]), and
//! GraphQL's rule for failed fields ([`FieldErrors`]). One extension, so
//! that each field pays for one.

use std::sync::Arc;

use async_graphql::{
    Data, Response, ServerResult, Value,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
    },
};

use super::{
    field_errors::FieldErrors,
    loader::{self, RequestLoader},
};

/// The schema extension.
pub struct Execution;

impl ExtensionFactory for Execution {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestExecution::default())
    }
}

/// One request's execution.
#[derive(Default)]
struct RequestExecution {
    field_errors: FieldErrors,
}

#[async_trait::async_trait]
impl Extension for RequestExecution {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut data = Data::default();
        data.insert(RequestLoader::default());
        let mut response = loader::in_window(next.run_with_data(ctx, operation_name, data)).await;
        self.field_errors.finish(&mut response);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.field_errors.resolve(ctx, info, next).await
    }
}
