//! `lynk receipt verify`: checks a receipt and an SBOM file against a
//! JWKS (a file, or the server's `/.well-known/jwks.json` URL) with no
//! account and no database. The outcome is a sentence and an exit code.

use std::path::Path;

use serde_json::Value;

use super::jws;
use crate::service::sbom_document::sha256_hex;

/// How `lynk receipt verify` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Valid: the signature holds and the SBOM is the one signed for.
    /// Carries the payload, to print.
    Valid(Value),
    /// The receipt or the file do not hold up (exit code 1).
    Invalid(String),
    /// Nothing was checked: a file or the key set could not be read (exit code 2).
    Unusable(String),
}

impl Outcome {
    /// The process exit code: 0 valid, 1 invalid, 2 not checked.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Valid(_) => 0,
            Outcome::Invalid(_) => 1,
            Outcome::Unusable(_) => 2,
        }
    }
}

/// Checks `receipt` (the compact JWS) against `sbom` (the document's
/// bytes) and `jwks`.
pub fn check(receipt: &str, sbom: &[u8], jwks: &Value) -> Outcome {
    let payload = match jws::verify(receipt, jwks) {
        Ok(payload) => payload,
        Err(invalid) => return Outcome::Invalid(invalid.to_string()),
    };
    let signed = payload["sha256"].as_str().unwrap_or_default();
    let actual = sha256_hex(sbom);
    if signed != actual {
        return Outcome::Invalid(format!(
            "the SBOM file is not the one this receipt was signed for: its SHA-256 is {actual}, \
             the receipt's {signed}"
        ));
    }
    Outcome::Valid(payload)
}

/// Reads the receipt file (or the receipt itself when `receipt` is not a
/// file), the SBOM file and the key set (`http(s)://…` is fetched), then
/// [`check`]s them.
pub async fn verify(receipt: &str, sbom: &Path, jwks: &str) -> Outcome {
    let receipt = match std::fs::read_to_string(receipt) {
        Ok(text) => text,
        Err(_) if receipt.matches('.').count() == 2 && !receipt.contains('/') => receipt.to_owned(),
        Err(err) => return Outcome::Unusable(format!("cannot read the receipt {receipt}: {err}")),
    };
    let document = match std::fs::read(sbom) {
        Ok(bytes) => bytes,
        Err(err) => {
            return Outcome::Unusable(format!(
                "cannot read the SBOM file {}: {err}",
                sbom.display()
            ));
        }
    };
    let keys = match load_jwks(jwks).await {
        Ok(keys) => keys,
        Err(message) => return Outcome::Unusable(message),
    };
    check(&receipt, &document, &keys)
}

async fn load_jwks(source: &str) -> Result<Value, String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::get(source)
            .await
            .map_err(|err| format!("cannot fetch the key set {source}: {err}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "cannot fetch the key set {source}: HTTP {}",
                response.status()
            ));
        }
        response
            .text()
            .await
            .map_err(|err| format!("cannot read the key set {source}: {err}"))?
    } else {
        std::fs::read_to_string(source)
            .map_err(|err| format!("cannot read the key set {source}: {err}"))?
    };
    let keys: Value = serde_json::from_str(&text)
        .map_err(|_| format!("the key set {source} is not JSON (a JWKS: {{\"keys\": [...]}})"))?;
    if !keys["keys"].is_array() {
        return Err(format!(
            "the key set {source} has no `keys` list (a JWKS: {{\"keys\": [...]}})"
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::receipt::jws::ReceiptSigner;

    #[test]
    fn the_file_must_be_the_one_signed_for() {
        let signer = ReceiptSigner::generate("k".into());
        let keys = json!({"keys": [signer.public_jwk()]});
        let receipt = signer.sign(&json!({"sha256": sha256_hex(b"{}")}));
        assert_eq!(check(&receipt, b"{}", &keys).exit_code(), 0);
        let Outcome::Invalid(message) = check(&receipt, b"{ }", &keys) else {
            panic!("a changed file verifies");
        };
        assert!(message.contains("not the one"), "{message}");
        assert_eq!(check("x.y.z", b"{}", &keys).exit_code(), 1);
    }
}
