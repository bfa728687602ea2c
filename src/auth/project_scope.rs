//! Which projects a credential reaches: every project of its organization,
//! or only those a token was restricted to (Tokens for CI). Pure, tested
//! beside it.
//!
//! A restriction never widens: an id that no longer parses or whose
//! project was deleted stays in the list, reaching nothing, so a token
//! whose every project is gone can do nothing project-level (it does not
//! fall back to "every project").

use uuid::Uuid;

/// The projects a credential may see and act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every project of the organization.
    #[default]
    All,
    /// Only these.
    Only(Vec<Uuid>),
}

impl ProjectScope {
    /// Reads the stored form: `None` = every project, else space-separated
    /// ids (an unreadable one reaches nothing).
    pub fn from_storage(stored: Option<&str>) -> ProjectScope {
        match stored {
            None => ProjectScope::All,
            Some(ids) => ProjectScope::Only(
                ids.split_whitespace()
                    .filter_map(|id| Uuid::parse_str(id).ok())
                    .collect(),
            ),
        }
    }

    /// The stored form, ids in the order given, without duplicates.
    pub fn to_storage(&self) -> Option<String> {
        match self {
            ProjectScope::All => None,
            ProjectScope::Only(ids) => {
                let mut seen = Vec::with_capacity(ids.len());
                for id in ids {
                    if !seen.contains(id) {
                        seen.push(*id);
                    }
                }
                Some(
                    seen.iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            }
        }
    }

    /// Whether the credential reaches `project`.
    pub fn allows(&self, project: Uuid) -> bool {
        match self {
            ProjectScope::All => true,
            ProjectScope::Only(ids) => ids.contains(&project),
        }
    }

    /// Whether it reaches every project, including ones created later
    /// (what `createProject` needs).
    pub fn is_all(&self) -> bool {
        matches!(self, ProjectScope::All)
    }

    /// The ids, for a restricted scope.
    pub fn ids(&self) -> Option<&[Uuid]> {
        match self {
            ProjectScope::All => None,
            ProjectScope::Only(ids) => Some(ids),
        }
    }

    /// No escalation for projects: a credential restricted to some
    /// projects may only hand out restrictions within them.
    pub fn is_within(&self, held: &ProjectScope) -> bool {
        match (self, held) {
            (_, ProjectScope::All) => true,
            (ProjectScope::All, ProjectScope::Only(_)) => false,
            (ProjectScope::Only(ids), ProjectScope::Only(_)) => {
                ids.iter().all(|id| held.allows(*id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    #[test]
    fn storage_round_trips_and_never_widens() {
        assert_eq!(ProjectScope::from_storage(None), ProjectScope::All);
        let only = ProjectScope::Only(vec![A, B, A]);
        let stored = only.to_storage().unwrap();
        assert_eq!(stored, format!("{A} {B}"));
        assert_eq!(
            ProjectScope::from_storage(Some(&stored)),
            ProjectScope::Only(vec![A, B])
        );
        // Nothing readable left: restricted to nothing, not to everything.
        let nothing = ProjectScope::from_storage(Some("garbage"));
        assert_eq!(nothing, ProjectScope::Only(vec![]));
        assert!(!nothing.allows(A));
        assert!(!nothing.is_all());
    }

    #[test]
    fn restrictions_are_granted_only_within_what_is_held() {
        let a = ProjectScope::Only(vec![A]);
        let ab = ProjectScope::Only(vec![A, B]);
        assert!(a.is_within(&ab));
        assert!(!ab.is_within(&a));
        assert!(ab.is_within(&ProjectScope::All));
        assert!(!ProjectScope::All.is_within(&a));
        assert!(ProjectScope::All.is_within(&ProjectScope::All));
        assert!(a.allows(A) && !a.allows(B));
    }
}
