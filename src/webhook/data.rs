//! The `data` of an event, in one shape for every sender: ids, names,
//! hints and actors, never a secret or a digest.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::entity::{audit_event::Actor, role, sbom, token, user};

fn time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| {
        Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

/// A token as events describe it: `id`, `name`, `kind` (`PERSONAL`,
/// `SERVICE`), `hint`, `ownerUserId`, `expiresAt`, `revokedAt`, and for a
/// child token `parentId`.
pub fn token(token: &token::Model) -> Value {
    let mut described = json!({
        "id": token.id.to_string(),
        "name": token.name,
        "kind": token.kind.as_str().to_ascii_uppercase(),
        "hint": token.hint,
        "ownerUserId": token.owner_user_id.map(|id| id.to_string()),
        "expiresAt": time(token.expires_at),
        "revokedAt": time(token.revoked_at),
    });
    // A child token (`attenuateToken`) names its parent.
    if let Some(parent_id) = token.parent_id {
        described["parentId"] = parent_id.to_string().into();
    }
    described
}

/// Who caused an event: `userId` and `tokenId` (either may be null: a
/// service token has no user; lynk itself, e.g. for `token.expiring`,
/// has neither). The client address is left out: receivers need not
/// hold personal data to act on an event.
pub fn actor(actor: &Actor) -> Value {
    json!({
        "userId": actor.user_id.map(|id| id.to_string()),
        "tokenId": actor.token_id.map(|id| id.to_string()),
    })
}

/// A role as events describe it: `id`, `name`.
pub fn role(role: &role::Model) -> Value {
    json!({ "id": role.id.to_string(), "name": role.name })
}

/// A member as events describe it: `userId`, `email`, `role`.
pub fn member(user: &user::Model, role: &role::Model) -> Value {
    json!({
        "userId": user.id.to_string(),
        "email": user.email,
        "role": self::role(role),
    })
}

/// An SBOM as events describe it: `id`, `name`, `format`, `sha256`,
/// `projectId`; never the document.
pub fn sbom(sbom: &sbom::Model) -> Value {
    json!({
        "id": sbom.id.to_string(),
        "name": sbom.name,
        "format": sbom.format,
        "sha256": sbom.sha256,
        "projectId": sbom.project_id.to_string(),
        // Who uploaded it, as verified (docs/DESIGN.md §9).
        "provenance": sbom
            .provenance
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    #[test]
    fn a_token_is_described_without_its_digest() {
        let model = token::Model {
            id: uuid::Uuid::nil(),
            kind: CredentialKind::Service,
            organization_id: None,
            name: "ci".into(),
            digest: vec![0xAB; 32],
            hint: "lynk_service_live_ABCD…WXYZ".into(),
            scopes: None,
            role_id: None,
            owner_user_id: None,
            created_by_user_id: None,
            created_at: Utc::now(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            revocation_scheduled: false,
            project_ids: None,
            last_used_ips: None,
            rotated_from_id: None,
            parent_id: None,
            allowed_cidrs: None,
            address_enforcement: None,
            rejected_count: 0,
            rejected_last_at: None,
            rejected_last_ips: None,
            rejected_last_reason: None,
            rejected_announced_at: None,
        };
        let described = token(&model);
        assert_eq!(described["kind"], "SERVICE");
        assert_eq!(described["hint"], "lynk_service_live_ABCD…WXYZ");
        assert_eq!(described["expiresAt"], Value::Null);
        assert!(!described.to_string().to_lowercase().contains("abab"));
    }

    #[test]
    fn an_sbom_is_described_without_its_document() {
        let model = sbom::Model {
            id: uuid::Uuid::nil(),
            organization_id: uuid::Uuid::nil(),
            project_id: uuid::Uuid::max(),
            name: "api".into(),
            format: "cyclonedx".into(),
            spec_version: "1.6".into(),
            component_count: 1,
            size_bytes: 42,
            sha256: "ab".repeat(32),
            document: r#"{"components":[{"name":"private-dependency"}]}"#.into(),
            uploaded_by_user_id: None,
            uploaded_by_token_id: None,
            created_at: Utc::now(),
            provenance_kind: Some("session".into()),
            provenance: Some(r#"{"kind":"SESSION"}"#.into()),
            receipt: Some("a.b.c".into()),
        };
        let described = sbom(&model);
        assert_eq!(
            described,
            json!({
                "id": uuid::Uuid::nil().to_string(),
                "name": "api",
                "format": "cyclonedx",
                "sha256": "ab".repeat(32),
                "projectId": uuid::Uuid::max().to_string(),
                "provenance": {"kind": "SESSION"},
            })
        );
    }

    #[test]
    fn a_member_is_described_with_their_role_and_no_password_hash() {
        let user = user::Model {
            id: uuid::Uuid::nil(),
            email: "vera@acme.test".into(),
            name: "Vera".into(),
            password_hash: "$argon2id$secret".into(),
            created_at: Utc::now(),
        };
        let role = role::Model {
            id: uuid::Uuid::max(),
            organization_id: uuid::Uuid::nil(),
            name: "viewer".into(),
            description: String::new(),
            permissions: String::new(),
            built_in: true,
            created_at: Utc::now(),
        };
        let described = member(&user, &role);
        assert_eq!(described["email"], "vera@acme.test");
        assert_eq!(described["role"]["name"], "viewer");
        assert!(!described.to_string().contains("argon2"));
    }
}
