//! Organizations: the tenants. Everything else hangs off one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organization::Table)
                    .col(uuid(Organization::Id).primary_key())
                    .col(string(Organization::Name))
                    .col(integer(Organization::MaxTokenLifetimeDays).default(366))
                    .col(timestamp_with_time_zone(Organization::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Organization::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Organization {
    Table,
    Id,
    Name,
    MaxTokenLifetimeDays,
    CreatedAt,
}
