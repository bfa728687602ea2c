//! Domain operations shared by the GraphQL API and the CLI, one module per
//! domain. An operation takes the database, the [`caller::Caller`] and
//! typed input, and owns its transaction, its invariants, its race
//! handling and its audit record; resolvers only authorize, parse ids and
//! wrap the result. Helpers that take a connection or transaction compose
//! into a caller's transaction.

pub mod account;
pub mod audit;
pub mod bootstrap;
pub mod caller;
pub mod invitation;
pub mod member;
pub mod organization;
pub mod policy;
pub mod project;
pub mod role;
pub mod sbom;
pub mod sbom_document;
pub mod scoped;
pub mod session;
pub mod token;
pub mod token_create;
pub mod token_retire;
pub mod trusted_publisher;
pub mod validate;
