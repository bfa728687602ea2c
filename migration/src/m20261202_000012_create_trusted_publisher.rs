//! Trusted publishing (docs/DESIGN.md §8.3): a CI identity (an OIDC issuer, the
//! audience its tokens name, a subject or subject prefix) that may
//! exchange its identity token for a short-lived service token of one
//! project, with one role.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000001_create_organization::Organization, m20261124_000002_create_user::Users,
    m20261124_000003_create_role::Role, m20261124_000008_create_project::Project,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TrustedPublisher::Table)
                    .col(uuid(TrustedPublisher::Id).primary_key())
                    // Denormalized from the project: every lookup is scoped to
                    // the caller's organization without a join.
                    .col(uuid(TrustedPublisher::OrganizationId))
                    .col(uuid(TrustedPublisher::ProjectId))
                    // Compared exactly with a token's `iss`, as given (trimmed).
                    .col(string_len(TrustedPublisher::Issuer, 255))
                    .col(string_len(TrustedPublisher::Audience, 255))
                    // Exact, or a prefix when it ends with `*`.
                    .col(string_len(TrustedPublisher::Subject, 255))
                    .col(uuid(TrustedPublisher::RoleId))
                    .col(uuid_null(TrustedPublisher::CreatedByUserId))
                    .col(timestamp_with_time_zone(TrustedPublisher::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrustedPublisher::Table, TrustedPublisher::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrustedPublisher::Table, TrustedPublisher::ProjectId)
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrustedPublisher::Table, TrustedPublisher::RoleId)
                            .to(Role::Table, Role::Id)
                            // A role in use cannot be deleted (deleteRole says
                            // so first; this is the safety net).
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TrustedPublisher::Table, TrustedPublisher::CreatedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // An exchange looks publishers up by the token's issuer.
        manager
            .create_index(
                Index::create()
                    .name("ix_trusted_publisher_issuer")
                    .table(TrustedPublisher::Table)
                    .col(TrustedPublisher::Issuer)
                    .to_owned(),
            )
            .await?;
        // The same identity once per project.
        manager
            .create_index(
                Index::create()
                    .name("ux_trusted_publisher_identity")
                    .table(TrustedPublisher::Table)
                    .col(TrustedPublisher::ProjectId)
                    .col(TrustedPublisher::Issuer)
                    .col(TrustedPublisher::Audience)
                    .col(TrustedPublisher::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // deleteRole counts the publishers that use a role.
        manager
            .create_index(
                Index::create()
                    .name("ix_trusted_publisher_role")
                    .table(TrustedPublisher::Table)
                    .col(TrustedPublisher::RoleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TrustedPublisher::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum TrustedPublisher {
    Table,
    Id,
    OrganizationId,
    ProjectId,
    Issuer,
    Audience,
    Subject,
    RoleId,
    CreatedByUserId,
    CreatedAt,
}
