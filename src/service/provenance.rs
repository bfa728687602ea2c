//! Who uploaded an SBOM, as the server verified it (docs/DESIGN.md §9):
//! the kind of credential, and for a token from `exchangeOidcToken` the
//! CI claims kept with it. Never read from the document. And the upload
//! policy that decides, per project, which credentials may upload. Pure
//! functions; `service::sbom` applies them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::{CredentialKind, oidc::Claims},
    entity::token_claims,
};

/// Longest claim value kept (the column's length).
const MAX_CLAIM_CHARS: usize = 255;

/// What kind of credential uploaded an SBOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProvenanceKind {
    /// A token from `exchangeOidcToken`: a CI job's verified identity.
    TrustedPublishing,
    ServiceToken,
    PersonalToken,
    Session,
}

impl ProvenanceKind {
    /// The stored value of `sbom.provenance_kind`.
    pub const fn as_stored(self) -> &'static str {
        match self {
            ProvenanceKind::TrustedPublishing => "trusted_publishing",
            ProvenanceKind::ServiceToken => "service_token",
            ProvenanceKind::PersonalToken => "personal_token",
            ProvenanceKind::Session => "session",
        }
    }

    /// The kind stored as `stored`.
    pub fn from_stored(stored: &str) -> Option<ProvenanceKind> {
        [
            ProvenanceKind::TrustedPublishing,
            ProvenanceKind::ServiceToken,
            ProvenanceKind::PersonalToken,
            ProvenanceKind::Session,
        ]
        .into_iter()
        .find(|kind| kind.as_str_eq(stored))
    }

    fn as_str_eq(self, stored: &str) -> bool {
        self.as_stored() == stored
    }
}

/// An SBOM's provenance, as stored (JSON) and signed in its receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub kind: ProvenanceKind,
    pub publisher_id: Option<Uuid>,
    pub issuer: Option<String>,
    pub repository: Option<String>,
    pub repository_id: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    pub workflow_ref: Option<String>,
    pub environment: Option<String>,
    pub run_id: Option<String>,
}

impl Provenance {
    /// A provenance of `kind` with no CI claims.
    pub fn bare(kind: ProvenanceKind) -> Provenance {
        Provenance {
            kind,
            publisher_id: None,
            issuer: None,
            repository: None,
            repository_id: None,
            git_ref: None,
            sha: None,
            workflow_ref: None,
            environment: None,
            run_id: None,
        }
    }

    /// The provenance of an upload by a credential of `kind`; `claims`
    /// are those kept with it when it came from `exchangeOidcToken`.
    pub fn of(kind: CredentialKind, claims: Option<&token_claims::Model>) -> Provenance {
        match (kind, claims) {
            (CredentialKind::Service, Some(claims)) => Provenance {
                kind: ProvenanceKind::TrustedPublishing,
                publisher_id: claims.publisher_id,
                issuer: Some(claims.issuer.clone()),
                repository: claims.repository.clone(),
                repository_id: claims.repository_id.clone(),
                git_ref: claims.git_ref.clone(),
                sha: claims.sha.clone(),
                workflow_ref: claims.workflow_ref.clone(),
                environment: claims.environment.clone(),
                run_id: claims.run_id.clone(),
            },
            (CredentialKind::Service, None) => Provenance::bare(ProvenanceKind::ServiceToken),
            (CredentialKind::Personal, _) => Provenance::bare(ProvenanceKind::PersonalToken),
            (CredentialKind::Session, _) => Provenance::bare(ProvenanceKind::Session),
        }
    }
}

/// The claims kept with an exchanged token: GitHub's `repository`,
/// `repository_id`, `ref`, `sha`, `job_workflow_ref`, `environment`,
/// `run_id`, or GitLab's `project_path`, `project_id`, `ref`, `sha`,
/// `ci_config_ref_uri`, `environment`, `pipeline_id`. Nothing else of the
/// identity token is kept.
pub fn kept_claims(token_id: Uuid, publisher_id: Uuid, claims: &Claims) -> token_claims::Model {
    let claim = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| claims.text(name))
            .map(|value| value.chars().take(MAX_CLAIM_CHARS).collect::<String>())
    };
    token_claims::Model {
        token_id,
        publisher_id: Some(publisher_id),
        issuer: claims.iss.chars().take(MAX_CLAIM_CHARS).collect(),
        repository: claim(&["repository", "project_path"]),
        repository_id: claim(&["repository_id", "project_id"]),
        git_ref: claim(&["ref"]),
        sha: claim(&["sha"]),
        workflow_ref: claim(&["job_workflow_ref", "ci_config_ref_uri"]),
        environment: claim(&["environment"]),
        run_id: claim(&["run_id", "pipeline_id"]),
    }
}

