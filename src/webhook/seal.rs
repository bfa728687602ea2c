//! Webhook signing secrets at rest. A webhook's secret must be kept to sign
//! its deliveries (unlike a token, a digest will not do), so it is sealed
//! with ChaCha20-Poly1305 under the server's key (`--encryption-key`)
//! and a random nonce per secret. A copy of the database alone does not
//! reveal the secrets; the key lives in the deployment's configuration.
//! Receipt signing keys are sealed the same way (`receipt::keys`).

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};

/// The version prefix of a sealed secret, so the scheme can change later.
const VERSION: &str = "v1:";
const NONCE_LEN: usize = 12;

/// The server's sealing key: 32 bytes, given base64-encoded.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl FromStr for SealingKey {
    type Err = String;

    fn from_str(text: &str) -> Result<SealingKey, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            "the encryption key must be base64 (`openssl rand -base64 32`)".to_owned()
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "the encryption key must be 32 bytes, base64-encoded; this one is {} bytes",
                bytes.len()
            )
        })?;
        Ok(SealingKey(key))
    }
}

impl SealingKey {
    /// `secret` sealed for storage, bound to `webhook_id` (a sealed secret
    /// copied to another webhook's row does not open there).
    pub fn seal(&self, webhook_id: uuid::Uuid, secret: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: webhook_id.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(stored))
    }

    /// The secret sealed by [`SealingKey::seal`] for `webhook_id`, or `None`
    /// when it was sealed under another key, for another webhook, or altered.
    pub fn open(&self, webhook_id: uuid::Uuid, stored: &str) -> Option<String> {
        let bytes = STANDARD.decode(stored.strip_prefix(VERSION)?).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let secret = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: webhook_id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(secret).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key(byte: u8) -> SealingKey {
        STANDARD.encode([byte; 32]).parse().unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_webhook() {
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = key(1).seal(id, "whsec_c2VjcmV0");
        assert!(sealed.starts_with("v1:") && !sealed.contains("c2VjcmV0"));
        assert_eq!(key(1).open(id, &sealed).as_deref(), Some("whsec_c2VjcmV0"));
        assert_eq!(key(2).open(id, &sealed), None);
        assert_eq!(key(1).open(other, &sealed), None);
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key(1).open(id, &altered), None);
        assert_eq!(key(1).open(id, "v1:"), None);
        assert_eq!(key(1).open(id, "plain"), None);
    }

    #[test]
    fn nonces_differ_per_seal() {
        let id = Uuid::now_v7();
        assert_ne!(key(1).seal(id, "same"), key(1).seal(id, "same"));
    }

    #[test]
    fn keys_must_be_32_base64_bytes_and_never_print() {
        assert!(
            "not base64!"
                .parse::<SealingKey>()
                .unwrap_err()
                .contains("base64")
        );
        let short = STANDARD
            .encode([0u8; 16])
            .parse::<SealingKey>()
            .unwrap_err();
        assert!(
            short.contains("32 bytes") && short.contains("16 bytes"),
            "{short}"
        );
        assert_eq!(format!("{:?}", key(7)), "SealingKey(…)");
    }
}
