//! Writing audit events, always inside the transaction of the change they
//! record.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EnumIter, Set};
use uuid::Uuid;

use crate::{auth::Principal, entity::audit_event, error::Error};

pub use crate::entity::audit_event::Actor;

impl Actor {
    /// The actor behind an authenticated request.
    pub fn of(principal: &Principal, ip: Option<String>) -> Actor {
        Actor {
            user_id: principal.user_id,
            token_id: Some(principal.token_id),
            ip,
        }
    }
}

/// Everything lynk records. The stored `action` strings are part of the
/// API (`auditEvents(action:)` filters on them): a variant's string never
/// changes once released. This enum is the catalog: `Query.auditActions`
/// lists it (the console's audit filter reads it from there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter)]
pub enum AuditAction {
    OrganizationCreated,
    OrganizationUpdated,
    /// `updateTokenPolicy`; `detail` holds the policy before and after.
    TokenPolicyUpdated,
    LoginSucceeded,
    LoginFailed,
    PasswordChanged,
    PasswordReset,
    TokenCreated,
    TokenRevoked,
    TokenRotated,
    TokenExchanged,
    /// A credential minted a child of itself (`attenuateToken`).
    TokenAttenuated,
    /// A secret scanner reported the token leaked; lynk revoked it.
    TokenLeaked,
    /// `narrowToken`: fewer scopes or projects, the same secret.
    TokenNarrowed,
    /// `restrictTokenAddresses`: its `allowedCidrs` set or lifted.
    TokenAddressesRestricted,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    MemberInvited,
    InvitationRevoked,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    ProjectCreated,
    ProjectUpdated,
    ProjectDeleted,
    SbomUploaded,
    SbomDeleted,
    TrustedPublisherCreated,
    TrustedPublisherUpdated,
    TrustedPublisherDeleted,
    /// A publisher's first exchange pinned the token's immutable ids.
    TrustedPublisherPinned,
    /// An exchange refused for a publisher's pinned ids (target: the
    /// publisher).
    TokenExchangeRefused,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    /// lynk stopped delivering to a webhook that kept failing.
    WebhookParked,
    /// `sendTestWebhookEvent` queued a `webhook.test` delivery (target:
    /// the webhook; `detail.deliveryId`).
    WebhookTestSent,
    /// `redeliverWebhookDelivery` queued a failed delivery again (target:
    /// the webhook; `detail.deliveryId` and `detail.event`).
    WebhookRedelivered,
}

impl AuditAction {
    /// The stored `action`, e.g. `token.revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::OrganizationCreated => "organization.created",
            AuditAction::OrganizationUpdated => "organization.updated",
            AuditAction::TokenPolicyUpdated => "organization.token_policy_updated",
            AuditAction::LoginSucceeded => "login.succeeded",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenRotated => "token.rotated",
            AuditAction::TokenExchanged => "token.exchanged",
            AuditAction::TokenAttenuated => "token.attenuated",
            AuditAction::TokenLeaked => "token.leaked",
            AuditAction::TokenNarrowed => "token.narrowed",
            AuditAction::TokenAddressesRestricted => "token.addresses_restricted",
            AuditAction::RoleCreated => "role.created",
            AuditAction::RoleUpdated => "role.updated",
            AuditAction::RoleDeleted => "role.deleted",
            AuditAction::MemberInvited => "member.invited",
            AuditAction::InvitationRevoked => "member.invitation_revoked",
            AuditAction::MemberJoined => "member.joined",
            AuditAction::MemberRoleChanged => "member.role_changed",
            AuditAction::MemberRemoved => "member.removed",
            AuditAction::ProjectCreated => "project.created",
            AuditAction::ProjectUpdated => "project.updated",
            AuditAction::ProjectDeleted => "project.deleted",
            AuditAction::SbomUploaded => "sbom.uploaded",
            AuditAction::SbomDeleted => "sbom.deleted",
            AuditAction::TrustedPublisherCreated => "trusted_publisher.created",
            AuditAction::TrustedPublisherUpdated => "trusted_publisher.updated",
            AuditAction::TrustedPublisherDeleted => "trusted_publisher.deleted",
            AuditAction::TrustedPublisherPinned => "trusted_publisher.pinned",
            AuditAction::TokenExchangeRefused => "token.exchange_refused",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookUpdated => "webhook.updated",
            AuditAction::WebhookDeleted => "webhook.deleted",
            AuditAction::WebhookParked => "webhook.parked",
            AuditAction::WebhookTestSent => "webhook.test_sent",
            AuditAction::WebhookRedelivered => "webhook.redelivered",
        }
    }

    /// The kind of object the action's target id names (`targetType`).
    pub const fn target_type(self) -> &'static str {
        match self {
            AuditAction::OrganizationCreated
            | AuditAction::OrganizationUpdated
            | AuditAction::TokenPolicyUpdated => "organization",
            AuditAction::LoginSucceeded
            | AuditAction::LoginFailed
            | AuditAction::PasswordChanged
            | AuditAction::PasswordReset
            | AuditAction::MemberJoined
            | AuditAction::MemberRoleChanged
            | AuditAction::MemberRemoved => "user",
            AuditAction::TokenCreated
            | AuditAction::TokenRevoked
            | AuditAction::TokenRotated
            | AuditAction::TokenExchanged
            | AuditAction::TokenAttenuated
            | AuditAction::TokenLeaked
            | AuditAction::TokenNarrowed
            | AuditAction::TokenAddressesRestricted => "token",
            AuditAction::RoleCreated | AuditAction::RoleUpdated | AuditAction::RoleDeleted => {
                "role"
            }
            AuditAction::MemberInvited | AuditAction::InvitationRevoked => "invitation",
            AuditAction::ProjectCreated
            | AuditAction::ProjectUpdated
            | AuditAction::ProjectDeleted => "project",
            AuditAction::SbomUploaded | AuditAction::SbomDeleted => "sbom",
            AuditAction::TrustedPublisherCreated
            | AuditAction::TrustedPublisherUpdated
            | AuditAction::TrustedPublisherDeleted
            | AuditAction::TrustedPublisherPinned
            | AuditAction::TokenExchangeRefused => "trusted_publisher",
            AuditAction::WebhookCreated
            | AuditAction::WebhookUpdated
            | AuditAction::WebhookDeleted
            | AuditAction::WebhookParked
            | AuditAction::WebhookTestSent
            | AuditAction::WebhookRedelivered => "webhook",
        }
    }
}

