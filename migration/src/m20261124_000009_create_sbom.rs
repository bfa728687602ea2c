//! SBOMs: CycloneDX or SPDX JSON documents uploaded into a project, stored
//! as uploaded with what lynk read from them. One document (by SHA-256)
//! exists once per project, so a retried CI upload creates no duplicate.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000001_create_organization::Organization, m20261124_000002_create_user::Users,
    m20261124_000005_create_token::Token, m20261124_000008_create_project::Project,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sbom::Table)
                    .col(uuid(Sbom::Id).primary_key())
                    // Denormalized from the project: every lookup is scoped to
                    // the caller's organization without a join.
                    .col(uuid(Sbom::OrganizationId))
                    .col(uuid(Sbom::ProjectId))
                    .col(string(Sbom::Name))
                    // "cyclonedx" or "spdx".
                    .col(string_len(Sbom::Format, 16))
                    .col(string_len(Sbom::SpecVersion, 32))
                    .col(integer(Sbom::ComponentCount))
                    .col(big_integer(Sbom::SizeBytes))
                    // Lower-case hex SHA-256 of the document's bytes.
                    .col(string_len(Sbom::Sha256, 64))
                    // The document exactly as uploaded.
                    .col(text(Sbom::Document))
                    .col(uuid_null(Sbom::UploadedByUserId))
                    .col(uuid_null(Sbom::UploadedByTokenId))
                    .col(timestamp_with_time_zone(Sbom::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sbom::Table, Sbom::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sbom::Table, Sbom::ProjectId)
                            .to(Project::Table, Project::Id)
                            // The application deletes a project's SBOMs in the
                            // same transaction; the cascade is the safety net.
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sbom::Table, Sbom::UploadedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sbom::Table, Sbom::UploadedByTokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Idempotent uploads: the same document once per project.
        manager
            .create_index(
                Index::create()
                    .name("ux_sbom_project_sha256")
                    .table(Sbom::Table)
                    .col(Sbom::ProjectId)
                    .col(Sbom::Sha256)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A project's SBOMs, paginated by id.
        manager
            .create_index(
                Index::create()
                    .name("ix_sbom_project_id")
                    .table(Sbom::Table)
                    .col(Sbom::ProjectId)
                    .col(Sbom::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sbom::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Sbom {
    Table,
    Id,
    OrganizationId,
    ProjectId,
    Name,
    Format,
    SpecVersion,
    ComponentCount,
    SizeBytes,
    Sha256,
    Document,
    UploadedByUserId,
    UploadedByTokenId,
    CreatedAt,
}
