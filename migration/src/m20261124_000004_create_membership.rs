//! Memberships: a user in an organization, with exactly one role.

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
                    .table(Membership::Table)
                    // A UUIDv7 of its own gives members a stable, time-ordered cursor.
                    .col(uuid(Membership::Id).primary_key())
                    .col(uuid(Membership::OrganizationId))
                    .col(uuid(Membership::UserId))
                    .col(uuid(Membership::RoleId))
                    .col(timestamp_with_time_zone(Membership::JoinedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::RoleId)
                            .to(Role::Table, Role::Id)
                            // A role in use cannot be deleted.
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Verification joins membership on (organization, user).
        manager
            .create_index(
                Index::create()
                    .name("ux_membership_organization_user")
                    .table(Membership::Table)
                    .col(Membership::OrganizationId)
                    .col(Membership::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A session without X-Organization-ID picks the user's oldest membership.
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_user_joined")
                    .table(Membership::Table)
                    .col(Membership::UserId)
                    .col(Membership::JoinedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_role")
                    .table(Membership::Table)
                    .col(Membership::RoleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Membership::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Membership {
    Table,
    Id,
    OrganizationId,
    UserId,
    RoleId,
    JoinedAt,
}
