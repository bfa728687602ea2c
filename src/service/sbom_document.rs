//! Reading an uploaded SBOM document: is it CycloneDX or SPDX JSON, which
//! spec version, how many components, what it calls itself, its size and
//! SHA-256.
//!
//! Pure functions, no I/O: every rule an upload can break is decided (and
//! unit-tested) here, so the resolvers only authorize and store. Each
//! rejection says what is wrong and what would be accepted, because the
//! reader is usually a CI log.

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;

pub use crate::config::DEFAULT_MAX_SBOM_BYTES;

/// Name given to an SBOM when neither the upload nor the document names it.
pub const FALLBACK_NAME: &str = "sbom";

/// Longest name taken from a document's metadata.
const MAX_DERIVED_NAME_LEN: usize = crate::service::validate::MAX_NAME_LEN;

/// CycloneDX minor versions known at the time of writing; later `1.x`
/// versions are accepted too (CycloneDX 1.x only adds fields).
const CYCLONEDX_KNOWN_VERSIONS: &str = "1.2, 1.3, 1.4, 1.5, 1.6, 1.7";
/// The oldest CycloneDX minor version accepted (1.2 is the first with a
/// JSON schema that has `bomFormat`).
const CYCLONEDX_MIN_MINOR: u32 = 2;
/// The SPDX versions accepted, as written in `spdxVersion`.
const SPDX_VERSIONS: [&str; 2] = ["SPDX-2.2", "SPDX-2.3"];

/// The two document formats lynk accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentFormat {
    /// CycloneDX JSON (`"bomFormat": "CycloneDX"`).
    CycloneDx,
    /// SPDX 2.x JSON (`"spdxVersion": "SPDX-2.3"`).
    Spdx,
}

impl DocumentFormat {
    /// The stored `format` value.
    pub const fn as_stored(self) -> &'static str {
        match self {
            DocumentFormat::CycloneDx => "cyclonedx",
            DocumentFormat::Spdx => "spdx",
        }
    }

    /// Reads a stored `format` value (anything unknown reads as CycloneDX,
    /// which the database never holds).
    pub fn from_stored(stored: &str) -> DocumentFormat {
        if stored == DocumentFormat::Spdx.as_stored() {
            DocumentFormat::Spdx
        } else {
            DocumentFormat::CycloneDx
        }
    }

    const fn display_name(self) -> &'static str {
        match self {
            DocumentFormat::CycloneDx => "CycloneDX",
            DocumentFormat::Spdx => "SPDX",
        }
    }
}

/// What lynk records about an accepted document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSummary {
    pub format: DocumentFormat,
    /// As written in the document: `1.6` (CycloneDX), `SPDX-2.3` (SPDX).
    pub spec_version: String,
    /// CycloneDX: every entry of `components`, nested ones included; SPDX:
    /// the number of `packages`.
    pub component_count: usize,
    /// CycloneDX `metadata.component.name`, SPDX `name`, when usable as a name.
    pub name: Option<String>,
    /// Size of the document in bytes (UTF-8).
    pub size_bytes: usize,
    /// Lower-case hex SHA-256 of the document's bytes.
    pub sha256: String,
}

/// Why an upload is not an acceptable SBOM. Every message says what would be.
#[derive(Debug)]
pub enum DocumentError {
    /// Over the configured size limit.
    TooLarge { size: u64, limit: usize },
    /// The bytes are not UTF-8 text.
    NotUtf8 { valid_up_to: usize },
    /// Not JSON at all (the parser says where).
    NotJson(serde_json::Error),
    /// JSON, but not a CycloneDX or SPDX document.
    UnknownFormat { detail: String },
    /// A field the format requires is absent.
    MissingField {
        format: DocumentFormat,
        field: &'static str,
        expected: &'static str,
    },
    /// A field has the wrong type or shape.
    InvalidField {
        format: DocumentFormat,
        field: String,
        expected: &'static str,
    },
    /// A spec version lynk does not read.
    UnsupportedVersion {
        format: DocumentFormat,
        found: String,
    },
}

