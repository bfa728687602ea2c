//! Failure budgets shared by every instance on one PostgreSQL: one row per
//! budget key (a fixed-size digest, never the email or address itself),
//! counted with an atomic upsert. SQLite keeps its budgets in memory and
//! leaves this table empty.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FailureBudget::Table)
                    .col(binary_len(FailureBudget::Key, 16).primary_key())
                    .col(timestamp_with_time_zone(FailureBudget::WindowStartedAt))
                    .col(integer(FailureBudget::Failures))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_failure_budget_window_started_at")
                    .table(FailureBudget::Table)
                    .col(FailureBudget::WindowStartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FailureBudget::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum FailureBudget {
    Table,
    Key,
    WindowStartedAt,
    Failures,
}
