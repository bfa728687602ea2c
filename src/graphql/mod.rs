//! The GraphQL API: schema assembly, the HTTP handler, and one module per
//! domain.

pub mod context;
pub mod handler;
pub mod operation;
mod organization;
mod pagination;
mod permission;
mod role;
mod token;
mod user;
mod viewer;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::state::AppState;

/// Every query field, merged from the domain modules.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    organization::OrganizationQuery,
    viewer::ViewerQuery,
    token::TokenQuery,
    role::RoleQuery,
    permission::PermissionQuery,
);

/// Every mutation, merged from the domain modules.
pub type MutationRoot = EmptyMutation;

/// lynk's executable schema.
pub type LynkSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(12)
    .limit_complexity(500)
    .limit_recursive_depth(32)
    .limit_directives(16)
}

/// Builds the schema with the application state every resolver reads.
pub fn build_schema(state: AppState) -> LynkSchema {
    builder().data(state).finish()
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
