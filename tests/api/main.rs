//! End-to-end tests: the real server on port 0, spoken to over HTTP.
//! One binary (modules per domain) keeps link time down.

mod audit;
mod batching;
mod browser;
mod ci_tokens;
mod cli;
mod console;
mod console_pages;
mod console_webhooks;
mod durability;
mod graphql_http;
mod hardening;
mod helpers;
mod instances;
mod last_used;
mod limits;
mod matrix;
mod members;
mod nullability;
mod operations;
mod outage;
mod performance;
mod projects;
mod roles;
mod sboms;
mod secret_scanning;
mod secrets;
mod security;
mod sessions;
mod tokens;
mod trusted_publishing;
mod verification;
mod viewer;
mod webhook_delivery;
mod webhooks;
