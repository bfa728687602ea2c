//! The HTTP transport: reading a GraphQL request off `GET` or `POST
//! /lynkapi`, deciding what it is before it runs (its operation, its
//! parsed document), admitting its caller, and writing the answer; and
//! GraphiQL for a browser. What runs is [`super::schema`]'s.

pub mod document_cache;
pub mod graphiql;
pub mod handler;
pub mod operation;
pub mod request_body;
