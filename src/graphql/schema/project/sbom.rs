//! The `Sbom` output type: an SBOM document stored in a project, listed
//! without its document, which is read only when asked for.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

use super::{Project, provenance::Provenance};
use crate::{
    auth::{Permission, Principal, reach},
    entity::sbom,
    error::Error,
    graphql::{
        schema::context::ContextExt,
        schema::loader::{self, ProjectId, TokenId},
        schema::scalar::Timestamp,
        schema::token::Token,
        schema::user::User,
    },
    service::{sbom as sbom_service, sbom_document::DocumentFormat},
};

/// The document formats lynk accepts.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbomFormat {
    /// CycloneDX JSON, specVersion 1.2 or later.
    #[graphql(name = "CYCLONEDX")]
    CycloneDx,
    /// SPDX JSON, SPDX-2.2 or SPDX-2.3.
    Spdx,
}

impl From<DocumentFormat> for SbomFormat {
    fn from(format: DocumentFormat) -> Self {
        match format {
            DocumentFormat::CycloneDx => SbomFormat::CycloneDx,
            DocumentFormat::Spdx => SbomFormat::Spdx,
        }
    }
}

/// An uploaded SBOM document and what lynk read from it, as one caller
/// sees it: built only through a reach check, carrying that caller.
pub struct Sbom {
    model: sbom::Model,
    /// Lists leave the document out (it may be megabytes); `document`
    /// reads it then, one row at a time, and its complexity bounds how many.
    document_loaded: bool,
    viewer: Arc<Principal>,
}

impl Sbom {
    /// An SBOM read whole, if `viewer` may see it (as `sbom(id)` answers).
    pub fn reached(viewer: &Arc<Principal>, model: sbom::Model) -> Result<Sbom, Error> {
        reach::sbom(viewer, model.organization_id, model.project_id)?;
        Ok(Sbom {
            model,
            document_loaded: true,
            viewer: Arc::clone(viewer),
        })
    }

    /// An SBOM from [`without_documents`] (everything but the document),
    /// if `viewer` may see it.
    pub fn listed(viewer: &Arc<Principal>, model: sbom::Model) -> Result<Sbom, Error> {
        let mut sbom = Sbom::reached(viewer, model)?;
        sbom.document_loaded = false;
        Ok(sbom)
    }

    /// An SBOM `viewer` has just uploaded (read whole).
    pub fn written(viewer: &Arc<Principal>, model: sbom::Model) -> Result<Sbom, Error> {
        reach::written(
            viewer,
            model.organization_id,
            Some(model.project_id),
            "sbom",
        )?;
        Ok(Sbom {
            model,
            document_loaded: true,
            viewer: Arc::clone(viewer),
        })
    }
}

/// A query for SBOMs without their documents (an empty string stands in).
pub fn without_documents(select: Select<sbom::Entity>) -> Select<sbom::Entity> {
    use sea_orm::{Iterable, QuerySelect, sea_query::Expr};
    select
        .select_only()
        .columns(sbom::Column::iter().filter(|c| !matches!(c, sbom::Column::Document)))
        .column_as(Expr::val(""), "document")
}

/// Each document costs this much of the query's complexity budget, so one
/// request reads only a few.
pub const DOCUMENT_COMPLEXITY: usize = 1000;

#[Object]
impl Sbom {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// The name given at upload, else the document's own (CycloneDX
    /// `metadata.component.name`, SPDX `name`), else `sbom`.
    async fn name(&self) -> &str {
        &self.model.name
    }

    async fn format(&self) -> SbomFormat {
        DocumentFormat::from_stored(&self.model.format).into()
    }

    /// As written in the document: `1.6` (CycloneDX), `SPDX-2.3` (SPDX).
    async fn spec_version(&self) -> &str {
        &self.model.spec_version
    }

    /// CycloneDX: every entry of `components`, nested ones included;
    /// SPDX: the number of `packages`.
    async fn component_count(&self) -> i32 {
        self.model.component_count
    }

    /// The document's size in bytes.
    async fn size_bytes(&self) -> i32 {
        i32::try_from(self.model.size_bytes).unwrap_or(i32::MAX)
    }

    /// Lower-case hex SHA-256 of the document's bytes.
    async fn sha256(&self) -> &str {
        &self.model.sha256
    }

    async fn created_at(&self) -> Timestamp {
        self.model.created_at.into()
    }

    /// Who uploaded it, as verified at upload (for trusted publishing,
    /// the CI job's claims); never read from the document.
    async fn provenance(&self) -> Provenance {
        Provenance {
            value: sbom_service::provenance_of(&self.model),
            organization_id: self.model.organization_id,
            viewer: Arc::clone(&self.viewer),
        }
    }

    /// A signed receipt for it: a compact JWS (ES256, header `kid`) over
    /// `{"sbom", "project", "sha256", "provenance", "iat"}`, checked
    /// against `/.well-known/jwks.json` (docs/receipts.md).
    async fn receipt(&self, ctx: &Context<'_>) -> Result<String, Error> {
        sbom_service::receipt_of(ctx.app()?, &self.model).await
    }

    /// The project it belongs to (needs `projects:read`).
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>, Error> {
        self.viewer.require(Permission::ProjectsRead)?;
        let key = ProjectId {
            organization_id: self.model.organization_id,
            id: self.model.project_id,
        };
        let model = loader::load_one(ctx, key)
            .await?
            .ok_or(Error::NotFound("project"))?;
        Project::reached(&self.viewer, model).map(Some)
    }

    /// The user whose credential uploaded it (null for a service token).
    /// Yourself always; anyone else needs `members:read`.
    async fn uploaded_by_user(&self, ctx: &Context<'_>) -> Result<Option<User>, Error> {
        let Some(user_id) = self.model.uploaded_by_user_id else {
            return Ok(None);
        };
        if self.viewer.user_id != Some(user_id) {
            self.viewer.require(Permission::MembersRead)?;
        }
        User::load(ctx, Some(user_id)).await
    }

    /// The token it was uploaded with, if you may see it as `token(id)`
    /// answers (the one in use; with a session, your own; any other of
    /// your projects with `tokens:read`); null otherwise.
    async fn uploaded_by_token(&self, ctx: &Context<'_>) -> Result<Option<Token>, Error> {
        let Some(token_id) = self.model.uploaded_by_token_id else {
            return Ok(None);
        };
        let Some(model) = loader::load_one(ctx, TokenId(token_id)).await? else {
            return Ok(None);
        };
        Ok(Token::reached(&self.viewer, model).ok())
    }

    /// The document exactly as uploaded. Costly: it counts 1000 towards
    /// the query's complexity, so read documents one `sbom(id)` at a time.
    #[graphql(complexity = "DOCUMENT_COMPLEXITY")]
    async fn document(&self, ctx: &Context<'_>) -> Result<String, Error> {
        if self.document_loaded {
            return Ok(self.model.document.clone());
        }
        sbom::Entity::find_by_id(self.model.id)
            .filter(sbom::Column::OrganizationId.eq(self.model.organization_id))
            .one(ctx.db()?)
            .await?
            .map(|sbom| sbom.document)
            .ok_or(Error::NotFound("sbom"))
    }
}
