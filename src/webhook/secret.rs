//! Webhook signing secrets in the Standard Webhooks format: `whsec_` and
//! the base64 of 24 random bytes (192 bits, the spec's recommended range).
//! The secret is shown once; afterwards only its hint, which names it
//! without revealing enough of it to matter.

use base64::{Engine, engine::general_purpose::STANDARD};

/// The prefix of every webhook secret, as the Standard Webhooks libraries
/// expect it.
pub const PREFIX: &str = "whsec_";

/// Random bytes in a secret.
const SECRET_BYTES: usize = 24;

/// Characters of the base64 part shown at each end of a hint.
const HINT_CHARS: usize = 4;

/// A new signing secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The hint of `secret`: `whsec_` + its first 4 … last 4 base64
/// characters. 8 of 32 characters: 48 of 192 bits, the rest stays secret.
pub fn hint(secret: &str) -> String {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    let chars: Vec<char> = encoded.chars().collect();
    if chars.len() <= 2 * HINT_CHARS {
        // Not a secret this module made: show nothing of it.
        return format!("{PREFIX}…");
    }
    let head: String = chars[..HINT_CHARS].iter().collect();
    let tail: String = chars[chars.len() - HINT_CHARS..].iter().collect();
    format!("{PREFIX}{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_24_random_bytes() {
        let secret = new_secret();
        let encoded = secret.strip_prefix(PREFIX).expect("whsec_ prefix");
        assert_eq!(encoded.len(), 32);
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), SECRET_BYTES);
        assert_ne!(new_secret(), secret);
    }

    #[test]
    fn the_hint_shows_both_ends_only() {
        assert_eq!(
            hint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "whsec_MfKQ…LaSw"
        );
        let secret = new_secret();
        let hint = hint(&secret);
        assert_eq!(hint.chars().count(), PREFIX.len() + 2 * HINT_CHARS + 1);
        assert!(secret.starts_with(&hint[..PREFIX.len() + HINT_CHARS]));
        assert!(secret.ends_with(&hint[hint.len() - HINT_CHARS..]));
    }

    #[test]
    fn a_short_value_gets_no_revealing_hint() {
        assert_eq!(hint("whsec_abcd"), "whsec_…");
        assert_eq!(hint(""), "whsec_…");
    }
}
