//! Why a webhook delivery's last attempt failed, kept on the delivery
//! (`WebhookDelivery.lastError`) beside its `response_status`, so a list
//! of deliveries reads one table; the attempts keep the full history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDelivery::Table)
                    .add_column(text_null(WebhookDelivery::LastError))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDelivery::Table)
                    .drop_column(WebhookDelivery::LastError)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    LastError,
}
