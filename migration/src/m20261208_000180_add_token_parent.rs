//! Child tokens: a token minted by `attenuateToken` names its parent
//! (`parent_id`). The verification query joins the parent's row, so a
//! child is refused once its parent is; the index serves
//! `Token.children` and the revocation that cascades to them.

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
                    .add_column(uuid_null(Token::ParentId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_token_parent_id")
                    .table(Token::Table)
                    .col(Token::ParentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_token_parent_id")
                    .table(Token::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::ParentId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    ParentId,
}
