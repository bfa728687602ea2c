//! Audit events: who did what to which object, from where, and when.
//! Written in the same transaction as the change they record.

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
                    .table(AuditEvent::Table)
                    .col(uuid(AuditEvent::Id).primary_key())
                    // Null for events with no organization (a failed login for an unknown email).
                    .col(uuid_null(AuditEvent::OrganizationId))
                    .col(string(AuditEvent::Action))
                    .col(uuid_null(AuditEvent::ActorUserId))
                    .col(uuid_null(AuditEvent::ActorTokenId))
                    .col(string_null(AuditEvent::TargetType))
                    .col(uuid_null(AuditEvent::TargetId))
                    .col(string_null(AuditEvent::Ip))
                    .col(timestamp_with_time_zone(AuditEvent::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvent::Table, AuditEvent::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvent::Table, AuditEvent::ActorUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvent::Table, AuditEvent::ActorTokenId)
                            .to(Token::Table, Token::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_event_organization_action")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::OrganizationId)
                    .col(AuditEvent::Action)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvent::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum AuditEvent {
    Table,
    Id,
    OrganizationId,
    Action,
    ActorUserId,
    ActorTokenId,
    TargetType,
    TargetId,
    Ip,
    CreatedAt,
}
