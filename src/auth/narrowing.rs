//! `narrowToken` (docs/DESIGN.md §9): fewer scopes or projects for the same
//! secret, never more. Pure: the token's role, its stored scopes and
//! projects and what is asked are arguments; a property test below holds
//! that no answer is wider than what the token had.

use uuid::Uuid;

use super::{PermissionSet, principal::effective_permissions, project_scope::ProjectScope};

/// What a token may do: its role narrowed by its scopes, less what a
/// project restriction withholds (grace periods aside).
pub fn effective(
    role: PermissionSet,
    scopes: Option<PermissionSet>,
    projects: &ProjectScope,
) -> PermissionSet {
    let granted = scopes.map_or(role, |scopes| role.intersection(scopes));
    effective_permissions(granted, projects, false).0
}

/// A token after narrowing: what to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Narrowed {
    pub scopes: Option<PermissionSet>,
    pub projects: ProjectScope,
}

/// Narrows a token whose role grants `role`, stored with `scopes` and
/// `projects`, to `asked_scopes` (each within its effective permissions;
/// `None` keeps its scopes) and `asked_projects` (each among its projects;
/// `None` keeps them). The error names what the token does not hold.
pub fn narrow(
    role: PermissionSet,
    scopes: Option<PermissionSet>,
    projects: &ProjectScope,
    asked_scopes: Option<PermissionSet>,
    asked_projects: Option<&[Uuid]>,
) -> Result<Narrowed, String> {
    let projects = match asked_projects {
        None => projects.clone(),
        Some(asked) => {
            if let ProjectScope::Only(current) = projects
                && let Some(outside) = asked.iter().find(|id| !current.contains(id))
            {
                return Err(format!(
                    "project {outside} is not among the token's projects; narrowToken only \
                     removes projects: name some of its current ones"
                ));
            }
            ProjectScope::Only(asked.to_vec())
        }
    };
    let holds = effective(role, scopes, &projects);
    let scopes = match asked_scopes {
        None => scopes,
        Some(asked) => {
            let missing = asked.without(holds);
            if !missing.is_empty() {
                return Err(format!(
                    "narrowToken only removes permissions, and the token does not hold {}; its \
                     effective permissions are: {}",
                    missing.names().join(", "),
                    display(holds)
                ));
            }
            Some(asked)
        }
    };
    Ok(Narrowed { scopes, projects })
}

fn display(set: PermissionSet) -> String {
    if set.is_empty() {
        "none".into()
    } else {
        set.names().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::auth::Permission;

    fn set(permissions: &[Permission]) -> PermissionSet {
        PermissionSet::of(permissions)
    }

    #[test]
    fn narrowing_keeps_what_is_not_asked_and_refuses_more() {
        let role = set(&[
            Permission::ProjectsRead,
            Permission::SbomsWrite,
            Permission::AuditRead,
        ]);
        let narrowed = narrow(
            role,
            None,
            &ProjectScope::All,
            Some(set(&[Permission::SbomsWrite])),
            None,
        )
        .unwrap();
        assert_eq!(narrowed.scopes, Some(set(&[Permission::SbomsWrite])));
        assert_eq!(narrowed.projects, ProjectScope::All);
        let err = narrow(
            role,
            None,
            &ProjectScope::All,
            Some(set(&[Permission::TokensWrite])),
            None,
        )
        .unwrap_err();
        assert!(err.contains("does not hold tokens:write"), "{err}");
        // Restricted to a project, audit:read (organization-wide) is not held.
        let project = Uuid::now_v7();
        let err = narrow(
            role,
            None,
            &ProjectScope::All,
            Some(set(&[Permission::AuditRead])),
            Some(&[project]),
        )
        .unwrap_err();
        assert!(err.contains("audit:read"), "{err}");
        let other = Uuid::now_v7();
        let err = narrow(
            role,
            None,
            &ProjectScope::Only(vec![project]),
            None,
            Some(&[other]),
        )
        .unwrap_err();
        assert!(err.contains(&other.to_string()), "{err}");
    }

    fn any_set() -> impl Strategy<Value = PermissionSet> {
        any::<u64>().prop_map(PermissionSet::from_bits)
    }

    fn any_projects(pool: Vec<Uuid>) -> impl Strategy<Value = ProjectScope> {
        prop_oneof![
            Just(ProjectScope::All),
            proptest::sample::subsequence(pool, 0..=4).prop_map(ProjectScope::Only),
        ]
    }

    proptest! {
        /// Whatever is asked, an accepted narrowing is never wider: its
        /// effective permissions are within the old ones (under any later
        /// role too), and its projects within the old ones.
        #[test]
        fn narrowing_never_widens(
            role in any_set(),
            later_role in any_set(),
            scopes in proptest::option::of(any_set()),
            asked_scopes in proptest::option::of(any_set()),
            (projects, asked_projects) in {
                let pool: Vec<Uuid> = (1..=5).map(Uuid::from_u128).collect();
                (any_projects(pool.clone()), proptest::option::of(proptest::sample::subsequence(pool, 0..=5)))
            },
        ) {
            let before = effective(role, scopes, &projects);
            if let Ok(narrowed) = narrow(role, scopes, &projects, asked_scopes, asked_projects.as_deref()) {
                let after = effective(role, narrowed.scopes, &narrowed.projects);
                prop_assert!(after.is_subset_of(before), "{after:?} is wider than {before:?}");
                prop_assert!(narrowed.projects.is_within(&projects));
                let before_later = effective(later_role, scopes, &projects);
                let after_later = effective(later_role, narrowed.scopes, &narrowed.projects);
                prop_assert!(after_later.is_subset_of(before_later));
            }
        }
    }
}
