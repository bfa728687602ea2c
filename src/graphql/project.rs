//! Projects: the `Project` type, the `project(id)` query and the project
//! mutations. A project groups the SBOM documents pipelines upload; it
//! lives in one organization, and an id from another one does not exist.

use async_graphql::{Context, ID, InputObject, Object, connection::Connection};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::{
    context::{ContextExt, PermissionGuard},
    pagination::{Page, connection_complexity},
    role::parse_id,
    sbom::{Sbom, without_documents},
    scalar::Timestamp,
    trusted_publisher::{TrustedPublisher, trusted_publishers_of},
};
use crate::{
    auth::{Permission, Principal},
    database::begin_write,
    entity::{project, sbom},
    error::{Error, ResultExt},
    service::{
        audit::{self, AuditRecord},
        validate,
    },
};

/// A named group of SBOM documents in one organization.
pub struct Project(pub project::Model);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Unique in the organization.
    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    /// The CI identities that may exchange their OIDC token for a
    /// short-lived token of this project, oldest first (needs `tokens:read`).
    async fn trusted_publishers(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<TrustedPublisher>>, Error> {
        trusted_publishers_of(ctx, &self.0).await.map(Some)
    }

    /// The project's SBOMs, newest first (needs `sboms:read`).
    #[graphql(
        guard = "PermissionGuard(Permission::SbomsRead)",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    async fn sboms(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, Sbom>>, Error> {
        let page = Page::new(first, after)?;
        let select = sbom::Entity::find()
            .filter(sbom::Column::ProjectId.eq(self.0.id))
            .filter(sbom::Column::OrganizationId.eq(self.0.organization_id));
        let rows = page
            .apply_newest_first(without_documents(select), sbom::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(Some(page.connection(rows, |s| s.id, Sbom::listed)))
    }
}

/// Loads a project the caller reaches: in its organization and, for a
/// token restricted to projects, one of them. A malformed, unknown,
/// foreign or unreachable id is `NOT_FOUND` alike.
pub async fn find_reachable(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: &ID,
) -> Result<project::Model, Error> {
    let project_id = parse_id(id, "project")?;
    principal.require_project(project_id)?;
    project::Entity::find_by_id(project_id)
        .filter(project::Column::OrganizationId.eq(principal.organization_id()))
        .one(db)
        .await?
        .ok_or(Error::NotFound("project"))
}

/// `project(id)`.
#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// A project of the caller's organization (needs `projects:read`).
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>, Error> {
        let principal = ctx.require(Permission::ProjectsRead)?;
        find_reachable(ctx.db()?, principal, &id)
            .await
            .map(|p| Some(Project(p)))
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
}

fn duplicate_name(name: &str) -> String {
    format!("a project named `{name}` already exists in this organization")
}

async fn record_project_event(
    conn: &impl ConnectionTrait,
    ctx: &Context<'_>,
    organization_id: Uuid,
    action: &'static str,
    project_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit::record(
        conn,
        AuditRecord {
            organization_id: Some(organization_id),
            action,
            actor: &ctx.actor()?,
            target_type: Some("project"),
            target_id: Some(project_id),
        },
        now,
    )
    .await
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
        let principal = ctx.require(Permission::ProjectsWrite)?;
        if !principal.projects.is_all() {
            return Err(Error::Forbidden(
                "this token is restricted to some projects and cannot create one".into(),
            ));
        }
        let name = validate::name("name", &input.name)?;
        let description =
            crate::service::validate::description(input.description)?.unwrap_or_default();
        let organization_id = principal.organization_id();
        let now = Utc::now();
        let txn = begin_write(ctx.db()?).await?;
        let model = project::ActiveModel {
            id: Set(Uuid::now_v7()),
            organization_id: Set(organization_id),
            name: Set(name.clone()),
            description: Set(description),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .on_conflict(|| duplicate_name(&name))?;
        record_project_event(&txn, ctx, organization_id, "project.created", model.id, now).await?;
        txn.commit().await?;
        Ok(Project(model))
    }

    /// Renames a project or changes its description (needs `projects:write`).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProjectInput,
    ) -> Result<Project, Error> {
        let principal = ctx.require(Permission::ProjectsWrite)?;
        let name = input.name.map(|n| validate::name("name", &n)).transpose()?;
        let description = crate::service::validate::description(input.description)?;
        let organization_id = principal.organization_id();
        let now = Utc::now();
        let txn = begin_write(ctx.db()?).await?;
        let mut active = find_reachable(&txn, principal, &id)
            .await?
            .into_active_model();
        if let Some(name) = &name {
            active.name = Set(name.clone());
        }
        if let Some(description) = description {
            active.description = Set(description);
        }
        let model = active
            .update(&txn)
            .await
            .on_conflict(|| duplicate_name(name.as_deref().unwrap_or_default()))?;
        record_project_event(&txn, ctx, organization_id, "project.updated", model.id, now).await?;
        txn.commit().await?;
        Ok(Project(model))
    }

    /// Deletes a project and, in the same transaction, its SBOMs (needs
    /// `projects:delete`).
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let principal = ctx.require(Permission::ProjectsDelete)?;
        let organization_id = principal.organization_id();
        let now = Utc::now();
        let txn = begin_write(ctx.db()?).await?;
        let project = find_reachable(&txn, principal, &id).await?;
        let project_id = project.id;
        sbom::Entity::delete_many()
            .filter(sbom::Column::ProjectId.eq(project_id))
            .exec(&txn)
            .await?;
        project.delete(&txn).await?;
        record_project_event(
            &txn,
            ctx,
            organization_id,
            "project.deleted",
            project_id,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(ID(project_id.to_string()))
    }
}
