//! Address-bound credentials: `allowed_cidrs`, a JSON array of IPv4/IPv6
//! CIDRs (null = any address). Kept in a migration of its own so that it
//! can be reconciled with the network-bound tokens of docs/DESIGN.md §9,
//! which use the same column.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .add_column(text_null(Token::AllowedCidrs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::AllowedCidrs)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    AllowedCidrs,
}
