//! A project: a named group of SBOM documents in one organization.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Unique in the organization.
    pub name: String,
    pub description: String,
    pub created_at: DateTimeUtc,
    /// `any_credential`, `trusted_publishing_report` or
    /// `trusted_publishing_only`; see `UploadPolicy`.
    pub upload_policy: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
