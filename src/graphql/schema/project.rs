//! Projects: the `Project` type, the `project(id)` query and the project
//! mutations. A project groups the SBOM documents pipelines upload and the
//! CI identities it trusts; it lives in one organization, and an id from
//! another one does not exist. The output types of what a project holds
//! live beside it ([`sbom`], [`publisher`]), so that the modules of their
//! operations (`graphql::schema::sbom`, `graphql::schema::trusted_publisher`) depend on
//! this one and never the other way round.

pub mod provenance;
pub mod publisher;
pub mod sbom;

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, connection::Connection};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use self::{
    provenance::{ProvenanceKind, UploadPolicy, UploadPolicyViolation},
    publisher::{TrustedPublisher, trusted_publishers_of},
    sbom::{Sbom, without_documents},
};
use super::{
    context::ContextExt,
    pagination::{Page, connection_complexity},
    role::parse_id,
    scalar::Timestamp,
};
use crate::{
    auth::{Permission, Principal, reach},
    entity::{project, sbom as sbom_entity, upload_policy_violation},
    error::Error,
    service::{
        project::{self as project_service, ProjectChanges},
        provenance as provenance_domain,
        scoped::{find_reachable, list_reachable},
    },
};

/// A named group of SBOM documents in one organization, as one caller
/// sees it: built only through [`Project::reached`] or
/// [`Project::written`], and carrying that caller for its nested fields.
pub struct Project {
    model: project::Model,
    viewer: Arc<Principal>,
}

impl Project {
    /// The project if `viewer` may see it (as `project(id)` answers).
    pub fn reached(viewer: &Arc<Principal>, model: project::Model) -> Result<Project, Error> {
        reach::project(viewer, model.organization_id, model.id)?;
        Ok(Project {
            model,
            viewer: Arc::clone(viewer),
        })
    }

    /// A project `viewer` has just created or changed.
    pub fn written(viewer: &Arc<Principal>, model: project::Model) -> Result<Project, Error> {
        reach::written(viewer, model.organization_id, Some(model.id), "project")?;
        Ok(Project {
            model,
            viewer: Arc::clone(viewer),
        })
    }
}

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// Unique in the organization.
    async fn name(&self) -> &str {
        &self.model.name
    }

    async fn description(&self) -> &str {
        &self.model.description
    }

    async fn created_at(&self) -> Timestamp {
        self.model.created_at.into()
    }

    /// Which credentials may upload SBOMs here (`updateProject` sets it).
    async fn upload_policy(&self) -> UploadPolicy {
        provenance_domain::UploadPolicy::from_stored(&self.model.upload_policy).into()
    }

    /// Every stored credential that uploaded here under
    /// `TRUSTED_PUBLISHING_REPORT` without being a token from
    /// `exchangeOidcToken`, most recent first, at most 200 (needs
    /// `projects:read`): the pipelines to move before
    /// `TRUSTED_PUBLISHING_ONLY`.
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(MAX_POLICY_VIOLATIONS, child_complexity)"
    )]
    async fn policy_violations(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<UploadPolicyViolation>, Error> {
        self.viewer.require(Permission::ProjectsRead)?;
        let rows = upload_policy_violation::Entity::find()
            .filter(upload_policy_violation::Column::ProjectId.eq(self.model.id))
            .order_by_desc(upload_policy_violation::Column::LastAt)
            .order_by_asc(upload_policy_violation::Column::TokenId)
            .limit(MAX_POLICY_VIOLATIONS as u64)
            .all(ctx.db()?)
            .await?;
        Ok(rows
            .into_iter()
            .map(|model| UploadPolicyViolation {
                model,
                viewer: Arc::clone(&self.viewer),
            })
            .collect())
    }

    /// The CI identities that may exchange their OIDC token for a
    /// short-lived token of this project, oldest first (needs `tokens:read`).
    #[graphql(
        complexity = "crate::graphql::schema::limits::list_complexity(crate::service::trusted_publisher::MAX_PUBLISHERS_PER_PROJECT, child_complexity)"
    )]
    async fn trusted_publishers(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<TrustedPublisher>>, Error> {
        trusted_publishers_of(ctx, &self.viewer, &self.model)
            .await
            .map(Some)
    }

    /// The project's SBOMs, newest first (needs `sboms:read`);
    /// `provenanceKind` keeps those uploaded by that kind of credential
    /// (`TRUSTED_PUBLISHING`: by CI jobs through trusted publishing).
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn sboms(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        provenance_kind: Option<ProvenanceKind>,
    ) -> Result<Option<Connection<String, Sbom>>, Error> {
        self.viewer.require(Permission::SbomsRead)?;
        let page = Page::new(first, after)?;
        let mut select = list_reachable::<sbom_entity::Entity>(&self.viewer)
            .filter(sbom_entity::Column::ProjectId.eq(self.model.id));
        if let Some(kind) = provenance_kind {
            let kind = provenance_domain::ProvenanceKind::from(kind);
            select = select.filter(sbom_entity::Column::ProvenanceKind.eq(kind.as_stored()));
        }
        let rows = page
            .apply_newest_first(without_documents(select), sbom_entity::Column::Id)
            .all(ctx.db()?)
            .await?;
        let viewer = &self.viewer;
        Ok(Some(page.connection_of_reached(
            ctx,
            rows,
            |s| s.id,
            |s| Sbom::listed(viewer, s),
        )?))
    }
}

/// The most credentials `Project.policyViolations` lists (the most
/// recent); its complexity is counted for this many.
pub const MAX_POLICY_VIOLATIONS: usize = 200;

/// `project(id)`.
#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// A project of the caller's organization (needs `projects:read`).
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>, Error> {
        let viewer = ctx.viewer()?;
        viewer.require(Permission::ProjectsRead)?;
        let project_id = parse_id(&id, "project")?;
        let model = find_reachable::<project::Entity>(ctx.db()?, &viewer, project_id).await?;
        Project::reached(&viewer, model).map(Some)
    }
}

/// `createProject`'s input.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// 1–100 characters, unique in the organization.
    pub name: String,
    pub description: Option<String>,
}

/// `updateProject`'s input; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Which credentials may upload SBOMs (docs/receipts.md: move to
    /// `TRUSTED_PUBLISHING_ONLY` through `TRUSTED_PUBLISHING_REPORT`).
    pub upload_policy: Option<UploadPolicy>,
}

/// `createProject`, `updateProject`, `deleteProject`.
#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project (needs `projects:write`, and a credential that
    /// is not restricted to some projects).
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Project, Error> {
        let caller = ctx.authorized(Permission::ProjectsWrite)?;
        let model =
            project_service::create(ctx.db()?, &caller, &input.name, input.description).await?;
        Project::written(&ctx.viewer()?, model)
    }

    /// Renames a project, changes its description or its upload policy
    /// (needs `projects:write`).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProjectInput,
    ) -> Result<Project, Error> {
        let caller = ctx.authorized(Permission::ProjectsWrite)?;
        let changes = ProjectChanges {
            name: input.name,
            description: input.description,
            upload_policy: input.upload_policy.map(Into::into),
        };
        let project_id = parse_id(&id, "project")?;
        let model = project_service::update(ctx.db()?, &caller, project_id, changes).await?;
        Project::written(&ctx.viewer()?, model)
    }

    /// Deletes a project and, in the same transaction, its SBOMs (needs
    /// `projects:delete`).
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::ProjectsDelete)?;
        let project_id = parse_id(&id, "project")?;
        project_service::delete(ctx.db()?, &caller, project_id).await?;
        Ok(ID(project_id.to_string()))
    }
}
