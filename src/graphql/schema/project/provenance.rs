//! Supply-chain types of a project (docs/DESIGN.md §9): its upload
//! policy, the credentials that upload against a report-only policy, and
//! an SBOM's provenance.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::publisher::TrustedPublisher;
use crate::{
    auth::Principal,
    entity::{trusted_publisher, upload_policy_violation},
    error::Error,
    graphql::{
        schema::context::ContextExt,
        schema::loader::{self, TokenId},
        schema::scalar::Timestamp,
        schema::token::Token,
    },
    service::provenance as domain,
};

/// Which credentials may upload SBOMs to a project.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadPolicy {
    /// Any credential with `sboms:write`.
    AnyCredential,
    /// Any credential; those that are not a token from
    /// `exchangeOidcToken` are named in `Project.policyViolations`.
    TrustedPublishingReport,
    /// Only tokens from `exchangeOidcToken`; any other upload is
    /// `FORBIDDEN` with `extensions.reason: "UPLOAD_POLICY"`.
    TrustedPublishingOnly,
}

impl From<domain::UploadPolicy> for UploadPolicy {
    fn from(policy: domain::UploadPolicy) -> Self {
        match policy {
            domain::UploadPolicy::AnyCredential => UploadPolicy::AnyCredential,
            domain::UploadPolicy::TrustedPublishingReport => UploadPolicy::TrustedPublishingReport,
            domain::UploadPolicy::TrustedPublishingOnly => UploadPolicy::TrustedPublishingOnly,
        }
    }
}

impl From<UploadPolicy> for domain::UploadPolicy {
    fn from(policy: UploadPolicy) -> Self {
        match policy {
            UploadPolicy::AnyCredential => domain::UploadPolicy::AnyCredential,
            UploadPolicy::TrustedPublishingReport => domain::UploadPolicy::TrustedPublishingReport,
            UploadPolicy::TrustedPublishingOnly => domain::UploadPolicy::TrustedPublishingOnly,
        }
    }
}

/// What kind of credential uploaded an SBOM.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenanceKind {
    /// A token from `exchangeOidcToken`: the CI claims are filled in.
    TrustedPublishing,
    ServiceToken,
    PersonalToken,
    Session,
}

impl From<domain::ProvenanceKind> for ProvenanceKind {
    fn from(kind: domain::ProvenanceKind) -> Self {
        match kind {
            domain::ProvenanceKind::TrustedPublishing => ProvenanceKind::TrustedPublishing,
            domain::ProvenanceKind::ServiceToken => ProvenanceKind::ServiceToken,
            domain::ProvenanceKind::PersonalToken => ProvenanceKind::PersonalToken,
            domain::ProvenanceKind::Session => ProvenanceKind::Session,
        }
    }
}

impl From<ProvenanceKind> for domain::ProvenanceKind {
    fn from(kind: ProvenanceKind) -> Self {
        match kind {
            ProvenanceKind::TrustedPublishing => domain::ProvenanceKind::TrustedPublishing,
            ProvenanceKind::ServiceToken => domain::ProvenanceKind::ServiceToken,
            ProvenanceKind::PersonalToken => domain::ProvenanceKind::PersonalToken,
            ProvenanceKind::Session => domain::ProvenanceKind::Session,
        }
    }
}

/// Who uploaded an SBOM, as the server verified it at upload: the kind
/// of credential and, for trusted publishing, the CI job's claims kept
/// with its exchanged token. Never read from the document.
pub struct Provenance {
    pub(super) value: domain::Provenance,
    pub(super) organization_id: uuid::Uuid,
    pub(super) viewer: Arc<Principal>,
}

#[Object]
impl Provenance {
    async fn kind(&self) -> ProvenanceKind {
        self.value.kind.into()
    }

    /// The trusted publisher the exchange matched, if it still exists and
    /// you may see it (`tokens:read`).
    async fn publisher(&self, ctx: &Context<'_>) -> Result<Option<TrustedPublisher>, Error> {
        let Some(id) = self.value.publisher_id else {
            return Ok(None);
        };
        let model = trusted_publisher::Entity::find_by_id(id)
            .filter(trusted_publisher::Column::OrganizationId.eq(self.organization_id))
            .one(ctx.db()?)
            .await?;
        Ok(model.and_then(|m| TrustedPublisher::reached(&self.viewer, m).ok()))
    }

    /// The OIDC issuer (`iss`).
    async fn issuer(&self) -> Option<&str> {
        self.value.issuer.as_deref()
    }

    /// GitHub `repository`, GitLab `project_path`.
    async fn repository(&self) -> Option<&str> {
        self.value.repository.as_deref()
    }

    /// GitHub `repository_id`, GitLab `project_id`.
    async fn repository_id(&self) -> Option<&str> {
        self.value.repository_id.as_deref()
    }

    /// The git ref (`ref`).
    #[graphql(name = "ref")]
    async fn git_ref(&self) -> Option<&str> {
        self.value.git_ref.as_deref()
    }

    /// The commit (`sha`).
    async fn sha(&self) -> Option<&str> {
        self.value.sha.as_deref()
    }

    /// GitHub `job_workflow_ref`, GitLab `ci_config_ref_uri`.
    async fn workflow_ref(&self) -> Option<&str> {
        self.value.workflow_ref.as_deref()
    }

    /// The deployment environment (`environment`).
    async fn environment(&self) -> Option<&str> {
        self.value.environment.as_deref()
    }

    /// GitHub `run_id`, GitLab `pipeline_id`.
    async fn run_id(&self) -> Option<&str> {
        self.value.run_id.as_deref()
    }
}

/// A stored credential that uploaded to a project under
/// `TRUSTED_PUBLISHING_REPORT` without being a token from
/// `exchangeOidcToken`.
pub struct UploadPolicyViolation {
    pub(super) model: upload_policy_violation::Model,
    pub(super) viewer: Arc<Principal>,
}

#[Object]
impl UploadPolicyViolation {
    /// The credential, if you may see it as `token(id)` answers; null
    /// otherwise.
    async fn token(&self, ctx: &Context<'_>) -> Result<Option<Token>, Error> {
        let Some(model) = loader::load_one(ctx, TokenId(self.model.token_id)).await? else {
            return Ok(None);
        };
        Ok(Token::reached(&self.viewer, model).ok())
    }

    /// Its uploads under the report-only policy (an upload of a document
    /// already stored counts too).
    async fn count(&self) -> i32 {
        i32::try_from(self.model.count).unwrap_or(i32::MAX)
    }

    /// Its last such upload.
    async fn last_at(&self) -> Timestamp {
        self.model.last_at.into()
    }
}