/// One event to record: `action` on the object `target` (whose type the
/// action says), filed under `organization_id`.
#[derive(Clone, Debug)]
pub struct AuditRecord<'a> {
    pub organization_id: Option<Uuid>,
    pub action: AuditAction,
    pub actor: &'a Actor,
    /// `None` only where the object is unknown (a login with an unknown
    /// email); `targetType` is then `null` too.
    pub target: Option<Uuid>,
}

impl<'a> AuditRecord<'a> {
    /// `action` on `target` in `organization_id`: what almost every change records.
    pub fn new(
        organization_id: Uuid,
        action: AuditAction,
        actor: &'a Actor,
        target: Uuid,
    ) -> AuditRecord<'a> {
        AuditRecord {
            organization_id: Some(organization_id),
            action,
            actor,
            target: Some(target),
        }
    }
}

/// Inserts the event.
pub async fn record(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    insert(conn, event, None, now).await
}

/// Inserts the event with a detail its columns cannot hold (compact JSON,
/// shown as `AuditEvent.detail`).
pub async fn record_with_detail(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    detail: String,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    insert(conn, event, Some(detail), now).await
}

async fn insert(
    conn: &impl ConnectionTrait,
    event: AuditRecord<'_>,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(event.organization_id),
        action: Set(event.action.as_str().to_owned()),
        actor_user_id: Set(event.actor.user_id),
        actor_token_id: Set(event.actor.token_id),
        target_type: Set(event.target.map(|_| event.action.target_type().to_owned())),
        target_id: Set(event.target),
        ip: Set(event.actor.ip.clone()),
        detail: Set(detail),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn action_strings_are_unique_and_dotted() {
        let strings: HashSet<&str> = AuditAction::iter().map(|a| a.as_str()).collect();
        assert_eq!(strings.len(), AuditAction::iter().len());
        for action in AuditAction::iter() {
            let (domain, verb) = action.as_str().split_once('.').expect("domain.verb");
            assert!(!domain.is_empty() && !verb.is_empty(), "{action:?}");
        }
    }

    #[test]
    fn the_stored_strings_are_the_released_ones() {
        let released = [
            (AuditAction::OrganizationCreated, "organization.created"),
            (AuditAction::LoginFailed, "login.failed"),
            (AuditAction::PasswordReset, "user.password_reset"),
            (AuditAction::TokenRevoked, "token.revoked"),
            (AuditAction::TokenExchanged, "token.exchanged"),
            (AuditAction::TokenLeaked, "token.leaked"),
            (AuditAction::InvitationRevoked, "member.invitation_revoked"),
            (AuditAction::MemberRoleChanged, "member.role_changed"),
            (AuditAction::SbomUploaded, "sbom.uploaded"),
            (
                AuditAction::TrustedPublisherDeleted,
                "trusted_publisher.deleted",
            ),
        ];
        for (action, stored) in released {
            assert_eq!(action.as_str(), stored);
        }
    }

    #[test]
    fn targets_follow_the_action() {
        assert_eq!(AuditAction::TokenRotated.target_type(), "token");
        assert_eq!(AuditAction::MemberInvited.target_type(), "invitation");
        assert_eq!(AuditAction::MemberRemoved.target_type(), "user");
        assert_eq!(AuditAction::LoginFailed.target_type(), "user");
        assert_eq!(
            AuditAction::TrustedPublisherCreated.target_type(),
            "trusted_publisher"
        );
    }
}
