//! End-to-end tests: the real server on port 0, spoken to over HTTP.
//! One binary (modules per domain) keeps link time down.

mod cli;
mod helpers;
mod secrets;
mod verification;
mod viewer;
