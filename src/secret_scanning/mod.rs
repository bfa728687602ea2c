//! Secret-scanning revocation (docs/DESIGN.md §8.5): GitHub (or another scanner
//! speaking its partner format) posts the lynk tokens it found in public
//! places to `POST /secret-scanning/revoke`, signed with keys from
//! `--secret-scanning-keys`; every live one is revoked at once, audited
//! and announced as `token.leaked`.
//!
//! [`keys`] parses the key list and checks signatures (pure), [`key_file`]
//! keeps the list fresh, [`report`] is the wire format, [`revoke`] the
//! database work and [`handler`] the HTTP side. [`public`] is
//! `POST /tokens/revoke`, where anyone may hand in lynk secrets they
//! found, without a signature, acted on by the same [`revoke`].

pub mod handler;
pub mod key_file;
pub mod keys;
pub mod public;
pub mod report;
pub mod revoke;

use std::sync::Arc;

use axum::{Router, routing::post};
use tower_http::limit::RequestBodyLimitLayer;

pub use handler::SecretScanning;
pub use public::PublicRevocation;

/// The endpoint's route, with its body limit.
pub fn routes(scanning: SecretScanning) -> Router {
    Router::new()
        .route(crate::routes::SECRET_SCANNING_REVOKE, post(handler::revoke))
        .layer(RequestBodyLimitLayer::new(handler::MAX_BODY_BYTES))
        .with_state(Arc::new(scanning))
}

/// `POST /tokens/revoke`, with its body limit.
pub fn public_routes(endpoint: PublicRevocation) -> Router {
    Router::new()
        .route(crate::routes::PUBLIC_REVOKE, post(public::revoke))
        .layer(RequestBodyLimitLayer::new(public::MAX_BODY_BYTES))
        .with_state(Arc::new(endpoint))
}
