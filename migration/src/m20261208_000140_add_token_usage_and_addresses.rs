//! Least privilege, measured, and network-bound tokens
//! (docs/DESIGN.md §9):
//!
//! - `token.allowed_cidrs` (space-separated CIDRs; null = anywhere) and
//!   `token.address_enforcement` (`enforce` or `report_only`), read by the
//!   one verification query and checked in memory;
//! - `token.rejected_*`: uses of a dead or refused secret, written behind
//!   the request (`rejected_announced_at` keeps `token.rejected` to once an
//!   hour per token);
//! - `token_permission_use`: when each permission a token was granted was
//!   last used, written behind the request;
//! - `trusted_publisher.bind_to_runner_address`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            text_null(Token::AllowedCidrs),
            string_len_null(Token::AddressEnforcement, 16),
            big_integer(Token::RejectedCount).default(0).to_owned(),
            timestamp_with_time_zone_null(Token::RejectedLastAt),
            text_null(Token::RejectedLastIps),
            string_len_null(Token::RejectedLastReason, 32),
            timestamp_with_time_zone_null(Token::RejectedAnnouncedAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Token::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(TrustedPublisher::Table)
                    .add_column(boolean(TrustedPublisher::BindToRunnerAddress).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TokenPermissionUse::Table)
                    .col(uuid(TokenPermissionUse::TokenId))
                    .col(string_len(TokenPermissionUse::Permission, 64))
                    .col(timestamp_with_time_zone(TokenPermissionUse::LastUsedAt))
                    .primary_key(
                        Index::create()
                            .col(TokenPermissionUse::TokenId)
                            .col(TokenPermissionUse::Permission),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TokenPermissionUse::Table, TokenPermissionUse::TokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenPermissionUse::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TrustedPublisher::Table)
                    .drop_column(TrustedPublisher::BindToRunnerAddress)
                    .to_owned(),
            )
            .await?;
        for column in [
            Token::RejectedAnnouncedAt,
            Token::RejectedLastReason,
            Token::RejectedLastIps,
            Token::RejectedLastAt,
            Token::RejectedCount,
            Token::AddressEnforcement,
            Token::AllowedCidrs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Token::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    Id,
    AllowedCidrs,
    AddressEnforcement,
    RejectedCount,
    RejectedLastAt,
    RejectedLastIps,
    RejectedLastReason,
    RejectedAnnouncedAt,
}

#[derive(DeriveIden)]
pub enum TrustedPublisher {
    Table,
    BindToRunnerAddress,
}

#[derive(DeriveIden)]
pub enum TokenPermissionUse {
    Table,
    TokenId,
    Permission,
    LastUsedAt,
}
