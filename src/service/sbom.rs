//! Storing and deleting SBOM documents (reading one is
//! [`sbom_document`]'s job). Uploads are idempotent: the same document
//! (by SHA-256) in the same project is stored once, so a retried CI step
//! gets the existing SBOM back, even when two uploads race.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

use crate::{
    database,
    entity::{project, sbom},
    error::Error,
    service::{
        audit::AuditAction,
        caller::Caller,
        sbom_document::{self, DocumentSummary, FALLBACK_NAME},
        scoped::find_reachable,
        validate,
    },
    state::AppState,
    webhook::{data, event::EventType, outbox},
};

/// What `uploadSbom` is given.
pub struct NewSbom {
    pub project_id: Uuid,
    /// `None`: the document's own name, else [`FALLBACK_NAME`].
    pub name: Option<String>,
    pub document: String,
}

/// `uploadSbom`: validates a document and stores it in a project the
/// caller reaches, or returns the SBOM already stored there with the same
/// SHA-256.
pub async fn upload(
    app: &AppState,
    caller: &Caller<'_>,
    new: NewSbom,
) -> Result<sbom::Model, Error> {
    let organization_id = caller.organization_id();
    let name = new.name.map(|n| validate::name("name", &n)).transpose()?;
    let db = &app.db;
    let project = find_reachable::<project::Entity>(db, caller.principal, new.project_id).await?;
    let max_bytes = app.max_sbom_bytes;
    let document = new.document;
    // Parsing megabytes of JSON is CPU work: keep it off the async workers.
    let (document, summary) = tokio::task::spawn_blocking(move || {
        let summary = sbom_document::inspect(&document, max_bytes);
        (document, summary)
    })
    .await
    .map_err(Error::internal)?;
    let summary = summary?;
    if let Some(existing) = find_by_digest(db, project.id, &summary.sha256).await? {
        return Ok(existing);
    }
    let DocumentSummary {
        format,
        spec_version,
        component_count,
        name: document_name,
        size_bytes,
        sha256,
    } = summary;
    let component_count = i32::try_from(component_count)
        .map_err(|_| Error::bad_input("the document has too many components"))?;
    let size_bytes = i64::try_from(size_bytes).map_err(Error::internal)?;
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let inserted = sbom::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        project_id: Set(project.id),
        name: Set(name
            .or(document_name)
            .unwrap_or_else(|| FALLBACK_NAME.to_owned())),
        format: Set(format.as_stored().to_owned()),
        spec_version: Set(spec_version),
        component_count: Set(component_count),
        size_bytes: Set(size_bytes),
        sha256: Set(sha256.clone()),
        document: Set(document),
        uploaded_by_user_id: Set(caller.principal.user_id),
        uploaded_by_token_id: Set(Some(caller.principal.token_id)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    let model = match inserted {
        Ok(model) => model,
        Err(err) => {
            // Roll back before reading: on PostgreSQL the failed insert has
            // aborted the transaction.
            txn.rollback().await?;
            return match err.sql_err() {
                // A concurrent upload of the same document won the race.
                Some(SqlErr::UniqueConstraintViolation(_)) => {
                    find_by_digest(db, project.id, &sha256)
                        .await?
                        .ok_or_else(|| Error::internal(err))
                }
                // The project was deleted meanwhile.
                Some(SqlErr::ForeignKeyConstraintViolation(_)) => Err(Error::NotFound("project")),
                _ => Err(Error::internal(err)),
            };
        }
    };
    caller
        .audit(&txn, AuditAction::SbomUploaded, model.id, now)
        .await?;
    let event = serde_json::json!({
        "sbom": data::sbom(&model),
        "actor": data::actor(&caller.actor),
    });
    outbox::announce(&txn, organization_id, EventType::SbomUploaded, event).await?;
    txn.commit().await?;
    Ok(model)
}

async fn find_by_digest(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    sha256: &str,
) -> Result<Option<sbom::Model>, Error> {
    Ok(sbom::Entity::find()
        .filter(sbom::Column::ProjectId.eq(project_id))
        .filter(sbom::Column::Sha256.eq(sha256))
        .one(db)
        .await?)
}

/// `deleteSbom`: deletes an SBOM in a project the caller reaches.
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    sbom_id: Uuid,
) -> Result<(), Error> {
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let model = find_reachable::<sbom::Entity>(&txn, caller.principal, sbom_id).await?;
    model.delete(&txn).await?;
    caller
        .audit(&txn, AuditAction::SbomDeleted, sbom_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
