//! The GraphQL API: schema assembly, the HTTP handler, and one module per
//! domain.

mod audit;
pub mod context;
pub mod handler;
mod member;
pub mod operation;
mod organization;
mod pagination;
mod permission;
mod role;
mod session;
pub(crate) mod token;
mod token_mutation;
pub(crate) mod user;
mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

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
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    session::SessionMutation,
    organization::OrganizationMutation,
    token_mutation::TokenMutation,
    role::RoleMutation,
    member::MemberMutation,
);

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
