//! Trusted publishing, second generation (docs/DESIGN.md §9): a
//! publisher's claim conditions, whether it pins the immutable ids of
//! the first token it accepts and the ids it pinned, how long its
//! exchanged tokens live, and when it last exchanged one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            // JSON: `[{"claim", "equals" | "prefix" | "oneOf"}]`.
            text(TrustedPublisher::Conditions).default("[]").to_owned(),
            integer(TrustedPublisher::TokenLifetimeSeconds)
                .default(900)
                .to_owned(),
            boolean(TrustedPublisher::PinIds).default(true).to_owned(),
            // JSON: `[{"claim", "value"}]`; null until the first exchange
            // of a token carrying one of the pinned claims.
            text_null(TrustedPublisher::PinnedClaims),
            timestamp_with_time_zone_null(TrustedPublisher::LastExchangedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TrustedPublisher::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            TrustedPublisher::LastExchangedAt,
            TrustedPublisher::PinnedClaims,
            TrustedPublisher::PinIds,
            TrustedPublisher::TokenLifetimeSeconds,
            TrustedPublisher::Conditions,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TrustedPublisher::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum TrustedPublisher {
    Table,
    Conditions,
    TokenLifetimeSeconds,
    PinIds,
    PinnedClaims,
    LastExchangedAt,
}
