//! Upload policy per project (docs/DESIGN.md §9), and the credentials
//! that uploaded against a report-only policy, one row per project and
//! token with a count.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{m20261124_000005_create_token::Token, m20261124_000008_create_project::Project};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectPolicy::Table)
                    .add_column(
                        string_len(ProjectPolicy::UploadPolicy, 32).default("any_credential"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UploadPolicyViolation::Table)
                    .col(uuid(UploadPolicyViolation::ProjectId))
                    .col(uuid(UploadPolicyViolation::TokenId))
                    .col(big_integer(UploadPolicyViolation::Count))
                    .col(timestamp_with_time_zone(UploadPolicyViolation::LastAt))
                    .primary_key(
                        Index::create()
                            .col(UploadPolicyViolation::ProjectId)
                            .col(UploadPolicyViolation::TokenId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                UploadPolicyViolation::Table,
                                UploadPolicyViolation::ProjectId,
                            )
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UploadPolicyViolation::Table, UploadPolicyViolation::TokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UploadPolicyViolation::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectPolicy::Table)
                    .drop_column(ProjectPolicy::UploadPolicy)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum ProjectPolicy {
    #[sea_orm(iden = "project")]
    Table,
    UploadPolicy,
}

#[derive(DeriveIden)]
pub enum UploadPolicyViolation {
    Table,
    ProjectId,
    TokenId,
    Count,
    LastAt,
}
