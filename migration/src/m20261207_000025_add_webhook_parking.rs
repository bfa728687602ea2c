//! Fair delivery and retention (docs/DESIGN.md §4.5 and §4.6). A webhook keeps the state of
//! its failures (since when every attempt has failed, and how many in a
//! row) and when it was parked for them. Deliveries and organization-less
//! audit rows are pruned by age, so both get an index that finds the old
//! ones.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            timestamp_with_time_zone_null(Webhook::ParkedAt),
            timestamp_with_time_zone_null(Webhook::FailingSince),
            integer(Webhook::FailuresInARow).default(0).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhook::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_created")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_event_organization_created")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::OrganizationId)
                    .col(AuditEvent::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_audit_event_organization_created")
                    .table(AuditEvent::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_webhook_delivery_created")
                    .table(WebhookDelivery::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Webhook::FailuresInARow,
            Webhook::FailingSince,
            Webhook::ParkedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Webhook::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Webhook {
    Table,
    ParkedAt,
    FailingSince,
    #[sea_orm(iden = "failures_in_a_row")]
    FailuresInARow,
}

#[derive(DeriveIden)]
pub enum WebhookDelivery {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum AuditEvent {
    Table,
    OrganizationId,
    CreatedAt,
}