const ACCEPTED_FORMATS: &str = "expected CycloneDX JSON (\"bomFormat\": \"CycloneDX\", \
                                specVersion 1.2 or later) or SPDX JSON (\"spdxVersion\": \
                                \"SPDX-2.2\" or \"SPDX-2.3\")";

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::TooLarge { size, limit } => write!(
                f,
                "the document is {size} bytes; the limit is {limit} bytes"
            ),
            DocumentError::NotUtf8 { valid_up_to } => write!(
                f,
                "the document is not UTF-8 text (invalid byte at offset {valid_up_to}); \
                 {ACCEPTED_FORMATS}"
            ),
            DocumentError::NotJson(err) => write!(f, "the document is not valid JSON: {err}"),
            DocumentError::UnknownFormat { detail } => {
                write!(f, "unknown SBOM format ({detail}); {ACCEPTED_FORMATS}")
            }
            DocumentError::MissingField {
                format,
                field,
                expected,
            } => write!(
                f,
                "the {} document has no `{field}`; expected {expected}",
                format.display_name()
            ),
            DocumentError::InvalidField {
                format,
                field,
                expected,
            } => write!(
                f,
                "the {} document's `{field}` is invalid; expected {expected}",
                format.display_name()
            ),
            DocumentError::UnsupportedVersion { format, found } => match format {
                DocumentFormat::CycloneDx => write!(
                    f,
                    "CycloneDX specVersion \"{found}\" is not supported; supported versions \
                     are 1.2 and later 1.x versions ({CYCLONEDX_KNOWN_VERSIONS})"
                ),
                DocumentFormat::Spdx => write!(
                    f,
                    "SPDX spdxVersion \"{found}\" is not supported; supported versions are {}",
                    SPDX_VERSIONS.join(", ")
                ),
            },
        }
    }
}

impl From<DocumentError> for Error {
    fn from(err: DocumentError) -> Self {
        Error::bad_input(err.to_string())
    }
}

/// Checks a size (of a file not yet read, or of a document) against the limit.
pub fn check_size(size: u64, limit: usize) -> Result<(), DocumentError> {
    if u64::try_from(limit).is_ok_and(|limit| size <= limit) {
        Ok(())
    } else {
        Err(DocumentError::TooLarge { size, limit })
    }
}

/// Turns uploaded bytes into the text stored as the document.
pub fn decode(bytes: Vec<u8>) -> Result<String, DocumentError> {
    String::from_utf8(bytes).map_err(|err| DocumentError::NotUtf8 {
        valid_up_to: err.utf8_error().valid_up_to(),
    })
}

