//! Domain operations shared by the GraphQL API and the CLI. Each takes a
//! connection or transaction, so callers compose them into one transaction.

pub mod account;
pub mod audit;
pub mod bootstrap;
pub mod organization;
pub mod policy;
pub mod sbom_document;
pub mod token;
pub mod trusted_publisher;
pub mod validate;
