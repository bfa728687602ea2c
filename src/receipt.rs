//! Receipts (docs/DESIGN.md §9): every stored SBOM gets a compact JWS
//! over `{"sbom", "project", "sha256", "provenance", "iat"}`, signed with
//! the server's current key; `GET /.well-known/jwks.json` publishes every
//! key, so anyone can check a receipt offline (`lynk receipt verify`).

pub mod jws;
pub mod keys;
pub mod offline;

use serde_json::{Value, json};

use crate::entity::sbom;

/// The payload a receipt signs for `model` (its `provenance` JSON
/// included); `iat` is when it was stored.
pub fn payload(model: &sbom::Model) -> Value {
    let provenance = model
        .provenance
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .unwrap_or(Value::Null);
    json!({
        "sbom": model.id.to_string(),
        "project": model.project_id.to_string(),
        "sha256": model.sha256,
        "provenance": provenance,
        "iat": model.created_at.timestamp(),
    })
}