/// Checks a document against the size limit, reads its format, version,
/// components and name, and hashes it.
pub fn inspect(document: &str, max_bytes: usize) -> Result<DocumentSummary, DocumentError> {
    let size_bytes = document.len();
    check_size(u64::try_from(size_bytes).unwrap_or(u64::MAX), max_bytes)?;
    // Some Windows tools write a byte-order mark; it is kept (and hashed)
    // as uploaded, but JSON has no room for it.
    let json = document.strip_prefix('\u{feff}').unwrap_or(document);
    let value: Value = serde_json::from_str(json).map_err(DocumentError::NotJson)?;
    let Value::Object(root) = value else {
        return Err(DocumentError::UnknownFormat {
            detail: format!("the document is a JSON {}, not an object", kind(&value)),
        });
    };
    let parsed = if let Some(bom_format) = root.get("bomFormat") {
        if bom_format.as_str() != Some("CycloneDX") {
            return Err(DocumentError::UnknownFormat {
                detail: format!("\"bomFormat\" is {bom_format}"),
            });
        }
        cyclonedx(&root)?
    } else if root.contains_key("spdxVersion") {
        spdx(&root)?
    } else {
        return Err(DocumentError::UnknownFormat {
            detail: "the document has neither \"bomFormat\" nor \"spdxVersion\"".into(),
        });
    };
    Ok(DocumentSummary {
        format: parsed.format,
        spec_version: parsed.spec_version,
        component_count: parsed.component_count,
        name: parsed.name,
        size_bytes,
        sha256: sha256_hex(document.as_bytes()),
    })
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

struct Parsed {
    format: DocumentFormat,
    spec_version: String,
    component_count: usize,
    name: Option<String>,
}

fn cyclonedx(root: &Map<String, Value>) -> Result<Parsed, DocumentError> {
    const FORMAT: DocumentFormat = DocumentFormat::CycloneDx;
    const VERSION_EXPECTED: &str = "a string such as \"specVersion\": \"1.6\" (1.2 or later)";
    let spec_version = match root.get("specVersion") {
        None | Some(Value::Null) => {
            return Err(DocumentError::MissingField {
                format: FORMAT,
                field: "specVersion",
                expected: VERSION_EXPECTED,
            });
        }
        Some(Value::String(version)) => version.clone(),
        Some(_) => {
            return Err(DocumentError::InvalidField {
                format: FORMAT,
                field: "specVersion".into(),
                expected: VERSION_EXPECTED,
            });
        }
    };
    if !cyclonedx_version_supported(&spec_version) {
        return Err(DocumentError::UnsupportedVersion {
            format: FORMAT,
            found: spec_version,
        });
    }
    let component_count = match root.get("components") {
        None | Some(Value::Null) => 0,
        Some(components) => count_components(components, "components")?,
    };
    let name = root
        .get("metadata")
        .and_then(|metadata| metadata.get("component"))
        .and_then(|component| component.get("name"))
        .and_then(Value::as_str)
        .and_then(usable_name);
    Ok(Parsed {
        format: FORMAT,
        spec_version,
        component_count,
        name,
    })
}

/// `1.N` with N ≥ 2.
fn cyclonedx_version_supported(version: &str) -> bool {
    let Some(("1", minor)) = version.split_once('.') else {
        return false;
    };
    !minor.is_empty()
        && minor.bytes().all(|b| b.is_ascii_digit())
        && minor
            .parse::<u32>()
            .is_ok_and(|minor| minor >= CYCLONEDX_MIN_MINOR)
}

/// Counts every entry of a CycloneDX `components` array and, recursively,
/// of each entry's own `components`. (Nesting depth is bounded by the JSON
/// parser's recursion limit.)
fn count_components(components: &Value, path: &str) -> Result<usize, DocumentError> {
    const EXPECTED: &str = "an array of component objects";
    let invalid = |field: String| DocumentError::InvalidField {
        format: DocumentFormat::CycloneDx,
        field,
        expected: EXPECTED,
    };
    let Value::Array(entries) = components else {
        return Err(invalid(path.to_owned()));
    };
    let mut count = entries.len();
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(component) = entry else {
            return Err(invalid(format!("{path}[{index}]")));
        };
        match component.get("components") {
            None | Some(Value::Null) => {}
            Some(nested) => {
                count += count_components(nested, &format!("{path}[{index}].components"))?;
            }
        }
    }
    Ok(count)
}

fn spdx(root: &Map<String, Value>) -> Result<Parsed, DocumentError> {
    const FORMAT: DocumentFormat = DocumentFormat::Spdx;
    let spec_version = match root.get("spdxVersion") {
        Some(Value::String(version)) => version.clone(),
        _ => {
            return Err(DocumentError::InvalidField {
                format: FORMAT,
                field: "spdxVersion".into(),
                expected: "a string, \"SPDX-2.2\" or \"SPDX-2.3\"",
            });
        }
    };
    if !SPDX_VERSIONS.contains(&spec_version.as_str()) {
        return Err(DocumentError::UnsupportedVersion {
            format: FORMAT,
            found: spec_version,
        });
    }
    let component_count = match root.get("packages") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(packages)) => packages.len(),
        Some(_) => {
            return Err(DocumentError::InvalidField {
                format: FORMAT,
                field: "packages".into(),
                expected: "an array of package objects",
            });
        }
    };
    let name = root
        .get("name")
        .and_then(Value::as_str)
        .and_then(usable_name);
    Ok(Parsed {
        format: FORMAT,
        spec_version,
        component_count,
        name,
    })
}

