//! lynk: a role-based token authentication server with a GraphQL API.
//!
//! Start at [`startup::Application`]. Token verification is in [`auth`]
//! (format in [`auth::token_format`], the one query in [`auth::verify`],
//! the rules in [`auth::principal`]); the request check is
//! [`auth::guard`], and the endpoint [`graphql::http::handler`].

pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod database;
pub mod encryption_key;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod metrics;
pub mod middleware;
pub mod receipt;
pub mod retention;
pub mod routes;
pub mod secret_scanning;
pub mod service;
pub mod startup;
pub mod state;
pub mod static_page;
pub mod telemetry;
pub mod webhook;
