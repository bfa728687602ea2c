//! Trusted publishing (docs/DESIGN.md §3.7): the ids (`jti`) of the OIDC identity
//! tokens already exchanged, so that each is exchanged once. A row is kept
//! until its token expires (with the leeway), then pruned.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OidcJti::Table)
                    // A `jti` is unique per issuer only.
                    .col(string_len(OidcJti::Issuer, 255))
                    .col(string_len(OidcJti::Jti, 255))
                    // The token's `exp` and the leeway: after this, no
                    // exchange accepts it, so the row can go.
                    .col(timestamp_with_time_zone(OidcJti::ExpiresAt))
                    .primary_key(Index::create().col(OidcJti::Issuer).col(OidcJti::Jti))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_oidc_jti_expires_at")
                    .table(OidcJti::Table)
                    .col(OidcJti::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OidcJti::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum OidcJti {
    Table,
    Issuer,
    Jti,
    ExpiresAt,
}