/// Which credentials may upload to a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadPolicy {
    /// Any credential with `sboms:write` (the default).
    AnyCredential,
    /// Any credential, but uploads not by trusted publishing are recorded
    /// in `Project.policyViolations`.
    TrustedPublishingReport,
    /// Only tokens from `exchangeOidcToken`.
    TrustedPublishingOnly,
}

/// What an upload under a policy comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyDecision {
    Allow,
    /// Stored, and recorded as a violation.
    AllowAndRecord,
    Refuse,
}

impl UploadPolicy {
    /// The stored value of `project.upload_policy`.
    pub const fn as_stored(self) -> &'static str {
        match self {
            UploadPolicy::AnyCredential => "any_credential",
            UploadPolicy::TrustedPublishingReport => "trusted_publishing_report",
            UploadPolicy::TrustedPublishingOnly => "trusted_publishing_only",
        }
    }

    /// The policy stored as `stored`; an unknown value is the strictest.
    pub fn from_stored(stored: &str) -> UploadPolicy {
        match stored {
            "any_credential" => UploadPolicy::AnyCredential,
            "trusted_publishing_report" => UploadPolicy::TrustedPublishingReport,
            _ => UploadPolicy::TrustedPublishingOnly,
        }
    }

    /// What an upload whose provenance is `kind` comes to.
    pub fn decide(self, kind: ProvenanceKind) -> PolicyDecision {
        match (self, kind) {
            (_, ProvenanceKind::TrustedPublishing) | (UploadPolicy::AnyCredential, _) => {
                PolicyDecision::Allow
            }
            (UploadPolicy::TrustedPublishingReport, _) => PolicyDecision::AllowAndRecord,
            (UploadPolicy::TrustedPublishingOnly, _) => PolicyDecision::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_trusted_publishing_passes_every_policy() {
        use ProvenanceKind::*;
        use UploadPolicy::*;
        for kind in [TrustedPublishing, ServiceToken, PersonalToken, Session] {
            assert_eq!(AnyCredential.decide(kind), PolicyDecision::Allow);
            let trusted = kind == TrustedPublishing;
            assert_eq!(
                TrustedPublishingReport.decide(kind),
                if trusted {
                    PolicyDecision::Allow
                } else {
                    PolicyDecision::AllowAndRecord
                }
            );
            assert_eq!(
                TrustedPublishingOnly.decide(kind),
                if trusted {
                    PolicyDecision::Allow
                } else {
                    PolicyDecision::Refuse
                }
            );
            assert_eq!(ProvenanceKind::from_stored(kind.as_stored()), Some(kind));
        }
        for policy in [
            AnyCredential,
            TrustedPublishingReport,
            TrustedPublishingOnly,
        ] {
            assert_eq!(UploadPolicy::from_stored(policy.as_stored()), policy);
        }
        assert_eq!(UploadPolicy::from_stored("?"), TrustedPublishingOnly);
    }

    #[test]
    fn only_the_selected_claims_are_kept() {
        let github: Claims = serde_json::from_value(json!({
            "iss": "https://token.actions.githubusercontent.com", "sub": "repo:a/b:ref:refs/heads/main",
            "aud": "lynk", "exp": 2.0, "iat": 1.0,
            "repository": "a/b", "repository_id": 42, "ref": "refs/heads/main", "sha": "abc",
            "job_workflow_ref": "a/b/.github/workflows/r.yml@refs/heads/main",
            "environment": "prod", "run_id": "7", "actor": "mallory", "repository_owner": "a"
        }))
        .unwrap();
        let (token, publisher) = (Uuid::now_v7(), Uuid::now_v7());
        let kept = kept_claims(token, publisher, &github);
        assert_eq!(kept.repository_id.as_deref(), Some("42"));
        assert_eq!(
            kept.workflow_ref.as_deref(),
            Some("a/b/.github/workflows/r.yml@refs/heads/main")
        );
        let provenance = Provenance::of(CredentialKind::Service, Some(&kept));
        let json = serde_json::to_value(&provenance).unwrap();
        assert_eq!(json["kind"], "TRUSTED_PUBLISHING");
        assert_eq!(json["ref"], "refs/heads/main");
        assert!(!json.to_string().contains("mallory"));
        let gitlab: Claims = serde_json::from_value(json!({
            "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main",
            "aud": "lynk", "exp": 2.0, "iat": 1.0, "project_path": "g/p", "project_id": "9",
            "ci_config_ref_uri": "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main",
            "pipeline_id": "11", "ref": "main", "sha": "def"
        }))
        .unwrap();
        let kept = kept_claims(token, publisher, &gitlab);
        assert_eq!(
            (
                kept.repository.as_deref(),
                kept.repository_id.as_deref(),
                kept.run_id.as_deref()
            ),
            (Some("g/p"), Some("9"), Some("11"))
        );
        assert_eq!(
            Provenance::of(CredentialKind::Service, None).kind,
            ProvenanceKind::ServiceToken
        );
    }
}
