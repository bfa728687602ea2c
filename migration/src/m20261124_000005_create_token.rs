//! Tokens: personal, service and session credentials. Only the SHA-256
//! digest of a token is stored, under a unique index; the plaintext is
//! shown once at creation and never written anywhere.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    m20261124_000001_create_organization::Organization, m20261124_000002_create_user::Users,
    m20261124_000003_create_role::Role,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Token::Table)
                    .col(uuid(Token::Id).primary_key())
                    // "personal", "service" or "session".
                    .col(string_len(Token::Kind, 16))
                    // Null for sessions: they act in the organization the request selects.
                    .col(uuid_null(Token::OrganizationId))
                    .col(string(Token::Name))
                    .col(binary_len_uniq(Token::Digest, 32))
                    .col(string(Token::Hint))
                    // Space-separated permission names; null = the owner's whole role.
                    .col(text_null(Token::Scopes))
                    // Service tokens only: the role they carry.
                    .col(uuid_null(Token::RoleId))
                    // Personal and session tokens: the user they belong to.
                    .col(uuid_null(Token::OwnerUserId))
                    .col(uuid_null(Token::CreatedByUserId))
                    .col(timestamp_with_time_zone(Token::CreatedAt))
                    .col(timestamp_with_time_zone_null(Token::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Token::LastUsedAt))
                    .col(timestamp_with_time_zone_null(Token::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Token::Table, Token::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Token::Table, Token::RoleId)
                            .to(Role::Table, Role::Id)
                            // Active service tokens keep a role from being deleted (checked by
                            // the application); revoked ones just lose the reference.
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Token::Table, Token::OwnerUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Token::Table, Token::CreatedByUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Listing an organization's tokens, newest first, by kind.
        manager
            .create_index(
                Index::create()
                    .name("ix_token_organization_kind")
                    .table(Token::Table)
                    .col(Token::OrganizationId)
                    .col(Token::Kind)
                    .to_owned(),
            )
            .await?;
        // A user's own tokens; killing them when the member is removed.
        manager
            .create_index(
                Index::create()
                    .name("ix_token_owner")
                    .table(Token::Table)
                    .col(Token::OwnerUserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_token_role")
                    .table(Token::Table)
                    .col(Token::RoleId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Token::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Token {
    Table,
    Id,
    Kind,
    OrganizationId,
    Name,
    Digest,
    Hint,
    Scopes,
    RoleId,
    OwnerUserId,
    CreatedByUserId,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}
