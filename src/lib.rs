//! lynk: a role-based token authentication server with a GraphQL API.
//!
//! Start at [`startup::Application`]; token verification is in [`auth`].

pub mod auth;
pub mod entity;
pub mod error;
