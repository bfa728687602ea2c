//! Projects: the groups of SBOM documents an organization keeps. A token
//! restricted to some projects cannot create one, and other projects do
//! not exist for it.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use uuid::Uuid;

use crate::{
    database,
    entity::{project, sbom, upload_policy_violation},
    error::{Error, ResultExt},
    service::{
        audit::AuditAction,
        caller::Caller,
        provenance::UploadPolicy,
        scoped::{Hold, delete_found, find_reachable, hold_reachable},
        validate,
    },
};

/// What `updateProject` changes; `None` leaves a field as it is.
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub upload_policy: Option<UploadPolicy>,
}

fn duplicate_name(name: &str) -> String {
    format!("a project named `{name}` already exists in this organization")
}

/// `createProject`: a project named `name` (unique in the organization).
pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    name: &str,
    description: Option<String>,
) -> Result<project::Model, Error> {
    if !caller.principal.projects.is_all() {
        return Err(Error::Forbidden(
            "this token is restricted to some projects and cannot create one".into(),
        ));
    }
    let name = validate::name("name", name)?;
    let description = validate::description(description)?.unwrap_or_default();
    let organization_id = caller.organization_id();
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let model = project::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        name: Set(name.clone()),
        description: Set(description),
        created_at: Set(now),
        upload_policy: Set(UploadPolicy::AnyCredential.as_stored().to_owned()),
    }
    .insert(&txn)
    .await
    .on_conflict(|| duplicate_name(&name))?;
    caller
        .audit(&txn, AuditAction::ProjectCreated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `updateProject`: renames a project the caller reaches or changes its
/// description.
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    project_id: Uuid,
    changes: ProjectChanges,
) -> Result<project::Model, Error> {
    let name = changes
        .name
        .map(|n| validate::name("name", &n))
        .transpose()?;
    let description = validate::description(changes.description)?;
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let mut active =
        hold_reachable::<project::Entity>(&txn, caller.principal, project_id, Hold::Exclusive)
            .await?
            .into_active_model();
    if let Some(name) = &name {
        active.name = Set(name.clone());
    }
    if let Some(description) = description {
        active.description = Set(description);
    }
    if let Some(policy) = changes.upload_policy {
        active.upload_policy = Set(policy.as_stored().to_owned());
    }
    let model = active
        .update(&txn)
        .await
        .on_conflict(|| duplicate_name(name.as_deref().unwrap_or_default()))?;
    caller
        .audit(&txn, AuditAction::ProjectUpdated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `deleteProject`: deletes a project the caller reaches and, in the same
/// transaction, its SBOMs.
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    project_id: Uuid,
) -> Result<(), Error> {
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let project = find_reachable::<project::Entity>(&txn, caller.principal, project_id).await?;
    upload_policy_violation::Entity::delete_many()
        .filter(upload_policy_violation::Column::ProjectId.eq(project.id))
        .exec(&txn)
        .await?;
    sbom::Entity::delete_many()
        .filter(sbom::Column::ProjectId.eq(project.id))
        .exec(&txn)
        .await?;
    delete_found::<project::Entity, _>(&txn, project).await?;
    caller
        .audit(&txn, AuditAction::ProjectDeleted, project_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
