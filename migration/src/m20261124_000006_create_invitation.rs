//! Invitations: a single-use code (stored as a digest) that lets an email
//! address join an organization with a role.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000001_create_organization::Organization, m20261124_000002_create_user::Users,
    m20261124_000003_create_role::Role,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invitation::Table)
                    .col(uuid(Invitation::Id).primary_key())
                    .col(uuid(Invitation::OrganizationId))
                    .col(string(Invitation::Email))
                    .col(uuid(Invitation::RoleId))
                    .col(binary_len_uniq(Invitation::CodeDigest, 32))
                    .col(uuid_null(Invitation::CreatedByUserId))
                    .col(timestamp_with_time_zone(Invitation::CreatedAt))
                    .col(timestamp_with_time_zone(Invitation::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitation::AcceptedAt))
                    .col(timestamp_with_time_zone_null(Invitation::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitation::Table, Invitation::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitation::Table, Invitation::RoleId)
                            .to(Role::Table, Role::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitation::Table, Invitation::CreatedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_invitation_organization")
                    .table(Invitation::Table)
                    .col(Invitation::OrganizationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitation::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Invitation {
    Table,
    Id,
    OrganizationId,
    Email,
    RoleId,
    CodeDigest,
    CreatedByUserId,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    RevokedAt,
}
