//! GitHub's secret-scanning public keys and the signature check they make
//! possible. Pure: the key list is parsed from bytes, a report is checked
//! against it; reading the file is [`super::key_file`]'s job.
//!
//! The list is the JSON GitHub serves at
//! `https://api.github.com/meta/public_keys/secret_scanning`:
//! `{"public_keys":[{"key_identifier","key","is_current"}]}`, each key a
//! PEM-encoded P-256 public key (SubjectPublicKeyInfo). A report carries
//! `Github-Public-Key-Identifier` (which key) and
//! `Github-Public-Key-Signature` (base64 of an ASN.1 DER ECDSA P-256 /
//! SHA-256 signature over the raw body bytes).

use std::{collections::HashSet, str::FromStr};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use p256::{
    PublicKey,
    ecdsa::{Signature, VerifyingKey, signature::Verifier as _},
};
use serde::Deserialize;

/// One key GitHub may sign with.
#[derive(Debug, Clone)]
pub struct SigningKeyEntry {
    /// `key_identifier`: names the key in a report's headers.
    pub id: String,
    /// The key, decoded.
    pub key: VerifyingKey,
    /// `is_current`: GitHub signs with current keys; one that is no
    /// longer current is refused, as crates.io does.
    pub current: bool,
}

/// Every key of one key list.
#[derive(Debug, Clone)]
pub struct PublicKeys {
    keys: Vec<SigningKeyEntry>,
}

/// Why a key list cannot be used. The messages name the problem for the
/// operator (the list holds only public keys).
#[derive(Debug, thiserror::Error)]
pub enum KeyListError {
    #[error(
        "not GitHub's key-list JSON ({0}); expected {{\"public_keys\":[{{\"key_identifier\",\"key\",\"is_current\"}}]}}"
    )]
    Json(serde_json::Error),
    #[error("the list holds no public keys")]
    Empty,
    #[error("key {position} has an empty key_identifier")]
    EmptyIdentifier { position: usize },
    #[error("key_identifier {0:?} appears twice")]
    DuplicateIdentifier(String),
    #[error("key {id:?} is not a PEM-encoded P-256 public key")]
    NotP256 { id: String },
}

/// Why a report's signature does not hold. Logged as a reason; the
/// caller only ever sees `401 UNAUTHORIZED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing Github-Public-Key-Identifier or Github-Public-Key-Signature header")]
    MissingHeader,
    #[error("unknown key identifier")]
    UnknownKey,
    #[error("the key is no longer current")]
    RetiredKey,
    #[error("the signature is not base64 of a DER ECDSA signature")]
    MalformedSignature,
    #[error("the signature does not match the body")]
    BadSignature,
}

impl Rejection {
    /// Whether a fresher key list could accept the report: the key is
    /// missing from ours, or ours says it is no longer current.
    pub const fn may_be_stale_list(self) -> bool {
        matches!(self, Rejection::UnknownKey | Rejection::RetiredKey)
    }
}

#[derive(Deserialize)]
struct KeyList {
    public_keys: Vec<KeyListEntry>,
}

#[derive(Deserialize)]
struct KeyListEntry {
    key_identifier: String,
    key: String,
    is_current: bool,
}

