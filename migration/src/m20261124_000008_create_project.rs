//! Projects: the organization's data that roles protect. A project groups
//! the SBOM documents that pipelines upload; its name is unique in its
//! organization.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_create_organization::Organization;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Project::Table)
                    .col(uuid(Project::Id).primary_key())
                    .col(uuid(Project::OrganizationId))
                    .col(string(Project::Name))
                    .col(string(Project::Description).default(""))
                    .col(timestamp_with_time_zone(Project::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Project::Table, Project::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Duplicate names in one organization are a CONFLICT; the index also
        // serves listing an organization's projects.
        manager
            .create_index(
                Index::create()
                    .name("ux_project_organization_name")
                    .table(Project::Table)
                    .col(Project::OrganizationId)
                    .col(Project::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Project::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Project {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    CreatedAt,
}
