//! The credential format (docs/DESIGN.md §2.2): prefix, 30 random base62 characters,
//! 6 base62 characters of CRC32 over the random part.
//!
//! Generation, parsing, digest and display hint live here as pure
//! functions. Parsing rejects a malformed candidate before any database
//! work; the checksum lets secret scanners recognise a leaked token offline.

use std::fmt;

use rand::{Rng, TryRngCore, rngs::OsRng};
use sea_orm::Iterable;
use sha2::{Digest as _, Sha256};

use super::credential_kind::CredentialKind;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;

/// What a secret is for; each kind has its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A bearer credential, stored in `token`.
    Credential(CredentialKind),
    /// A single-use invitation code: a secret, never a bearer credential
    /// (stored in `invitation`).
    Invitation,
}

impl From<CredentialKind> for SecretKind {
    fn from(kind: CredentialKind) -> SecretKind {
        SecretKind::Credential(kind)
    }
}

impl SecretKind {
    /// Every kind of secret. No prefix starts another (a unit test holds
    /// it), so parsing may try them in any order.
    pub fn all() -> impl Iterator<Item = SecretKind> {
        CredentialKind::iter()
            .map(SecretKind::Credential)
            .chain([SecretKind::Invitation])
    }

    /// The prefix every secret of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::Credential(CredentialKind::Personal) => "lynk_live_",
            SecretKind::Credential(CredentialKind::Service) => "lynk_service_live_",
            SecretKind::Credential(CredentialKind::Session) => "lynk_session_",
            SecretKind::Invitation => "lynk_invite_",
        }
    }
}

/// A plaintext secret. `Debug` and `Display` never show it; only
/// [`Secret::expose`] does, at the one place it is handed to the user.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The plaintext, to be shown exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

/// The SHA-256 digest of a whole secret: what the database stores.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest(pub [u8; 32]);

