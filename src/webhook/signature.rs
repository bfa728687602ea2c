//! Signing a delivery as the Standard Webhooks spec has it: the secret is
//! `whsec_` and a base64 key; the signed content is
//! `{webhook-id}.{webhook-timestamp}.{body}`; the `webhook-signature`
//! header is `v1,` and the base64 HMAC-SHA256 of it. Pure, so receivers'
//! libraries and this code can be checked against the spec's test vector.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use hmac_sha2::Sha256;

/// The prefix of every webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook's signing key, decoded from its `whsec_…` secret.
pub struct SigningKey(Vec<u8>);

// The key signs deliveries: it never appears in logs.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// The key of a `whsec_<base64>` secret (the prefix may be left out,
    /// as the spec's libraries allow), or `None` when it is not base64 or
    /// is empty.
    pub fn from_secret(secret: &str) -> Option<SigningKey> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let key = STANDARD.decode(encoded).ok()?;
        (!key.is_empty()).then_some(SigningKey(key))
    }

    /// The `webhook-signature` header of message `id`, sent at `timestamp`
    /// (unix seconds) with `body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector the Standard Webhooks libraries test against
    /// (standard-webhooks/standard-webhooks, `libraries/go/webhook_test.go`,
    /// `TestWebhookSign`); Python's `hmac` gives the same:
    /// `base64(hmac.new(b64decode(key), b"msg_….1614265330.{…}", sha256))`.
    #[test]
    fn signs_the_spec_test_vector() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn every_signed_part_matters() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signed = key.sign("msg_1", 1_700_000_000, b"{}");
        assert_ne!(signed, key.sign("msg_2", 1_700_000_000, b"{}"));
        assert_ne!(signed, key.sign("msg_1", 1_700_000_001, b"{}"));
        assert_ne!(signed, key.sign("msg_1", 1_700_000_000, b"{ }"));
        let other = SigningKey::from_secret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_ne!(signed, other.sign("msg_1", 1_700_000_000, b"{}"));
        // Without the prefix, the same key.
        let bare = SigningKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(signed, bare.sign("msg_1", 1_700_000_000, b"{}"));
    }

    #[test]
    fn malformed_secrets_are_refused_and_keys_never_print() {
        assert!(SigningKey::from_secret("whsec_not base64!").is_none());
        assert!(SigningKey::from_secret("whsec_").is_none());
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(…)");
    }
}
