//! An uploaded SBOM document, as uploaded, with what lynk read from it.
//! `Debug` leaves the document out (it can be megabytes).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sbom")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The project's organization (denormalized for tenancy checks).
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    /// `cyclonedx` or `spdx`; see `SbomFormat`.
    pub format: String,
    pub spec_version: String,
    pub component_count: i32,
    pub size_bytes: i64,
    /// Lower-case hex SHA-256 of the document's bytes; unique per project.
    pub sha256: String,
    /// The document exactly as uploaded.
    #[sea_orm(column_type = "Text")]
    pub document: String,
    pub uploaded_by_user_id: Option<Uuid>,
    pub uploaded_by_token_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// `trusted_publishing`, `service_token`, `personal_token` or
    /// `session`; `None` only before the first start that backfills it.
    pub provenance_kind: Option<String>,
    /// The provenance as JSON (the receipt's `provenance` member).
    #[sea_orm(column_type = "Text", nullable)]
    pub provenance: Option<String>,
    /// The compact JWS receipt.
    #[sea_orm(column_type = "Text", nullable)]
    pub receipt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sbom")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("format", &self.format)
            .field("spec_version", &self.spec_version)
            .field("sha256", &self.sha256)
            .field("size_bytes", &self.size_bytes)
            .finish_non_exhaustive()
    }
}