impl SecretDigest {
    /// Hashes a complete secret string.
    pub fn of(secret: &str) -> SecretDigest {
        SecretDigest(Sha256::digest(secret.as_bytes()).into())
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// A freshly generated secret, its digest and its display hint.
#[derive(Debug)]
pub struct GeneratedSecret {
    pub kind: SecretKind,
    pub secret: Secret,
    pub digest: SecretDigest,
    pub hint: String,
}

/// `len` characters drawn uniformly from base62 by the operating system's
/// CSPRNG (also used for generated passwords).
pub fn random_base62(len: usize) -> String {
    // OsRng reads the operating system's CSPRNG directly; a failure there
    // is unrecoverable, so `unwrap_err` turns it into a panic.
    let mut rng = OsRng.unwrap_err();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Generates a new secret of `kind` from the operating system's CSPRNG.
pub fn generate(kind: impl Into<SecretKind>) -> GeneratedSecret {
    let kind = kind.into();
    let random = random_base62(RANDOM_LEN);
    let mut plaintext = String::with_capacity(kind.prefix().len() + BODY_LEN);
    plaintext.push_str(kind.prefix());
    plaintext.push_str(&random);
    plaintext.push_str(&checksum(&random));
    GeneratedSecret {
        kind,
        digest: SecretDigest::of(&plaintext),
        hint: hint(kind, &plaintext),
        secret: Secret(plaintext),
    }
}

/// Why a candidate is not a well-formed secret. Deliberately coarse: it is
/// logged as a reason, never echoed with the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedSecret {
    #[error("unknown prefix")]
    Prefix,
    #[error("wrong length")]
    Length,
    #[error("character outside base62")]
    Alphabet,
    #[error("checksum mismatch")]
    Checksum,
}

/// A candidate that passed every offline check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedSecret {
    pub kind: SecretKind,
    pub digest: SecretDigest,
}

/// Checks prefix, length, alphabet and checksum; no I/O.
pub fn parse(candidate: &str) -> Result<ParsedSecret, MalformedSecret> {
    let (kind, body) = SecretKind::all()
        .find_map(|kind| candidate.strip_prefix(kind.prefix()).map(|b| (kind, b)))
        .ok_or(MalformedSecret::Prefix)?;
    if body.len() != BODY_LEN {
        return Err(MalformedSecret::Length);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MalformedSecret::Alphabet);
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(random) != check {
        return Err(MalformedSecret::Checksum);
    }
    Ok(ParsedSecret {
        kind,
        digest: SecretDigest::of(candidate),
    })
}

/// Prefix, first 4 and last 4 characters of the body: `lynk_live_CgzG…wVcm`.
fn hint(kind: SecretKind, plaintext: &str) -> String {
    let body = &plaintext[kind.prefix().len()..];
    format!(
        "{}{}…{}",
        kind.prefix(),
        &body[..4],
        &body[body.len() - 4..]
    )
}

/// CRC32 of the random part, as 6 base62 digits (62^6 > 2^32), zero-padded.
fn checksum(random: &str) -> String {
    let mut value = u64::from(crc32fast::hash(random.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        for kind in SecretKind::all() {
            let generated = generate(kind);
            let plain = generated.secret.expose();
            assert!(plain.starts_with(kind.prefix()));
            let body = &plain[kind.prefix().len()..];
            assert_eq!(body.len(), 36);
            assert!(body.bytes().all(|b| ALPHABET.contains(&b)));
            assert_eq!(checksum(&body[..30]), &body[30..]);
            assert_eq!(generated.digest, SecretDigest::of(plain));
            assert_eq!(
                parse(plain),
                Ok(ParsedSecret {
                    kind,
                    digest: generated.digest
                })
            );
        }
    }

    #[test]
    fn generated_secrets_are_unique() {
        let secrets: HashSet<String> = (0..10_000)
            .map(|_| {
                generate(CredentialKind::Personal)
                    .secret
                    .expose()
                    .to_owned()
            })
            .collect();
        assert_eq!(secrets.len(), 10_000);
    }

    #[test]
    fn every_alphabet_character_is_used() {
        let used: HashSet<u8> = (0..2_000)
            .flat_map(|_| {
                generate(CredentialKind::Service).secret.expose().as_bytes()[18..48].to_vec()
            })
            .collect();
        assert_eq!(used.len(), 62);
    }

    #[test]
    fn checksum_is_zero_padded_base62_of_crc32() {
        assert_eq!(checksum(""), "000000");
        // crc32("a") = 0xE8B7BE43 = 3904355907
        let mut v: u64 = 3_904_355_907;
        let mut expected = Vec::new();
        for _ in 0..6 {
            expected.push(ALPHABET[(v % 62) as usize]);
            v /= 62;
        }
        expected.reverse();
        assert_eq!(checksum("a").as_bytes(), expected.as_slice());
    }

    #[test]
    fn hint_shows_prefix_and_four_characters_each_side() {
        let generated = generate(CredentialKind::Personal);
        let plain = generated.secret.expose();
        assert_eq!(
            generated.hint,
            format!("lynk_live_{}…{}", &plain[10..14], &plain[plain.len() - 4..])
        );
    }

    #[test]
    fn parse_rejects_malformed_candidates() {
        let good = generate(CredentialKind::Personal)
            .secret
            .expose()
            .to_owned();
        assert_eq!(parse(""), Err(MalformedSecret::Prefix));
        assert_eq!(parse("ghp_abcdef"), Err(MalformedSecret::Prefix));
        assert_eq!(
            parse(&good.replace("lynk_live_", "lynk_test_")),
            Err(MalformedSecret::Prefix)
        );
        assert_eq!(parse(&good[..good.len() - 1]), Err(MalformedSecret::Length));
        assert_eq!(parse(&format!("{good}0")), Err(MalformedSecret::Length));
        let mut bad_alphabet = good.clone();
        bad_alphabet.replace_range(12..13, "-");
        assert_eq!(parse(&bad_alphabet), Err(MalformedSecret::Alphabet));
        let mut multibyte = good.clone();
        multibyte.replace_range(12..14, "é");
        assert_eq!(parse(&multibyte), Err(MalformedSecret::Alphabet));
        // Change one random character: the checksum no longer matches.
        let mut bad_checksum = good.clone().into_bytes();
        bad_checksum[12] = if bad_checksum[12] == b'a' { b'b' } else { b'a' };
        let bad_checksum = String::from_utf8(bad_checksum).unwrap();
        assert_eq!(parse(&bad_checksum), Err(MalformedSecret::Checksum));
    }

    #[test]
    fn no_prefix_starts_another() {
        for a in SecretKind::all() {
            for b in SecretKind::all().filter(|b| *b != a) {
                assert!(!a.prefix().starts_with(b.prefix()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn every_kind_has_the_prefix_secret_scanners_know() {
        let prefixes: Vec<(SecretKind, &str)> =
            SecretKind::all().map(|k| (k, k.prefix())).collect();
        assert_eq!(
            prefixes,
            [
                (CredentialKind::Personal.into(), "lynk_live_"),
                (CredentialKind::Service.into(), "lynk_service_live_"),
                (CredentialKind::Session.into(), "lynk_session_"),
                (SecretKind::Invitation, "lynk_invite_"),
            ]
        );
    }

    #[test]
    fn prefixes_do_not_shadow_each_other() {
        let service = generate(CredentialKind::Service);
        assert_eq!(
            parse(service.secret.expose()).map(|p| p.kind),
            Ok(SecretKind::Credential(CredentialKind::Service))
        );
        let session = generate(CredentialKind::Session);
        assert_eq!(
            parse(session.secret.expose()).map(|p| p.kind),
            Ok(SecretKind::Credential(CredentialKind::Session))
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let generated = generate(CredentialKind::Personal);
        let debug = format!("{generated:?}");
        assert!(!debug.contains(generated.secret.expose()));
        assert!(debug.contains("[redacted]"));
    }
}

/// Property tests ("fuzzing"): the parser never panics on any input and
/// accepts exactly the documented shape. `scripts/fuzz.sh` runs them with
/// many more cases (`PROPTEST_CASES`).
#[cfg(test)]
mod proptests {
    use proptest::{prelude::*, sample::select};

    use super::*;

    /// 2000 cases by default, so that `cargo test` stays fast; more with
    /// `PROPTEST_CASES` (which `with_cases` would otherwise override).
    fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        ProptestConfig::with_cases(cases)
    }

    fn kind() -> impl Strategy<Value = SecretKind> {
        select(SecretKind::all().collect::<Vec<_>>())
    }

    fn base62(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(select(ALPHABET.to_vec()), len)
            .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
    }

    /// A well-formed secret built from proptest's random part (so failures
    /// shrink and replay), with the checksum the format requires.
    fn well_formed() -> impl Strategy<Value = (SecretKind, String)> {
        (kind(), base62(RANDOM_LEN)).prop_map(|(kind, random)| {
            let token = format!("{}{random}{}", kind.prefix(), checksum(&random));
            (kind, token)
        })
    }

    /// The rule docs/signals.md gives secret scanners, written
    /// independently of [`checksum`]: a known prefix, 36 base62 characters,
    /// the last 6 being CRC32 of the first 30 in base62 (0-9A-Za-z),
    /// most significant digit first, zero-padded.
    fn scanner_accepts(candidate: &str) -> bool {
        let Some(body) = [
            "lynk_live_",
            "lynk_service_live_",
            "lynk_session_",
            "lynk_invite_",
        ]
        .iter()
        .find_map(|prefix| candidate.strip_prefix(prefix)) else {
            return false;
        };
        if body.len() != 36 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return false;
        }
        let digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut crc = u64::from(crc32fast::hash(&body.as_bytes()[..30]));
        let mut expected = String::new();
        for _ in 0..6 {
            expected.insert(0, char::from(digits.as_bytes()[(crc % 62) as usize]));
            crc /= 62;
        }
        body[30..] == expected
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn parse_never_panics_on_any_string(candidate in any::<String>()) {
            if parse(&candidate).is_ok() {
                prop_assert!(scanner_accepts(&candidate));
            }
        }

        #[test]
        fn parse_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let candidate = String::from_utf8_lossy(&bytes);
            if parse(&candidate).is_ok() {
                prop_assert!(scanner_accepts(&candidate));
            }
        }

        /// Past the prefix check, where length, alphabet and the byte
        /// offsets of the checksum split matter: any characters, multi-byte
        /// ones included, at and around the right length.
        #[test]
        fn parse_never_panics_after_a_known_prefix(kind in kind(), body in ".{0,40}") {
            let candidate = format!("{}{body}", kind.prefix());
            match parse(&candidate) {
                Ok(parsed) => {
                    prop_assert_eq!(parsed.kind, kind);
                    prop_assert!(scanner_accepts(&candidate));
                }
                Err(_) => prop_assert!(!scanner_accepts(&candidate)),
            }
        }

        #[test]
        fn generated_secrets_parse_back_to_their_kind(kind in kind()) {
            let generated = generate(kind);
            let plain = generated.secret.expose();
            prop_assert!(scanner_accepts(plain));
            prop_assert_eq!(
                parse(plain),
                Ok(ParsedSecret { kind, digest: generated.digest })
            );
        }

        #[test]
        fn well_formed_secrets_parse_to_their_kind_and_digest((kind, token) in well_formed()) {
            prop_assert!(scanner_accepts(&token));
            prop_assert_eq!(
                parse(&token),
                Ok(ParsedSecret { kind, digest: SecretDigest::of(&token) })
            );
        }

        /// Any one character replaced by any other, anywhere: never the
        /// original credential.
        #[test]
        fn a_mutated_secret_is_rejected_or_another_digest(
            (_, token) in well_formed(),
            position in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let chars: Vec<char> = token.chars().collect();
            let at = position.index(chars.len());
            prop_assume!(chars[at] != replacement);
            let mut mutated = chars;
            mutated[at] = replacement;
            let mutated: String = mutated.into_iter().collect();
            if let Ok(parsed) = parse(&mutated) {
                prop_assert_ne!(parsed.digest, SecretDigest::of(&token));
            }
        }

        /// A single base62 character changed in the body is always caught
        /// by the checksum: CRC32 detects every burst error of 32 bits or
        /// fewer, and one changed byte is a burst of at most 8.
        #[test]
        fn a_single_base62_change_in_the_body_fails_the_checksum(
            (kind, token) in well_formed(),
            position in 0..RANDOM_LEN + CHECKSUM_LEN,
            replacement in select(ALPHABET.to_vec()),
        ) {
            let at = kind.prefix().len() + position;
            let mut mutated = token.clone().into_bytes();
            prop_assume!(mutated[at] != replacement);
            mutated[at] = replacement;
            let mutated = String::from_utf8(mutated).expect("ASCII stays UTF-8");
            prop_assert_eq!(parse(&mutated), Err(MalformedSecret::Checksum));
            prop_assert!(!scanner_accepts(&mutated));
        }

        #[test]
        fn random_bodies_with_a_wrong_checksum_are_rejected(
            kind in kind(),
            random in base62(RANDOM_LEN),
            check in base62(CHECKSUM_LEN),
        ) {
            prop_assume!(check != checksum(&random));
            let candidate = format!("{}{random}{check}", kind.prefix());
            prop_assert_eq!(parse(&candidate), Err(MalformedSecret::Checksum));
            prop_assert!(!scanner_accepts(&candidate));
        }

        #[test]
        fn a_wrong_length_is_rejected(kind in kind(), body in "[0-9A-Za-z]{0,80}") {
            prop_assume!(body.len() != BODY_LEN);
            let candidate = format!("{}{body}", kind.prefix());
            prop_assert_eq!(parse(&candidate), Err(MalformedSecret::Length));
        }
    }
}
