//! The resolved caller of one request, and the pure rule that turns a
//! stored credential into one.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    address_rule::AddressRule,
    child::{self, CHILD_REASON, CHILD_WITHHELD, ParentRow},
    credential::RequestedOrganization,
    credential_kind::CredentialKind,
    permission::{PROJECT_LEVEL, Permission, PermissionSet, TOKEN_MANAGEMENT},
    project_scope::ProjectScope,
};
use crate::error::Error;

/// The organization a principal acts in, as read by the verification query
/// (so `organization { id name }` needs no second round trip).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationSnapshot {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub max_token_lifetime_days: i32,
}

/// The caller of one request, resolved once by the context guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// What the caller presented.
    pub kind: CredentialKind,
    /// The token in use (a session is a token too).
    pub token_id: Uuid,
    /// The user behind a session or personal token; `None` for a service token.
    pub user_id: Option<Uuid>,
    pub organization: OrganizationSnapshot,
    /// The role the permissions come from: the member's current role, or
    /// the service token's own.
    pub role_id: Uuid,
    /// Effective permissions: the role's, narrowed by the token's scopes,
    /// less what the credential withholds.
    pub permissions: PermissionSet,
    /// What the role and scopes grant but this credential may not use.
    pub withheld: Withheld,
    /// The projects it reaches: every one, or those the token is
    /// restricted to.
    pub projects: ProjectScope,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The addresses it was last used from, newest first, as stored.
    pub last_used_ips: Option<String>,
    /// For a child token (`attenuateToken`), the token it was minted from.
    pub parent_id: Option<Uuid>,
    /// In a rotation's grace period: it authenticates but manages no token.
    pub in_grace: bool,
    /// The addresses it may be used from; `None` = anywhere.
    pub addresses: Option<AddressRule>,
    /// For a child, its parent's rule, which holds for the child too.
    pub parent_addresses: Option<AddressRule>,
    /// The permissions this request was granted so far
    /// (`Token.permissionsUsed`, recorded after the request).
    pub used: UsedPermissions,
}

/// The permissions a request was granted, noted by [`Principal::require`]
/// as resolvers check them (they may run concurrently, hence an atomic).
/// Bookkeeping, not part of who the caller is: every two compare equal.
#[derive(Debug, Default)]
pub struct UsedPermissions(AtomicU64);

impl UsedPermissions {
    fn note(&self, permission: Permission) {
        self.0
            .fetch_or(PermissionSet::of(&[permission]).bits(), Ordering::Relaxed);
    }

