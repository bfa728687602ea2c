//! Child tokens (`attenuateToken`, docs/DESIGN.md §8.7): what a child may do
//! on each request, decided from its parent's row as the verification
//! query reads it. Pure, with property tests beside it.
//!
//! A child is its parent narrowed, evaluated afresh on every request:
//! its permissions are the parent's current effective permissions ∩ its
//! own scopes, less token management; its projects the parent's ∩ its
//! own; it works only while its parent does (not revoked, not expired,
//! not past a rotation's grace, its owner still a member, which the
//! shared membership join decides for both).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    permission::{PermissionSet, TOKEN_MANAGEMENT},
    principal::UnauthorizedReason,
    project_scope::ProjectScope,
};

/// A child's parent, as the verification query joins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentRow {
    /// The parent the child names.
    pub id: Uuid,
    /// Whether that row still exists.
    pub found: bool,
    pub scopes: Option<String>,
    pub project_ids: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The parent's address rule: a child is used only from where its
    /// parent may be.
    pub allowed_cidrs: Option<String>,
    pub address_enforcement: Option<String>,
}

/// What a child never holds, whatever its parent holds.
pub const CHILD_WITHHELD: PermissionSet = TOKEN_MANAGEMENT;

/// Why a child lacks `tokens:write` (completes "this needs the `p`
/// permission, which …").
pub const CHILD_REASON: &str = "a child token may never use: it manages no token; use its parent";

/// Why the parent no longer lets its child act at `now`, if it does not:
/// gone, revoked (a rotation's grace that ended included) or expired.
pub fn parent_refusal(parent: &ParentRow, now: DateTime<Utc>) -> Option<UnauthorizedReason> {
    if !parent.found || parent.revoked_at.is_some_and(|at| at <= now) {
        Some(UnauthorizedReason::Revoked)
    } else if parent.expires_at.is_some_and(|at| at <= now) {
        Some(UnauthorizedReason::Expired)
    } else {
        None
    }
}

/// What a child's role and scopes grant: the role narrowed by the
/// parent's scopes and by the child's own, never token management.
pub fn granted(
    role: PermissionSet,
    parent_scopes: Option<PermissionSet>,
    own_scopes: Option<PermissionSet>,
) -> PermissionSet {
    let mut granted = role;
    for scopes in [parent_scopes, own_scopes].into_iter().flatten() {
        granted = granted.intersection(scopes);
    }
    granted.without(CHILD_WITHHELD)
}

/// The projects a child reaches: its parent's ∩ its own (`All` = no
/// restriction of that side).
pub fn projects(parent: &ProjectScope, own: &ProjectScope) -> ProjectScope {
    match (parent, own) {
        (ProjectScope::All, own) => own.clone(),
        (parent, ProjectScope::All) => parent.clone(),
        (ProjectScope::Only(parent), ProjectScope::Only(own)) => ProjectScope::Only(
            own.iter()
                .copied()
                .filter(|id| parent.contains(id))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;
    use crate::auth::{Permission, principal::effective_permissions};

    fn set(bits: u32) -> PermissionSet {
        Permission::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(PermissionSet::EMPTY, |set, (_, p)| set.with(*p))
    }

    const IDS: [Uuid; 4] = [
        Uuid::from_u128(1),
        Uuid::from_u128(2),
        Uuid::from_u128(3),
        Uuid::from_u128(4),
    ];

    fn scope(restricted: bool, bits: u8) -> ProjectScope {
        if restricted {
            ProjectScope::Only(
                IDS.iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, id)| *id)
                    .collect(),
            )
        } else {
            ProjectScope::All
        }
    }

    fn parent(now: DateTime<Utc>) -> ParentRow {
        ParentRow {
            id: Uuid::from_u128(9),
            found: true,
            scopes: None,
            project_ids: None,
            expires_at: Some(now + Duration::hours(1)),
            revoked_at: None,
            allowed_cidrs: None,
            address_enforcement: None,
        }
    }

    #[test]
    fn a_parent_that_stopped_working_refuses_its_child() {
        let now = Utc::now();
        assert_eq!(parent_refusal(&parent(now), now), None);
        // In a rotation's grace the parent works, and so does the child.
        let in_grace = ParentRow {
            revoked_at: Some(now + Duration::minutes(5)),
            ..parent(now)
        };
        assert_eq!(parent_refusal(&in_grace, now), None);
        let past_grace = ParentRow {
            revoked_at: Some(now),
            ..parent(now)
        };
        assert_eq!(
            parent_refusal(&past_grace, now),
            Some(UnauthorizedReason::Revoked)
        );
        let expired = ParentRow {
            expires_at: Some(now),
            ..parent(now)
        };
        assert_eq!(
            parent_refusal(&expired, now),
            Some(UnauthorizedReason::Expired)
        );
        let gone = ParentRow {
            found: false,
            ..parent(now)
        };
        assert_eq!(
            parent_refusal(&gone, now),
            Some(UnauthorizedReason::Revoked)
        );
    }

    #[test]
    fn a_child_never_holds_token_management() {
        let all = PermissionSet::all();
        assert!(!granted(all, None, None).contains(Permission::TokensWrite));
        assert!(!granted(all, None, Some(all)).contains(Permission::TokensWrite));
        assert!(granted(all, None, None).contains(Permission::TokensRead));
    }

    proptest! {
        /// Whatever the parent's role, scopes and projects are now (after
        /// its role shrank, its scopes narrowed or its projects changed),
        /// the child's effective permissions lie within the parent's and
        /// its projects within the parent's.
        #[test]
        fn a_child_never_exceeds_its_parent(
            role in 0u32..(1 << 16),
            parent_scopes in proptest::option::of(0u32..(1 << 16)),
            own_scopes in proptest::option::of(0u32..(1 << 16)),
            parent_restricted in any::<bool>(),
            parent_projects in 0u8..16,
            own_restricted in any::<bool>(),
            own_projects in 0u8..16,
            parent_in_grace in any::<bool>(),
        ) {
            let role = set(role);
            let parent_scopes = parent_scopes.map(set);
            let own_scopes = own_scopes.map(set);
            let parent_scope = scope(parent_restricted, parent_projects);
            let own_scope = scope(own_restricted, own_projects);

            let parent_granted = parent_scopes.map_or(role, |s| role.intersection(s));
            let (parent_effective, _) =
                effective_permissions(parent_granted, &parent_scope, parent_in_grace);

            let child_scope = projects(&parent_scope, &own_scope);
            let (child_effective, _) = effective_permissions(
                granted(role, parent_scopes, own_scopes),
                &child_scope,
                parent_in_grace,
            );
            prop_assert!(child_effective.is_subset_of(parent_effective));
            prop_assert!(child_effective.is_subset_of(own_scopes.unwrap_or(PermissionSet::all())));
            prop_assert!(!child_effective.contains(Permission::TokensWrite));
            prop_assert!(child_scope.is_within(&parent_scope));
            prop_assert!(child_scope.is_within(&own_scope));
            for id in IDS {
                prop_assert_eq!(
                    child_scope.allows(id),
                    parent_scope.allows(id) && own_scope.allows(id)
                );
            }
        }
    }
}
