//! An organization's token policy beyond the personal-token lifetime it
//! already had: a longest service-token lifetime, whether service tokens
//! must expire, and how long a token may sit unused before it is revoked.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let mut required = boolean(Organization::RequireServiceTokenExpiry);
        required.default(false);
        for mut column in [
            integer_null(Organization::MaxServiceTokenLifetimeDays),
            required,
            integer_null(Organization::RevokeUnusedAfterDays),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Organization::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Organization::MaxServiceTokenLifetimeDays,
            Organization::RequireServiceTokenExpiry,
            Organization::RevokeUnusedAfterDays,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Organization::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
pub enum Organization {
    Table,
    MaxServiceTokenLifetimeDays,
    RequireServiceTokenExpiry,
    RevokeUnusedAfterDays,
}
