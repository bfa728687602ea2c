//! Storing and deleting SBOM documents (reading one is
//! [`sbom_document`]'s job). Uploads are idempotent: the same document
//! (by SHA-256) in the same project is stored once, so a retried CI step
//! gets the existing SBOM back, even when two uploads race.

use chrono::{Timelike as _, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, SqlErr,
};
use uuid::Uuid;

use crate::{
    auth::CredentialKind,
    database,
    entity::{project, sbom, token_claims, upload_policy_violation},
    error::Error,
    receipt,
    service::{
        audit::AuditAction,
        caller::Caller,
        provenance::{PolicyDecision, Provenance, ProvenanceKind, UploadPolicy},
        sbom_document::{self, DocumentSummary, FALLBACK_NAME},
        scoped::{Hold, delete_found, find_reachable, hold_reachable},
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
    let provenance = provenance_of_caller(db, caller).await?;
    let decision = UploadPolicy::from_stored(&project.upload_policy).decide(provenance.kind);
    if decision == PolicyDecision::Refuse {
        return Err(Error::UploadPolicy);
    }
    let record = decision == PolicyDecision::AllowAndRecord;
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
        // The idempotent answer is an upload too: it counts.
        if record {
            record_violation(db, project.id, caller.principal.token_id, Utc::now()).await?;
        }
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
    // Seconds: the receipt's `iat` is the stored time.
    let now = Utc::now()
        .with_nanosecond(0)
        .ok_or_else(|| Error::internal("a time without its fraction"))?;
    let id = Uuid::now_v7();
    let provenance_json = serde_json::to_string(&provenance).map_err(Error::internal)?;
    let signer = app.receipt_keys.signer(db).await?;
    let receipt = signer.sign(&receipt::payload(&sbom::Model {
        id,
        organization_id,
        project_id: project.id,
        name: String::new(),
        format: String::new(),
        spec_version: String::new(),
        component_count: 0,
        size_bytes: 0,
        sha256: sha256.clone(),
        document: String::new(),
        uploaded_by_user_id: None,
        uploaded_by_token_id: None,
        created_at: now,
        provenance_kind: None,
        provenance: Some(provenance_json.clone()),
        receipt: None,
    }));
    let txn = database::begin_write(db).await?;
    // Held until the SBOM is in: a deletion of the project racing this
    // upload either comes first (NOT_FOUND) or takes the SBOM along.
    hold_reachable::<project::Entity>(&txn, caller.principal, project.id, Hold::Shared).await?;
    let inserted = sbom::ActiveModel {
        id: Set(id),
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
        provenance_kind: Set(Some(provenance.kind.as_stored().to_owned())),
        provenance: Set(Some(provenance_json)),
        receipt: Set(Some(receipt)),
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
                    let existing = find_by_digest(db, project.id, &sha256)
                        .await?
                        .ok_or_else(|| Error::internal(err))?;
                    if record {
                        record_violation(db, project.id, caller.principal.token_id, now).await?;
                    }
                    Ok(existing)
                }
                // The project was deleted meanwhile.
                Some(SqlErr::ForeignKeyConstraintViolation(_)) => Err(Error::NotFound("project")),
                _ => Err(Error::internal(err)),
            };
        }
    };
    if record {
        record_violation(&txn, project.id, caller.principal.token_id, now).await?;
    }
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

/// The provenance of an upload by the caller: for a service token, the
/// claims kept with it if it came from `exchangeOidcToken` (one statement,
/// on uploads only).
async fn provenance_of_caller(
    db: &impl ConnectionTrait,
    caller: &Caller<'_>,
) -> Result<Provenance, Error> {
    let principal = caller.principal;
    let claims = match principal.kind {
        CredentialKind::Service => {
            token_claims::Entity::find_by_id(principal.token_id)
                .one(db)
                .await?
        }
        CredentialKind::Personal | CredentialKind::Session => None,
    };
    Ok(Provenance::of(principal.kind, claims.as_ref()))
}

/// Counts one upload by `token_id` against a report-only policy.
async fn record_violation(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    token_id: Uuid,
    now: chrono::DateTime<Utc>,
) -> Result<(), Error> {
    use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
    use upload_policy_violation::{Column, Entity};
    Entity::insert(upload_policy_violation::ActiveModel {
        project_id: Set(project_id),
        token_id: Set(token_id),
        count: Set(1),
        last_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([Column::ProjectId, Column::TokenId])
            .value(Column::Count, Expr::col((Entity, Column::Count)).add(1))
            .update_column(Column::LastAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// An SBOM's provenance as stored; for one stored before provenance was
/// recorded, the kind of credential that uploaded it.
pub fn provenance_of(model: &sbom::Model) -> Provenance {
    if let Some(provenance) = model
        .provenance
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
    {
        return provenance;
    }
    let kind = model
        .provenance_kind
        .as_deref()
        .and_then(ProvenanceKind::from_stored)
        .unwrap_or(if model.uploaded_by_user_id.is_some() {
            ProvenanceKind::PersonalToken
        } else {
            ProvenanceKind::ServiceToken
        });
    Provenance::bare(kind)
}

/// The SBOM's receipt: as signed at upload, or, for one stored before
/// receipts, signed now over its stored values (the same receipt each
/// time under the same key: signing is deterministic).
pub async fn receipt_of(app: &AppState, model: &sbom::Model) -> Result<String, Error> {
    if let Some(receipt) = &model.receipt {
        return Ok(receipt.clone());
    }
    let mut model = model.clone();
    model.provenance =
        Some(serde_json::to_string(&provenance_of(&model)).map_err(Error::internal)?);
    let signer = app.receipt_keys.signer(&app.db).await?;
    Ok(signer.sign(&receipt::payload(&model)))
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
    delete_found::<sbom::Entity, _>(&txn, model).await?;
    caller
        .audit(&txn, AuditAction::SbomDeleted, sbom_id, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
