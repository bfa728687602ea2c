//! End-to-end tests: the real server on port 0, spoken to over HTTP.
//! One binary (modules per domain) keeps link time down.

mod audit;
mod cli;
mod helpers;
mod matrix;
mod members;
mod roles;
mod secrets;
mod sessions;
mod tokens;
mod verification;
mod viewer;
