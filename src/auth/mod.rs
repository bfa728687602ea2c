//! Authentication and authorization: the credential format, reading the
//! headers, verifying a token in one query, the resolved [`Principal`], and
//! permission checks. Token verification lives here and nowhere else.

pub mod address_rule;
pub mod child;
pub mod credential;
pub mod guard;
pub mod last_used;
pub mod narrowing;
pub mod oidc;
pub mod password;
pub mod permission;
pub mod principal;
pub mod project_scope;
pub mod rate_limit;
pub mod reach;
pub mod token_access;
pub mod token_format;
pub mod verify;

pub use crate::entity::credential_kind::{self, CredentialKind};
pub use permission::{BuiltInRole, Permission, PermissionSet};
pub use principal::{AuthFailure, Principal, UnauthorizedReason};
