//! Whether a token's `revoked_at` is a scheduled end (a rotation's grace
//! period, or a child's that follows it) rather than a revocation. Only a
//! scheduled end may still be brought forward by a revocation: telling the
//! two apart by comparing `revoked_at` with the caller's clock let two
//! revocations racing across a few milliseconds both count the token.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::prelude::{ChronoDateTimeUtc, ChronoUtc},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .add_column(boolean(Token::RevocationScheduled).default(false))
                    .to_owned(),
            )
            .await?;
        // An end still ahead can only be a rotation's grace (or a child's
        // copy of it): a revocation writes the moment it happens.
        let now: ChronoDateTimeUtc = ChronoUtc::now();
        manager
            .exec_stmt(
                Query::update()
                    .table(Token::Table)
                    .value(Token::RevocationScheduled, true)
                    .and_where(Expr::col(Token::RevokedAt).gt(now))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Token::Table)
                    .drop_column(Token::RevocationScheduled)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Token {
    Table,
    RevokedAt,
    RevocationScheduled,
}