/// A document's own name, if it makes a valid display name (trimmed, no
/// control characters); a long one is cut to the longest name allowed.
fn usable_name(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return None;
    }
    Some(
        trimmed
            .chars()
            .take(MAX_DERIVED_NAME_LEN)
            .collect::<String>()
            .trim_end()
            .to_owned(),
    )
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMIT: usize = DEFAULT_MAX_SBOM_BYTES;

    fn message(document: &str) -> String {
        inspect(document, LIMIT).unwrap_err().to_string()
    }

    #[test]
    fn cyclonedx_counts_nested_components() {
        let document = json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "metadata": { "component": { "name": "  shop-api  ", "version": "2.1.0" } },
            "components": [
                { "name": "a", "components": [
                    { "name": "a1" },
                    { "name": "a2", "components": [ { "name": "a2x" } ] },
                ] },
                { "name": "b", "components": [] },
                { "name": "c", "components": null },
            ],
        })
        .to_string();
        let summary = inspect(&document, LIMIT).unwrap();
        assert_eq!(summary.format, DocumentFormat::CycloneDx);
        assert_eq!(summary.spec_version, "1.6");
        assert_eq!(summary.component_count, 6);
        assert_eq!(summary.name.as_deref(), Some("shop-api"));
        assert_eq!(summary.size_bytes, document.len());
        assert_eq!(summary.sha256, sha256_hex(document.as_bytes()));
    }

    #[test]
    fn cyclonedx_without_components_or_name() {
        let summary = inspect(r#"{"bomFormat":"CycloneDX","specVersion":"1.2"}"#, LIMIT).unwrap();
        assert_eq!(summary.component_count, 0);
        assert_eq!(summary.name, None);
    }

    #[test]
    fn cyclonedx_versions() {
        for ok in ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.12"] {
            assert!(cyclonedx_version_supported(ok), "{ok}");
        }
        for bad in [
            "1.0", "1.1", "2.0", "1", "1.", "1.x", "1.6.1", "v1.6", "1.+6", "",
        ] {
            assert!(!cyclonedx_version_supported(bad), "{bad}");
        }
        assert_eq!(
            message(r#"{"bomFormat":"CycloneDX","specVersion":"1.1"}"#),
            "CycloneDX specVersion \"1.1\" is not supported; supported versions are 1.2 and \
             later 1.x versions (1.2, 1.3, 1.4, 1.5, 1.6, 1.7)"
        );
    }

    #[test]
    fn cyclonedx_needs_a_string_spec_version() {
        assert_eq!(
            message(r#"{"bomFormat":"CycloneDX","components":[]}"#),
            "the CycloneDX document has no `specVersion`; expected a string such as \
             \"specVersion\": \"1.6\" (1.2 or later)"
        );
        assert!(
            message(r#"{"bomFormat":"CycloneDX","specVersion":1.6}"#)
                .starts_with("the CycloneDX document's `specVersion` is invalid")
        );
    }

    #[test]
    fn cyclonedx_components_must_be_arrays_of_objects() {
        assert_eq!(
            message(r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}"#),
            "the CycloneDX document's `components` is invalid; expected an array of \
             component objects"
        );
        assert!(
            message(
                r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"components":[{},3]}]}"#
            )
            .contains("`components[0].components[1]` is invalid")
        );
    }

    #[test]
    fn spdx_counts_packages() {
        let document = json!({
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "shop-api-2.1.0",
            "packages": [ { "name": "a" }, { "name": "b" }, { "name": "c" } ],
        })
        .to_string();
        let summary = inspect(&document, LIMIT).unwrap();
        assert_eq!(summary.format, DocumentFormat::Spdx);
        assert_eq!(summary.spec_version, "SPDX-2.3");
        assert_eq!(summary.component_count, 3);
        assert_eq!(summary.name.as_deref(), Some("shop-api-2.1.0"));
        let summary = inspect(r#"{"spdxVersion":"SPDX-2.2"}"#, LIMIT).unwrap();
        assert_eq!(summary.component_count, 0);
    }

    #[test]
    fn spdx_versions_and_fields() {
        assert_eq!(
            message(r#"{"spdxVersion":"SPDX-2.1"}"#),
            "SPDX spdxVersion \"SPDX-2.1\" is not supported; supported versions are \
             SPDX-2.2, SPDX-2.3"
        );
        assert!(message(r#"{"spdxVersion":2.3}"#).contains("`spdxVersion` is invalid"));
        assert!(
            message(r#"{"spdxVersion":"SPDX-2.3","packages":"x"}"#)
                .contains("`packages` is invalid")
        );
    }

    #[test]
    fn other_documents_are_refused_with_the_reason() {
        assert_eq!(
            message("not json"),
            "the document is not valid JSON: expected ident at line 1 column 2"
        );
        assert_eq!(
            message(r#"{"bomFormat": "CycloneDX", "#),
            "the document is not valid JSON: EOF while parsing a value at line 1 column 27"
        );
        assert_eq!(
            message(r#"{"name":"x"}"#),
            "unknown SBOM format (the document has neither \"bomFormat\" nor \"spdxVersion\"); \
             expected CycloneDX JSON (\"bomFormat\": \"CycloneDX\", specVersion 1.2 or later) \
             or SPDX JSON (\"spdxVersion\": \"SPDX-2.2\" or \"SPDX-2.3\")"
        );
        assert!(message(r#"{"bomFormat":"SWID"}"#).starts_with(
            "unknown SBOM format (\"bomFormat\" is \"SWID\"); expected CycloneDX JSON"
        ));
        assert!(
            message("[1, 2]")
                .starts_with("unknown SBOM format (the document is a JSON array, not an object)")
        );
    }

    #[test]
    fn size_limit_names_both_numbers() {
        let document = r#"{"spdxVersion":"SPDX-2.3"}"#;
        assert!(inspect(document, document.len()).is_ok());
        assert_eq!(
            inspect(document, document.len() - 1)
                .unwrap_err()
                .to_string(),
            format!(
                "the document is {} bytes; the limit is {} bytes",
                document.len(),
                document.len() - 1
            )
        );
        assert!(check_size(11, 10).is_err());
        assert!(check_size(10, 10).is_ok());
    }

    #[test]
    fn byte_order_mark_is_allowed_and_hashed() {
        let document = "\u{feff}{\"spdxVersion\":\"SPDX-2.3\"}";
        let summary = inspect(document, LIMIT).unwrap();
        assert_eq!(summary.size_bytes, document.len());
        assert_eq!(summary.sha256, sha256_hex(document.as_bytes()));
    }

    #[test]
    fn decode_refuses_binary() {
        assert_eq!(decode(b"{}".to_vec()).unwrap(), "{}");
        assert_eq!(
            decode(vec![b'{', 0xff, b'}']).unwrap_err().to_string(),
            "the document is not UTF-8 text (invalid byte at offset 1); expected CycloneDX \
             JSON (\"bomFormat\": \"CycloneDX\", specVersion 1.2 or later) or SPDX JSON \
             (\"spdxVersion\": \"SPDX-2.2\" or \"SPDX-2.3\")"
        );
    }

    #[test]
    fn derived_names_are_cleaned() {
        assert_eq!(usable_name("  app "), Some("app".into()));
        assert_eq!(usable_name("   "), None);
        assert_eq!(usable_name("a\u{0}b"), None);
        assert_eq!(usable_name(&"x".repeat(300)).map(|n| n.len()), Some(100));
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn stored_formats_round_trip() {
        for format in [DocumentFormat::CycloneDx, DocumentFormat::Spdx] {
            assert_eq!(DocumentFormat::from_stored(format.as_stored()), format);
        }
    }
}
