//! Audit events may carry a detail: what the action's own columns cannot
//! say (for `token.exchanged`, the CI claims that matched a trusted
//! publisher), as compact JSON text.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .add_column(text_null(AuditEvent::Detail))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .drop_column(AuditEvent::Detail)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub enum AuditEvent {
    Table,
    Detail,
}
