//! A rotation's successor names the token it replaced, so that revoking
//! the successor ends the predecessor's grace period at once.

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
                    .add_column(uuid_null(Token::RotatedFromId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::RotatedFromId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    RotatedFromId,
}
