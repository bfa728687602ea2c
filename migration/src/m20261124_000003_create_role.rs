//! Roles: a named set of permissions inside one organization. The four
//! built-in roles are seeded per organization by the application.

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
                    .table(Role::Table)
                    .col(uuid(Role::Id).primary_key())
                    .col(uuid(Role::OrganizationId))
                    .col(string(Role::Name))
                    .col(string(Role::Description).default(""))
                    // Space-separated permission names, e.g. "projects:read sboms:write".
                    .col(text(Role::Permissions))
                    .col(boolean(Role::BuiltIn).default(false))
                    .col(timestamp_with_time_zone(Role::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Role::Table, Role::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_role_organization_name")
                    .table(Role::Table)
                    .col(Role::OrganizationId)
                    .col(Role::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Role::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Role {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    Permissions,
    BuiltIn,
    CreatedAt,
}