impl PublicKeys {
    /// Parses GitHub's key-list JSON; every key must decode, identifiers
    /// must be present and distinct, and the list must not be empty.
    pub fn parse(json: &[u8]) -> Result<PublicKeys, KeyListError> {
        let list: KeyList = serde_json::from_slice(json).map_err(KeyListError::Json)?;
        if list.public_keys.is_empty() {
            return Err(KeyListError::Empty);
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::with_capacity(list.public_keys.len());
        for (index, entry) in list.public_keys.into_iter().enumerate() {
            if entry.key_identifier.is_empty() {
                return Err(KeyListError::EmptyIdentifier {
                    position: index + 1,
                });
            }
            if !seen.insert(entry.key_identifier.clone()) {
                return Err(KeyListError::DuplicateIdentifier(entry.key_identifier));
            }
            let key = PublicKey::from_str(entry.key.trim()).map_err(|_| KeyListError::NotP256 {
                id: entry.key_identifier.clone(),
            })?;
            keys.push(SigningKeyEntry {
                id: entry.key_identifier,
                key: VerifyingKey::from(key),
                current: entry.is_current,
            });
        }
        Ok(PublicKeys { keys })
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the list is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks that `signature` (the header's base64 text) is the key
    /// `key_id`'s signature over `body`.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> Result<(), Rejection> {
        let entry = self
            .keys
            .iter()
            .find(|entry| entry.id == key_id)
            .ok_or(Rejection::UnknownKey)?;
        if !entry.current {
            return Err(Rejection::RetiredKey);
        }
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| Rejection::MalformedSignature)?;
        let signature = Signature::from_der(&der).map_err(|_| Rejection::MalformedSignature)?;
        entry
            .key
            .verify(body, &signature)
            .map_err(|_| Rejection::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use p256::{
        ecdsa::{SigningKey, signature::Signer as _},
        pkcs8::{EncodePublicKey as _, LineEnding},
    };
    use serde_json::json;

    use super::*;

    fn pem(key: &SigningKey) -> String {
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encode public key")
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        STANDARD.encode(signature.to_der())
    }

    fn list(entries: &[(&str, &SigningKey, bool)]) -> Vec<u8> {
        let keys: Vec<_> = entries
            .iter()
            .map(|(id, key, current)| {
                json!({"key_identifier": id, "key": pem(key), "is_current": current})
            })
            .collect();
        serde_json::to_vec(&json!({ "public_keys": keys })).expect("json")
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).expect("a valid scalar")
    }

    #[test]
    fn a_signature_by_the_named_current_key_over_the_body_holds() {
        let (a, b) = (key(1), key(2));
        let keys = PublicKeys::parse(&list(&[("a", &a, true), ("b", &b, true)])).unwrap();
        assert_eq!(keys.len(), 2);
        let body = br#"[{"token":"x","type":"t","url":"u","source":"s"}]"#;
        assert_eq!(keys.verify("a", &sign(&a, body), body), Ok(()));
        assert_eq!(keys.verify("b", &sign(&b, body), body), Ok(()));
    }

    #[test]
    fn every_other_signature_is_refused_with_its_reason() {
        let (a, b) = (key(1), key(2));
        let keys = PublicKeys::parse(&list(&[("a", &a, true), ("old", &b, false)])).unwrap();
        let body = b"[]";
        let by_a = sign(&a, body);
        assert_eq!(keys.verify("c", &by_a, body), Err(Rejection::UnknownKey));
        assert_eq!(
            keys.verify("old", &sign(&b, body), body),
            Err(Rejection::RetiredKey)
        );
        assert_eq!(
            keys.verify("a", &sign(&b, body), body),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            keys.verify("a", &by_a, b"[ ]"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            keys.verify("a", "not base64!", body),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            keys.verify("a", &STANDARD.encode(b"not DER"), body),
            Err(Rejection::MalformedSignature)
        );
        assert_eq!(
            keys.verify("a", "", body),
            Err(Rejection::MalformedSignature)
        );
    }

    #[test]
    fn only_an_unknown_or_retired_key_suggests_a_stale_list() {
        assert!(Rejection::UnknownKey.may_be_stale_list());
        assert!(Rejection::RetiredKey.may_be_stale_list());
        assert!(!Rejection::BadSignature.may_be_stale_list());
        assert!(!Rejection::MalformedSignature.may_be_stale_list());
        assert!(!Rejection::MissingHeader.may_be_stale_list());
    }

    #[test]
    fn a_bad_list_names_its_problem() {
        let a = key(1);
        let message = |json: &[u8]| PublicKeys::parse(json).unwrap_err().to_string();
        assert!(message(b"{}").starts_with("not GitHub's key-list JSON"));
        assert!(message(b"[]").starts_with("not GitHub's key-list JSON"));
        assert_eq!(
            message(br#"{"public_keys":[]}"#),
            "the list holds no public keys"
        );
        assert_eq!(
            message(&list(&[("", &a, true)])),
            "key 1 has an empty key_identifier"
        );
        assert_eq!(
            message(&list(&[("a", &a, true), ("a", &a, false)])),
            "key_identifier \"a\" appears twice"
        );
        let not_a_key = json!({"public_keys": [
            {"key_identifier": "x", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is_current": true}
        ]});
        assert_eq!(
            message(&serde_json::to_vec(&not_a_key).unwrap()),
            "key \"x\" is not a PEM-encoded P-256 public key"
        );
    }

    #[test]
    fn githubs_published_key_format_parses() {
        // The shape GitHub serves, with crates.io's published test key pair
        // (src/tests/github_secret_scanning.rs there), so that the list,
        // the PEM and the DER signature are read as another implementation
        // writes them.
        use p256::pkcs8::DecodePrivateKey as _;
        let private = "-----BEGIN PRIVATE KEY-----\n\
            MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV64BdEFXg9aT/m4p\n\
            wOQ/o9WUHxZ6qfBaP3D7Km1TOWuhRANCAARYKkbkTbIr//8klg1CMYGQIwtlfNd4\n\
            JQYV5+q0s3+JnBSLb1/sx/lEDzmMVZQIZQrACUHFW4UVdmox2NvmNWyy\n\
            -----END PRIVATE KEY-----\n";
        let signer = SigningKey::from_pkcs8_pem(private).expect("crates.io's test key");
        let id = "2aafbbe2d329af78d875cd2dd0291048799176466844315b6a846d6e12aa26ca";
        let json = br#"{"public_keys":[{"key_identifier":"2aafbbe2d329af78d875cd2dd0291048799176466844315b6a846d6e12aa26ca","key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWCpG5E2yK///JJYNQjGBkCMLZXzX\neCUGFefqtLN/iZwUi29f7Mf5RA85jFWUCGUKwAlBxVuFFXZqMdjb5jVssg==\n-----END PUBLIC KEY-----\n","is_current":true}]}"#;
        let keys = PublicKeys::parse(json).unwrap();
        let body = br#"[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]"#;
        assert_eq!(keys.verify(id, &sign(&signer, body), body), Ok(()));
    }
}
