//! The GraphQL API: [`http`], the transport that reads a request and
//! answers it, and [`schema`], what the request runs.

pub mod http;
pub mod schema;

pub use schema::{LynkSchema, QueryLimits, Schemas, build_schemas, sdl};