    /// What was granted so far.
    pub fn get(&self) -> PermissionSet {
        PermissionSet::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Clone for UsedPermissions {
    fn clone(&self) -> UsedPermissions {
        UsedPermissions(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PartialEq for UsedPermissions {
    fn eq(&self, _: &UsedPermissions) -> bool {
        true
    }
}

impl Eq for UsedPermissions {}

impl Principal {
    /// Fails with `FORBIDDEN` naming `permission` unless the caller holds
    /// it; a granted permission is noted as used.
    pub fn require(&self, permission: Permission) -> Result<(), Error> {
        if self.permissions.contains(permission) {
            self.used.note(permission);
            Ok(())
        } else if self.is_child() && CHILD_WITHHELD.contains(permission) {
            Err(Error::Withheld(permission.name(), CHILD_REASON))
        } else if self.withheld.permissions.contains(permission) {
            Err(Error::Withheld(permission.name(), self.withheld.reason))
        } else {
            Err(Error::MissingPermission(permission.name()))
        }
    }

    /// The organization the caller acts in.
    pub fn organization_id(&self) -> Uuid {
        self.organization.id
    }

    /// The user signed in with the session in use; `None` for a token,
    /// and for a child of a session, which is a narrowed credential, not
    /// a sign-in.
    pub fn session_user(&self) -> Option<Uuid> {
        self.user_id
            .filter(|_| self.kind == CredentialKind::Session && self.parent_id.is_none())
    }

    /// Whether the credential in use is a child token.
    pub fn is_child(&self) -> bool {
        self.parent_id.is_some()
    }

    /// The user signed in with the session in use, for operations a token
    /// may not run (docs/DESIGN.md §3.4: a leaked token cannot mint more tokens);
    /// for a token, `FORBIDDEN` saying that `what` (e.g. "creating an
    /// organization needs a session") and how to get one.
    pub fn require_session(&self, what: &str) -> Result<Uuid, Error> {
        self.session_user()
            .ok_or_else(|| Error::Forbidden(format!("{what} (sign in with login)")))
    }
}

/// Permissions a credential's role grants but the credential may not use,
/// and why (a sentence completing "this needs the `p` permission, which …").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Withheld {
    pub permissions: PermissionSet,
    pub reason: &'static str,
}

/// Why a project-restricted credential lacks an organization-wide permission.
pub const RESTRICTED_REASON: &str =
    "is organization-wide, and this credential is restricted to some projects";

/// Why a secret in its rotation grace lacks `tokens:write`.
pub const GRACE_REASON: &str =
    "a secret in its rotation grace period may not use: it manages no token; use its successor";

/// The permissions a credential may use: what its role and scopes grant,
/// less everything organization-wide when it is restricted to some
/// projects (docs/DESIGN.md §3.6: a project-level credential), less token
/// management while it is in a rotation's grace period. Decided here, once,
/// for every field and mutation.
pub fn effective_permissions(
    granted: PermissionSet,
    projects: &ProjectScope,
    in_grace: bool,
) -> (PermissionSet, Withheld) {
    let mut permissions = granted;
    let mut withheld = Withheld::default();
    if !projects.is_all() {
        let away = permissions.without(PROJECT_LEVEL);
        permissions = permissions.without(away);
        withheld = Withheld {
            permissions: away,
            reason: RESTRICTED_REASON,
        };
    }
    if in_grace && permissions.intersection(TOKEN_MANAGEMENT) != PermissionSet::EMPTY {
        permissions = permissions.without(TOKEN_MANAGEMENT);
        withheld = Withheld {
            permissions: withheld.permissions.union(TOKEN_MANAGEMENT),
            reason: GRACE_REASON,
        };
    }
    (permissions, withheld)
}

/// Why a request was not authenticated. Logged and counted, never sent:
/// every reason answers the same 401 body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnauthorizedReason {
    Missing,
    Malformed,
    /// A well-formed secret of a kind that is not a bearer token (an invitation code).
    WrongKind,
    Unknown,
    Expired,
    Revoked,
    /// The owner is no longer a member of the token's organization.
    NotMember,
    /// The token is bound to addresses the request did not come from.
    AddressNotAllowed,
}

impl UnauthorizedReason {
    /// A stable label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            UnauthorizedReason::Missing => "missing",
            UnauthorizedReason::Malformed => "malformed",
            UnauthorizedReason::WrongKind => "wrong_kind",
            UnauthorizedReason::Unknown => "unknown",
            UnauthorizedReason::Expired => "expired",
            UnauthorizedReason::Revoked => "revoked",
            UnauthorizedReason::NotMember => "not_member",
            UnauthorizedReason::AddressNotAllowed => "address_not_allowed",
        }
    }
}

/// Why authentication failed at the request level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// HTTP 401.
    Unauthorized(UnauthorizedReason),
    /// HTTP 403: a valid credential asked for an organization it may not act in.
    Forbidden,
}

/// One row of the verification query: the token joined with the
/// membership, role and organization it acts through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRow {
    pub token_id: Uuid,
    pub kind: CredentialKind,
    pub token_organization_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub scopes: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Present when the owner is a member of the organization acted in.
    pub membership_organization_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    pub role_permissions: Option<String>,
    pub organization: Option<OrganizationSnapshot>,
    pub project_ids: Option<String>,
    pub last_used_ips: Option<String>,
    /// For a child token, its parent's row.
    pub parent: Option<ParentRow>,
    /// The stored `allowedCidrs` (space-separated); `None` = any address.
    pub allowed_cidrs: Option<String>,
    pub address_enforcement: Option<String>,
}

