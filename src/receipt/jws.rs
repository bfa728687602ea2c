//! Compact JWS (RFC 7515) with ES256 (RFC 7518 §3.4), written out here
//! because a receipt is one fixed shape: a header `{"alg","kid","typ"}`,
//! a JSON payload, and a P-256 signature as `r || s`. Signing is
//! deterministic (RFC 6979), so the same payload under the same key is the
//! same receipt. Keys are published as JWKs (RFC 7517). Pure functions;
//! the database side is `receipt::keys`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::{
    Signature, SigningKey, VerifyingKey,
    signature::{Signer as _, Verifier as _},
};
use serde_json::{Value, json};

/// The one algorithm receipts are signed with.
pub const ALGORITHM: &str = "ES256";
/// The JWS `typ` of a receipt.
pub const TYPE: &str = "lynk-receipt+jws";

/// A private signing key and its id (`kid`).
pub struct ReceiptSigner {
    pub kid: String,
    key: SigningKey,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// A new random key named `kid`.
    pub fn generate(kid: String) -> ReceiptSigner {
        loop {
            // A random 32-byte string is a valid scalar but with
            // probability ~2^-128; try again then.
            let bytes: [u8; 32] = rand::random();
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return ReceiptSigner { kid, key };
            }
        }
    }

    /// The key from its 32 secret bytes (base64url), as [`Self::secret`] wrote them.
    pub fn from_secret(kid: String, secret: &str) -> Option<ReceiptSigner> {
        let bytes = URL_SAFE_NO_PAD.decode(secret).ok()?;
        let key = SigningKey::from_slice(&bytes).ok()?;
        Some(ReceiptSigner { kid, key })
    }

    /// The secret scalar, base64url: only ever sealed before storage.
    pub fn secret(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> Value {
        public_jwk(&self.kid, self.key.verifying_key())
    }

    /// `payload` signed: `header.payload.signature`, base64url each.
    pub fn sign(&self, payload: &Value) -> String {
        let header = json!({"alg": ALGORITHM, "kid": self.kid, "typ": TYPE});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// `key` as a JWK named `kid`.
pub fn public_jwk(kid: &str, key: &VerifyingKey) -> Value {
    let point = key.to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
        "use": "sig",
        "alg": ALGORITHM,
        "kid": kid,
    })
}

/// Why a receipt does not verify. The messages are shown by
/// `lynk receipt verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not three base64url parts with a JSON header and payload.
    Malformed(&'static str),
    /// The header names an algorithm other than ES256.
    Algorithm(String),
    /// No key of the set has the header's `kid`.
    UnknownKey(String),
    /// The signature does not hold for that key.
    Signature,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Malformed(what) => write!(f, "the receipt is malformed: {what}"),
            Invalid::Algorithm(alg) => {
                write!(f, "the receipt's algorithm is `{alg}`; receipts use ES256")
            }
            Invalid::UnknownKey(kid) => write!(
                f,
                "no key with id `{kid}` in the key set (is it the server's /.well-known/jwks.json?)"
            ),
            Invalid::Signature => f.write_str(
                "the signature does not match: the receipt was altered or signed by another key",
            ),
        }
    }
}

/// The payload of `receipt` if its signature holds under the key of
/// `jwks` (`{"keys": [...]}`) its header names.
pub fn verify(receipt: &str, jwks: &Value) -> Result<Value, Invalid> {
    let receipt = receipt.trim();
    let mut parts = receipt.split('.');
    let (Some(header_part), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed("a compact JWS has three parts"));
    };
    let decode = |part: &str, what| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Invalid::Malformed(what))
    };
    let header: Value =
        serde_json::from_slice(&decode(header_part, "its header is not base64url")?)
            .map_err(|_| Invalid::Malformed("its header is not JSON"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if alg != ALGORITHM {
        return Err(Invalid::Algorithm(alg.to_owned()));
    }
    let kid = header["kid"]
        .as_str()
        .ok_or(Invalid::Malformed("its header has no `kid`"))?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|jwk| jwk["kid"].as_str() == Some(kid))
        .ok_or_else(|| Invalid::UnknownKey(kid.to_owned()))?;
    let key = verifying_key(key).ok_or(Invalid::Malformed("its key is not a P-256 JWK"))?;
    let signature = Signature::from_slice(&decode(signature, "its signature is not base64url")?)
        .map_err(|_| Invalid::Signature)?;
    let signing_input = &receipt[..header_part.len() + 1 + payload.len()];
    key.verify(signing_input.as_bytes(), &signature)
        .map_err(|_| Invalid::Signature)?;
    serde_json::from_slice(&decode(payload, "its payload is not base64url")?)
        .map_err(|_| Invalid::Malformed("its payload is not JSON"))
}

/// A P-256 public key from its JWK.
fn verifying_key(jwk: &Value) -> Option<VerifyingKey> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str()?).ok()?;
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str()?).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut point = vec![4u8];
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    VerifyingKey::from_sec1_bytes(&point).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks(signers: &[&ReceiptSigner]) -> Value {
        json!({"keys": signers.iter().map(|s| s.public_jwk()).collect::<Vec<_>>()})
    }

    #[test]
    fn a_receipt_verifies_under_its_key_only() {
        let (a, b) = (
            ReceiptSigner::generate("a".into()),
            ReceiptSigner::generate("b".into()),
        );
        let payload = json!({"sbom": "1", "sha256": "ab"});
        let receipt = a.sign(&payload);
        assert_eq!(receipt, a.sign(&payload), "deterministic");
        assert_eq!(verify(&receipt, &jwks(&[&b, &a])), Ok(payload));
        assert_eq!(
            verify(&receipt, &jwks(&[&b])),
            Err(Invalid::UnknownKey("a".into()))
        );
        let forged = b.sign(&json!({"sbom": "1"})).replacen("\"b\"", "\"a\"", 1);
        assert!(verify(&forged, &jwks(&[&a])).is_err());
    }

    #[test]
    fn any_flipped_byte_fails() {
        let signer = ReceiptSigner::generate("k".into());
        let receipt = signer.sign(&json!({"sbom": "x"}));
        let keys = jwks(&[&signer]);
        for i in 0..receipt.len() {
            let mut bytes = receipt.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != receipt {
                assert!(verify(&altered, &keys).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn a_secret_round_trips_and_other_algorithms_are_refused() {
        let signer = ReceiptSigner::generate("k".into());
        let again = ReceiptSigner::from_secret("k".into(), &signer.secret()).unwrap();
        assert_eq!(again.public_jwk(), signer.public_jwk());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(
            verify(&none, &jwks(&[&signer])),
            Err(Invalid::Algorithm("none".into()))
        );
        assert!(matches!(
            verify("a.b", &jwks(&[&signer])),
            Err(Invalid::Malformed(_))
        ));
    }
}
