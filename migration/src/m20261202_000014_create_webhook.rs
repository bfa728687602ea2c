//! Signals (docs/DESIGN.md §8.4): webhooks, their deliveries (the outbox: one row per
//! event and subscribed webhook, written in the transaction of the change
//! that causes it), every delivery attempt, and the expiry notices already
//! sent per token (so each goes out once, whichever instance finds it).
//! The built-in admin role gains `webhooks:read` and `webhooks:write`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000001_create_organization::Organization, m20261124_000002_create_user::Users,
    m20261124_000005_create_token::Token,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhook::Table)
                    .col(uuid(Webhook::Id).primary_key())
                    .col(uuid(Webhook::OrganizationId))
                    .col(text(Webhook::Url))
                    // Space-separated event names, e.g. `token.created token.revoked`.
                    .col(text(Webhook::Events))
                    .col(boolean(Webhook::Active))
                    // The signing secret, sealed with the server's key
                    // (`--webhook-encryption-key`); never stored in clear.
                    .col(text(Webhook::SecretSealed))
                    .col(string_len(Webhook::SecretHint, 32))
                    .col(uuid_null(Webhook::CreatedByUserId))
                    .col(timestamp_with_time_zone(Webhook::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Webhook::Table, Webhook::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Webhook::Table, Webhook::CreatedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_organization")
                    .table(Webhook::Table)
                    .col(Webhook::OrganizationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    // Also the `webhook-id` header: the same on every retry.
                    .col(uuid(WebhookDelivery::Id).primary_key())
                    .col(uuid(WebhookDelivery::WebhookId))
                    .col(uuid(WebhookDelivery::OrganizationId))
                    .col(string_len(WebhookDelivery::Event, 64))
                    // The body exactly as signed and sent: `{"type","timestamp","data"}`.
                    .col(text(WebhookDelivery::Payload))
                    // PENDING, DELIVERED or FAILED.
                    .col(string_len(WebhookDelivery::Status, 16))
                    .col(integer(WebhookDelivery::Attempts))
                    .col(timestamp_with_time_zone(WebhookDelivery::NextAttemptAt))
                    // A claimed delivery belongs to one sender until then; a
                    // sender killed mid-delivery loses its claim at this time.
                    .col(timestamp_with_time_zone_null(WebhookDelivery::LockedUntil))
                    .col(integer_null(WebhookDelivery::ResponseStatus))
                    .col(timestamp_with_time_zone(WebhookDelivery::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookDelivery::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDelivery::Table, WebhookDelivery::WebhookId)
                            .to(Webhook::Table, Webhook::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The sender's claim: pending deliveries due first.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_due")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::Status)
                    .col(WebhookDelivery::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // `Webhook.deliveries`, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_webhook")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempt::Table)
                    .col(uuid(WebhookAttempt::Id).primary_key())
                    .col(uuid(WebhookAttempt::DeliveryId))
                    .col(timestamp_with_time_zone(WebhookAttempt::AttemptedAt))
                    .col(integer_null(WebhookAttempt::ResponseStatus))
                    // Why an attempt without a response failed (timeout,
                    // refused address, connection error); never a secret.
                    .col(text_null(WebhookAttempt::Error))
                    .col(integer(WebhookAttempt::DurationMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookAttempt::Table, WebhookAttempt::DeliveryId)
                            .to(WebhookDelivery::Table, WebhookDelivery::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_attempt_delivery")
                    .table(WebhookAttempt::Table)
                    .col(WebhookAttempt::DeliveryId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TokenNotice::Table)
                    .col(uuid(TokenNotice::TokenId))
                    // `token.expiring.7d`, `token.expiring.1d`, `token.expired`.
                    .col(string_len(TokenNotice::Notice, 32))
                    .col(timestamp_with_time_zone(TokenNotice::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(TokenNotice::TokenId)
                            .col(TokenNotice::Notice),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TokenNotice::Table, TokenNotice::TokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Admin holds every permission, the new ones included.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE role SET permissions = permissions || ' webhooks:read webhooks:write' \
                 WHERE built_in AND name = 'admin'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE role SET permissions = REPLACE(permissions, ' webhooks:read webhooks:write', '') \
                 WHERE built_in AND name = 'admin'",
            )
            .await?;
        for table in [
            TokenNotice::Table.into_iden(),
            WebhookAttempt::Table.into_iden(),
            WebhookDelivery::Table.into_iden(),
            Webhook::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Webhook {
    Table,
    Id,
    OrganizationId,
    Url,
    Events,
    Active,
    SecretSealed,
    SecretHint,
    CreatedByUserId,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum WebhookDelivery {
    Table,
    Id,
    WebhookId,
    OrganizationId,
    Event,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    ResponseStatus,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
pub enum WebhookAttempt {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    ResponseStatus,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
pub enum TokenNotice {
    Table,
    TokenId,
    Notice,
    CreatedAt,
}