/// Decides whether a stored credential may act, and as whom. Pure: the
/// clock and the requested organization are arguments.
pub fn resolve_principal(
    row: CredentialRow,
    requested: RequestedOrganization,
    now: DateTime<Utc>,
) -> Result<Principal, AuthFailure> {
    use UnauthorizedReason::*;
    // A revocation in the future is the end of a rotation's grace period.
    if row.revoked_at.is_some_and(|at| at <= now) {
        return Err(AuthFailure::Unauthorized(Revoked));
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Err(AuthFailure::Unauthorized(Expired));
    }
    // A child works only while its parent does (docs/DESIGN.md §8.7).
    if let Some(reason) = row
        .parent
        .as_ref()
        .and_then(|parent| child::parent_refusal(parent, now))
    {
        return Err(AuthFailure::Unauthorized(reason));
    }
    let kind = row.kind;
    // Where a credential may act: a personal or service token in its own
    // organization only; a session (pinned at login) in any it is a member
    // of. The verification SQL joins the membership and role accordingly.
    let (may_switch_organization, needs_membership) = match kind {
        CredentialKind::Personal => (false, true),
        CredentialKind::Service => (false, false),
        // A child of a session stays in the organization it was minted in.
        CredentialKind::Session => (row.parent.is_none(), true),
    };
    match (requested, row.token_organization_id) {
        (RequestedOrganization::Invalid, _) => return Err(AuthFailure::Forbidden),
        (RequestedOrganization::Id(asked), Some(own))
            if asked != own && !may_switch_organization =>
        {
            return Err(AuthFailure::Forbidden);
        }
        _ => {}
    }
    if needs_membership && row.membership_organization_id.is_none() {
        // A session that named an organization it does not belong to is
        // forbidden there; any other missing membership kills the credential.
        return Err(match requested {
            RequestedOrganization::Id(_) if may_switch_organization => AuthFailure::Forbidden,
            _ => AuthFailure::Unauthorized(NotMember),
        });
    }
    let (Some(role_id), Some(stored), Some(organization)) =
        (row.role_id, row.role_permissions, row.organization)
    else {
        return Err(AuthFailure::Unauthorized(NotMember));
    };
    let role_permissions = PermissionSet::from_storage(&stored);
    let own_scopes = row.scopes.as_deref().map(PermissionSet::from_storage);
    let own_projects = ProjectScope::from_storage(row.project_ids.as_deref());
    let (granted, projects) = match &row.parent {
        None => (
            own_scopes.map_or(role_permissions, |s| role_permissions.intersection(s)),
            own_projects,
        ),
        Some(parent) => (
            child::granted(
                role_permissions,
                parent.scopes.as_deref().map(PermissionSet::from_storage),
                own_scopes,
            ),
            child::projects(
                &ProjectScope::from_storage(parent.project_ids.as_deref()),
                &own_projects,
            ),
        ),
    };
    // Past the checks above, a revocation still set lies ahead: the
    // secret (or a child's parent) is in a rotation's grace period.
    let in_grace = row.revoked_at.is_some()
        || row
            .parent
            .as_ref()
            .is_some_and(|parent| parent.revoked_at.is_some());
    let (permissions, withheld) = effective_permissions(granted, &projects, in_grace);
    Ok(Principal {
        kind,
        token_id: row.token_id,
        user_id: row.owner_user_id,
        organization,
        role_id,
        permissions,
        withheld,
        projects,
        last_used_at: row.last_used_at,
        last_used_ips: row.last_used_ips,
        parent_id: row.parent.as_ref().map(|parent| parent.id),
        in_grace,
        addresses: AddressRule::from_storage(
            row.allowed_cidrs.as_deref(),
            row.address_enforcement.as_deref(),
        ),
        parent_addresses: row.parent.as_ref().and_then(|parent| {
            AddressRule::from_storage(
                parent.allowed_cidrs.as_deref(),
                parent.address_enforcement.as_deref(),
            )
        }),
        used: UsedPermissions::default(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn org(id: Uuid) -> OrganizationSnapshot {
        OrganizationSnapshot {
            id,
            name: "Acme".into(),
            created_at: Utc::now(),
            max_token_lifetime_days: 366,
        }
    }

    fn personal_row(org_id: Uuid) -> CredentialRow {
        CredentialRow {
            token_id: Uuid::now_v7(),
            kind: CredentialKind::Personal,
            token_organization_id: Some(org_id),
            owner_user_id: Some(Uuid::now_v7()),
            scopes: None,
            expires_at: Some(Utc::now() + Duration::days(1)),
            revoked_at: None,
            last_used_at: None,
            membership_organization_id: Some(org_id),
            role_id: Some(Uuid::now_v7()),
            role_permissions: Some("members:read roles:read projects:read sboms:read".into()),
            organization: Some(org(org_id)),
            project_ids: None,
            last_used_ips: None,
            parent: None,
            allowed_cidrs: None,
            address_enforcement: None,
        }
    }

    #[test]
    fn a_valid_personal_token_acts_with_its_role() {
        let org_id = Uuid::now_v7();
        let p = resolve_principal(
            personal_row(org_id),
            RequestedOrganization::Default,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(p.kind, CredentialKind::Personal);
        assert_eq!(p.organization_id(), org_id);
        assert!(p.require(Permission::MembersRead).is_ok());
        assert!(p.require(Permission::MembersWrite).is_err());
    }

    #[test]
    fn only_a_session_passes_require_session() {
        let org_id = Uuid::now_v7();
        let mut p = resolve_principal(
            personal_row(org_id),
            RequestedOrganization::Default,
            Utc::now(),
        )
        .unwrap();
        let err = p.require_session("this needs a session").unwrap_err();
        assert_eq!(err.code(), "FORBIDDEN");
        assert_eq!(
            err.message(),
            "Forbidden: this needs a session (sign in with login)"
        );
        assert_eq!(p.session_user(), None);
        p.kind = CredentialKind::Session;
        assert_eq!(p.require_session("this needs a session").ok(), p.user_id);
        assert!(p.session_user().is_some());
    }

    #[test]
    fn scopes_narrow_the_role() {
        let org_id = Uuid::now_v7();
        let mut row = personal_row(org_id);
        row.scopes = Some("projects:read tokens:write".into());
        let p = resolve_principal(row, RequestedOrganization::Default, Utc::now()).unwrap();
        // tokens:write is not in the role, so the scope cannot add it.
        assert_eq!(p.permissions.names(), ["projects:read"]);
    }

    #[test]
    fn revoked_expired_and_removed_credentials_fail() {
        let org_id = Uuid::now_v7();
        let now = Utc::now();
        let mut revoked = personal_row(org_id);
        revoked.revoked_at = Some(now);
        let mut expired = personal_row(org_id);
        expired.expires_at = Some(now);
        let mut removed = personal_row(org_id);
        removed.membership_organization_id = None;
        for (row, reason) in [
            (revoked, UnauthorizedReason::Revoked),
            (expired, UnauthorizedReason::Expired),
            (removed, UnauthorizedReason::NotMember),
        ] {
            assert_eq!(
                resolve_principal(row, RequestedOrganization::Default, now),
                Err(AuthFailure::Unauthorized(reason))
            );
        }
    }

    #[test]
    fn another_organization_is_forbidden() {
        let org_id = Uuid::now_v7();
        let now = Utc::now();
        assert_eq!(
            resolve_principal(
                personal_row(org_id),
                RequestedOrganization::Id(Uuid::now_v7()),
                now
            ),
            Err(AuthFailure::Forbidden)
        );
        assert_eq!(
            resolve_principal(personal_row(org_id), RequestedOrganization::Invalid, now),
            Err(AuthFailure::Forbidden)
        );
        assert!(
            resolve_principal(personal_row(org_id), RequestedOrganization::Id(org_id), now).is_ok()
        );
    }

    #[test]
    fn a_session_naming_a_foreign_organization_is_forbidden() {
        let org_id = Uuid::now_v7();
        let mut row = personal_row(org_id);
        row.kind = CredentialKind::Session;
        row.token_organization_id = None;
        row.membership_organization_id = None;
        assert_eq!(
            resolve_principal(row, RequestedOrganization::Id(Uuid::now_v7()), Utc::now()),
            Err(AuthFailure::Forbidden)
        );
    }

    #[test]
    fn a_pinned_session_switches_only_to_organizations_it_belongs_to() {
        let pinned = Uuid::now_v7();
        let other = Uuid::now_v7();
        let mut row = personal_row(other);
        row.kind = CredentialKind::Session;
        row.token_organization_id = Some(pinned);
        // The verification query joined the membership of `other`.
        let p =
            resolve_principal(row.clone(), RequestedOrganization::Id(other), Utc::now()).unwrap();
        assert_eq!(p.organization_id(), other);
        // Removed from the pinned organization: no silent switch, a 401.
        row.membership_organization_id = None;
        assert_eq!(
            resolve_principal(row.clone(), RequestedOrganization::Default, Utc::now()),
            Err(AuthFailure::Unauthorized(UnauthorizedReason::NotMember))
        );
        assert_eq!(
            resolve_principal(row, RequestedOrganization::Id(other), Utc::now()),
            Err(AuthFailure::Forbidden)
        );
    }

    #[test]
    fn a_service_token_needs_no_membership() {
        let org_id = Uuid::now_v7();
        let mut row = personal_row(org_id);
        row.kind = CredentialKind::Service;
        row.owner_user_id = None;
        row.membership_organization_id = None;
        row.expires_at = None;
        let p = resolve_principal(row, RequestedOrganization::Default, Utc::now()).unwrap();
        assert_eq!(p.kind, CredentialKind::Service);
        assert_eq!(p.user_id, None);
    }

    #[test]
    fn a_project_restricted_credential_keeps_only_project_level_permissions() {
        let org_id = Uuid::now_v7();
        let mut row = personal_row(org_id);
        row.role_permissions = Some(PermissionSet::all().to_storage());
        row.project_ids = Some(Uuid::now_v7().to_string());
        let p = resolve_principal(row, RequestedOrganization::Default, Utc::now()).unwrap();
        assert_eq!(p.permissions, PROJECT_LEVEL);
        for organization_wide in [
            Permission::MembersRead,
            Permission::MembersWrite,
            Permission::RolesWrite,
            Permission::OrganizationWrite,
            Permission::AuditRead,
            Permission::WebhooksWrite,
        ] {
            let refused = p.require(organization_wide).unwrap_err();
            assert_eq!(refused.code(), "FORBIDDEN");
            assert!(refused.message().contains("restricted to some projects"));
        }
        assert!(p.require(Permission::SbomsWrite).is_ok());
    }

    #[test]
    fn a_secret_in_its_rotation_grace_manages_no_token() {
        let org_id = Uuid::now_v7();
        let mut row = personal_row(org_id);
        row.kind = CredentialKind::Service;
        row.owner_user_id = None;
        row.membership_organization_id = None;
        row.role_permissions = Some(PermissionSet::all().to_storage());
        row.revoked_at = Some(Utc::now() + Duration::hours(1));
        let p = resolve_principal(row, RequestedOrganization::Default, Utc::now()).unwrap();
        assert!(!p.permissions.contains(Permission::TokensWrite));
        assert!(p.permissions.contains(Permission::TokensRead));
        let refused = p.require(Permission::TokensWrite).unwrap_err();
        assert!(refused.message().contains("rotation grace"));
    }

    #[test]
    fn effective_permissions_never_exceed_what_is_granted() {
        let restricted = ProjectScope::Only(vec![Uuid::now_v7()]);
        for bits in 0u32..(1 << 16) {
            let granted = Permission::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(PermissionSet::EMPTY, |set, (_, p)| set.with(*p));
            for (projects, grace) in [
                (&ProjectScope::All, false),
                (&ProjectScope::All, true),
                (&restricted, false),
                (&restricted, true),
            ] {
                let (effective, withheld) = effective_permissions(granted, projects, grace);
                assert!(effective.is_subset_of(granted));
                assert_eq!(
                    effective.union(withheld.permissions),
                    granted.union(withheld.permissions)
                );
                assert!(effective.intersection(withheld.permissions).is_empty());
            }
        }
    }

    fn child_of(row: CredentialRow, now: DateTime<Utc>) -> CredentialRow {
        CredentialRow {
            token_id: Uuid::now_v7(),
            parent: Some(ParentRow {
                id: row.token_id,
                found: true,
                scopes: row.scopes.clone(),
                project_ids: row.project_ids.clone(),
                expires_at: row.expires_at,
                revoked_at: row.revoked_at,
                allowed_cidrs: row.allowed_cidrs.clone(),
                address_enforcement: row.address_enforcement.clone(),
            }),
            expires_at: Some(now + Duration::minutes(2)),
            scopes: None,
            ..row
        }
    }

    #[test]
    fn a_child_acts_within_its_parent_and_never_manages_tokens() {
        let org_id = Uuid::now_v7();
        let now = Utc::now();
        let mut parent = personal_row(org_id);
        parent.role_permissions = Some(PermissionSet::all().to_storage());
        parent.scopes = Some("tokens:write projects:read members:read".into());
        let child = resolve_principal(
            child_of(parent.clone(), now),
            RequestedOrganization::Default,
            now,
        )
        .unwrap();
        assert_eq!(child.permissions.names(), ["members:read", "projects:read"]);
        assert!(child.is_child());
        let refused = child.require(Permission::TokensWrite).unwrap_err();
        assert!(
            refused.message().contains("child token"),
            "{}",
            refused.message()
        );

        // Restricted to a project through its parent: organization-wide
        // permissions are withheld for that reason, not the child's.
        parent.project_ids = Some(Uuid::now_v7().to_string());
        let child = resolve_principal(
            child_of(parent.clone(), now),
            RequestedOrganization::Default,
            now,
        )
        .unwrap();
        assert_eq!(child.permissions.names(), ["projects:read"]);
        let refused = child.require(Permission::MembersRead).unwrap_err();
        assert!(refused.message().contains("restricted to some projects"));

        // A parent past its grace refuses the child.
        let mut row = child_of(parent.clone(), now);
        if let Some(p) = row.parent.as_mut() {
            p.revoked_at = Some(now);
        }
        assert_eq!(
            resolve_principal(row, RequestedOrganization::Default, now),
            Err(AuthFailure::Unauthorized(UnauthorizedReason::Revoked))
        );
    }

    #[test]
    fn a_sessions_child_stays_in_its_organization_and_is_no_sign_in() {
        let org_id = Uuid::now_v7();
        let now = Utc::now();
        let mut session = personal_row(org_id);
        session.kind = CredentialKind::Session;
        let child = child_of(session, now);
        let p = resolve_principal(child.clone(), RequestedOrganization::Id(org_id), now).unwrap();
        assert_eq!(p.session_user(), None);
        assert_eq!(
            resolve_principal(child, RequestedOrganization::Id(Uuid::now_v7()), now),
            Err(AuthFailure::Forbidden)
        );
    }
}
