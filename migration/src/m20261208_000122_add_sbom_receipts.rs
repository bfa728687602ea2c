//! Provenance and receipts (docs/DESIGN.md §9): what uploaded each SBOM
//! and the signed receipt for it, and the receipt signing keys, sealed
//! under the server's encryption key. `current` is `true` on the one key
//! that signs and NULL on retired ones; its unique index lets only one
//! instance create the first key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_len_null(SbomReceipt::ProvenanceKind, 32),
            text_null(SbomReceipt::Provenance),
            text_null(SbomReceipt::Receipt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SbomReceipt::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // SBOMs stored before: their kind from the credential that uploaded
        // them (its receipt is signed when first read).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sbom SET provenance_kind = COALESCE(\
                   (SELECT CASE token.kind WHEN 'service' THEN 'service_token' \
                      WHEN 'personal' THEN 'personal_token' ELSE 'session' END \
                    FROM token WHERE token.id = sbom.uploaded_by_token_id), \
                   CASE WHEN sbom.uploaded_by_user_id IS NULL THEN 'service_token' \
                     ELSE 'personal_token' END)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sbom_project_provenance_kind")
                    .table(SbomReceipt::Table)
                    .col(SbomReceipt::ProjectId)
                    .col(SbomReceipt::ProvenanceKind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKey::Table)
                    .col(uuid(SigningKey::Id).primary_key())
                    .col(string_len(SigningKey::Algorithm, 16))
                    .col(text(SigningKey::PublicJwk))
                    .col(text(SigningKey::PrivateSealed))
                    .col(boolean_null(SigningKey::Current))
                    .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_signing_key_current")
                    .table(SigningKey::Table)
                    .col(SigningKey::Current)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKey::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_sbom_project_provenance_kind")
                    .table(SbomReceipt::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            SbomReceipt::ProvenanceKind,
            SbomReceipt::Provenance,
            SbomReceipt::Receipt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SbomReceipt::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
pub enum SbomReceipt {
    #[sea_orm(iden = "sbom")]
    Table,
    ProjectId,
    ProvenanceKind,
    Provenance,
    Receipt,
}

#[derive(DeriveIden)]
pub enum SigningKey {
    Table,
    Id,
    Algorithm,
    PublicJwk,
    PrivateSealed,
    Current,
    CreatedAt,
    RetiredAt,
}
