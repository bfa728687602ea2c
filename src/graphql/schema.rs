//! The schema: its types and resolvers, one module per domain, the
//! limits that hold while it executes, and its assembly into the schemas a
//! request runs on. Nothing here knows HTTP; [`super::http`] does.

pub(crate) mod aliases;
mod audit;
pub mod context;
pub mod limits;
#[cfg(test)]
mod list_costs;
pub(crate) mod loader;
mod member;
mod names;
pub(crate) mod null_rule;
mod organization;
mod pagination;
mod permission;
mod project;
pub(crate) mod response_order;
mod role;
mod sbom;
pub mod scalar;
mod session;
pub(crate) mod token;
mod token_mutation;
mod token_policy;
pub mod trusted_publisher;
pub(crate) mod user;
mod viewer;
mod webhook;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder, ValidationMode};

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
    project::ProjectQuery,
    sbom::SbomQuery,
    member::MemberQuery,
    trusted_publisher::TrustedPublisherQuery,
);

/// Every mutation, merged from the domain modules.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    session::SessionMutation,
    organization::OrganizationMutation,
    token_mutation::TokenMutation,
    token_policy::TokenPolicyMutation,
    role::RoleMutation,
    member::MemberMutation,
    project::ProjectMutation,
    sbom::SbomMutation,
    trusted_publisher::TrustedPublisherMutation,
    webhook::WebhookMutation,
);

/// lynk's executable schema.
pub type LynkSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The depth allowed to an authenticated introspection-only query: the
/// standard introspection query of graphql-js (what GraphiQL, Apollo,
/// GraphQL Code Generator and Python's `gql` send) nests its type
/// references about 15 levels deep, and the schema bounds what it reads.
pub const INTROSPECTION_DEPTH: usize = 24;

/// Limits on the shape of a query (OWASP GraphQL cheat sheet), and on
/// what its execution may resolve.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub depth: usize,
    pub complexity: usize,
    /// Objects one request may resolve ([`limits::ResolvedObjects`]).
    pub resolved_objects: u32,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            depth: 12,
            complexity: 5000,
            resolved_objects: crate::config::MAX_RESOLVED_OBJECTS,
        }
    }
}

fn builder(limits: QueryLimits) -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_depth(limits.depth)
    .limit_complexity(limits.complexity)
    .limit_recursive_depth(32)
    .limit_directives(8)
}

/// The schemas a request may run against: one type registry, three ways
/// of running it.
#[derive(Clone)]
pub struct Schemas {
    /// For authenticated callers.
    authenticated: LynkSchema,
    /// For authenticated callers whose document already passed full
    /// validation (see [`super::http::document_cache`]): `ValidationMode::Fast`, which
    /// still enforces the depth and complexity limits.
    authenticated_validated: LynkSchema,
    /// For anonymous callers (`login`, `acceptInvitation`): no field
    /// suggestions, so error messages do not teach the schema.
    anonymous: LynkSchema,
    /// For authenticated introspection-only queries: the depth limit of
    /// [`INTROSPECTION_DEPTH`].
    introspection: LynkSchema,
    /// The limits all of them were built with.
    limits: QueryLimits,
    /// The type of every field, for GraphQL's rule for failed fields.
    field_types: Arc<null_rule::FieldTypes>,
}

impl Schemas {
    /// The schema a request runs on.
    pub fn for_request(
        &self,
        authenticated: bool,
        validated: bool,
        introspection: bool,
    ) -> &LynkSchema {
        match (authenticated, validated, introspection) {
            (false, _, _) => &self.anonymous,
            (true, _, true) => &self.introspection,
            (true, true, false) => &self.authenticated_validated,
            (true, false, false) => &self.authenticated,
        }
    }

    /// The limits the schemas were built with.
    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// The type of every field of the schema.
    pub(crate) fn field_types(&self) -> &null_rule::FieldTypes {
        &self.field_types
    }
}

/// Builds the schemas with the application state every resolver reads.
pub fn build_schemas(state: AppState, limits: QueryLimits) -> Schemas {
    let authenticated = builder(limits).data(state.clone()).finish();
    Schemas {
        field_types: Arc::new(null_rule::FieldTypes::from_sdl(&authenticated.sdl())),
        authenticated,
        authenticated_validated: builder(limits)
            .validation_mode(ValidationMode::Fast)
            .data(state.clone())
            .finish(),
        introspection: builder(QueryLimits {
            depth: limits.depth.max(INTROSPECTION_DEPTH),
            ..limits
        })
        .data(state.clone())
        .finish(),
        anonymous: builder(limits).data(state).disable_suggestions().finish(),
        limits,
    }
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder(QueryLimits::default()).finish().sdl()
}
