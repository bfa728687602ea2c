//! The verified claims an exchanged token was issued for (docs/DESIGN.md
//! §9, provenance): a selection only (repository, ids, ref, commit,
//! workflow, environment, run), never the identity token itself. An
//! upload with that token copies them into the SBOM's provenance.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000005_create_token::Token,
    m20261202_000012_create_trusted_publisher::TrustedPublisher,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenClaims::Table)
                    .col(uuid(TokenClaims::TokenId).primary_key())
                    .col(uuid_null(TokenClaims::PublisherId))
                    .col(string_len(TokenClaims::Issuer, 255))
                    .col(string_len_null(TokenClaims::Repository, 255))
                    .col(string_len_null(TokenClaims::RepositoryId, 255))
                    .col(string_len_null(TokenClaims::GitRef, 255))
                    .col(string_len_null(TokenClaims::Sha, 255))
                    .col(string_len_null(TokenClaims::WorkflowRef, 255))
                    .col(string_len_null(TokenClaims::Environment, 255))
                    .col(string_len_null(TokenClaims::RunId, 255))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TokenClaims::Table, TokenClaims::TokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TokenClaims::Table, TokenClaims::PublisherId)
                            .to(TrustedPublisher::Table, TrustedPublisher::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenClaims::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum TokenClaims {
    Table,
    TokenId,
    PublisherId,
    Issuer,
    Repository,
    RepositoryId,
    GitRef,
    Sha,
    WorkflowRef,
    Environment,
    RunId,
}
