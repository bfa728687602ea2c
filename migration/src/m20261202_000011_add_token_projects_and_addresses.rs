//! Tokens for CI: a token may be restricted to some projects
//! (`project_ids`, space-separated ids; null = every project), and keeps
//! the last client addresses it was used from (`last_used_ips`,
//! space-separated, newest first, at most 5). Both are read by the one
//! verification query and written with `last_used_at`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .add_column(text_null(Token::ProjectIds))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .add_column(text_null(Token::LastUsedIps))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::LastUsedIps)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::ProjectIds)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    ProjectIds,
    LastUsedIps,
}
