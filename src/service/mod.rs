//! Domain operations shared by the GraphQL API and the CLI, one module per
//! domain. An operation takes the database (or, when it needs the
//! configuration too: failure budgets, session lifetime, size limits, OIDC
//! issuers, the [`AppState`](crate::state::AppState)), the
//! [`Caller`](caller::Caller) and typed input, and owns its transaction,
//! its invariants, its race handling and its audit record. Resolvers only
//! check permissions, parse ids and wrap the result. Helpers that take a
//! connection compose into a caller's transaction.
//!
//! Tenancy is [`scoped`]'s: an organization's rows are looked up by id
//! through it (tokens, whose sessions span organizations, through
//! [`token::find_for`]), so an id of another organization is `NOT_FOUND`
//! everywhere alike.

pub mod account;
pub mod audit;
pub mod bootstrap;
pub mod caller;
pub mod invitation;
pub mod member;
pub mod organization;
pub mod policy;
pub mod project;
pub mod provenance;
pub mod role;
pub mod sbom;
pub mod sbom_document;
pub mod scoped;
pub mod session;
pub mod token;
pub mod token_attenuate;
pub mod token_bulk;
pub mod token_create;
pub mod token_event;
pub mod token_filter;
pub mod token_inactivity;
pub mod token_policy;
pub mod token_restrict;
pub mod token_retire;
pub mod trusted_publisher;
pub mod validate;
pub mod webhook;
