//! sea-orm models, one module per table. These are storage shapes only:
//! GraphQL types wrap them, so that nothing (a digest, a password hash) is
//! published by accident.

pub mod audit_event;
pub mod credential_kind;
pub mod invitation;
pub mod membership;
pub mod oidc_jti;
pub mod organization;
pub mod project;
pub mod role;
pub mod sbom;
pub mod signing_key;
pub mod token;
pub mod token_claims;
pub mod token_notice;
pub mod token_permission_use;
pub mod trusted_publisher;
pub mod upload_policy_violation;
pub mod user;
pub mod webhook;
pub mod webhook_attempt;
pub mod webhook_delivery;
