//! The permission catalog, permission sets and the built-in roles.
//!
//! Everything here is pure: parsing names, set algebra and the
//! no-escalation rule are plain functions with unit tests beside them.

use std::fmt;

/// One `resource:action` permission from the catalog (docs/DESIGN.md §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    OrganizationWrite,
    MembersRead,
    MembersWrite,
    RolesRead,
    RolesWrite,
    TokensRead,
    TokensWrite,
    AuditRead,
    ProjectsRead,
    ProjectsWrite,
    ProjectsDelete,
    SbomsRead,
    SbomsWrite,
    SbomsDelete,
    WebhooksRead,
    WebhooksWrite,
}

impl Permission {
    /// Every permission, in catalog order.
    pub const ALL: [Permission; 16] = [
        Permission::OrganizationWrite,
        Permission::MembersRead,
        Permission::MembersWrite,
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::TokensRead,
        Permission::TokensWrite,
        Permission::AuditRead,
        Permission::ProjectsRead,
        Permission::ProjectsWrite,
        Permission::ProjectsDelete,
        Permission::SbomsRead,
        Permission::SbomsWrite,
        Permission::SbomsDelete,
        Permission::WebhooksRead,
        Permission::WebhooksWrite,
    ];

    /// The wire name, e.g. `members:read`.
    pub const fn name(self) -> &'static str {
        match self {
            Permission::OrganizationWrite => "organization:write",
            Permission::MembersRead => "members:read",
            Permission::MembersWrite => "members:write",
            Permission::RolesRead => "roles:read",
            Permission::RolesWrite => "roles:write",
            Permission::TokensRead => "tokens:read",
            Permission::TokensWrite => "tokens:write",
            Permission::AuditRead => "audit:read",
            Permission::ProjectsRead => "projects:read",
            Permission::ProjectsWrite => "projects:write",
            Permission::ProjectsDelete => "projects:delete",
            Permission::SbomsRead => "sboms:read",
            Permission::SbomsWrite => "sboms:write",
            Permission::SbomsDelete => "sboms:delete",
            Permission::WebhooksRead => "webhooks:read",
            Permission::WebhooksWrite => "webhooks:write",
        }
    }

    /// What the permission grants, for the `permissions` query.
    pub const fn description(self) -> &'static str {
        match self {
            Permission::OrganizationWrite => "Rename the organization and set its token policy",
            Permission::MembersRead => "List members and invitations",
            Permission::MembersWrite => "Invite members, change their role, remove them",
            Permission::RolesRead => "List roles",
            Permission::RolesWrite => "Create, update and delete custom roles",
            Permission::TokensRead => "List all the organization's tokens",
            Permission::TokensWrite => {
                "Create service tokens; revoke or rotate any token of the organization"
            }
            Permission::AuditRead => "Read the audit log",
            Permission::ProjectsRead => "List and read projects",
            Permission::ProjectsWrite => "Create and update projects",
            Permission::ProjectsDelete => "Delete projects and their SBOMs",
            Permission::SbomsRead => "List and download SBOM documents",
            Permission::SbomsWrite => "Upload SBOM documents",
            Permission::SbomsDelete => "Delete SBOM documents",
            Permission::WebhooksRead => "List webhooks and their deliveries",
            Permission::WebhooksWrite => "Create, update and delete webhooks",
        }
    }

    /// Parses a wire name; `None` if it is not in the catalog. A `match`
    /// rather than a search of [`Permission::ALL`]: every request decodes
    /// its credential's permissions with it (the unit test
    /// `names_round_trip_and_are_unique` keeps it the inverse of [`Permission::name`]).
    pub fn from_name(name: &str) -> Option<Permission> {
        Some(match name {
            "organization:write" => Permission::OrganizationWrite,
            "members:read" => Permission::MembersRead,
            "members:write" => Permission::MembersWrite,
            "roles:read" => Permission::RolesRead,
            "roles:write" => Permission::RolesWrite,
            "tokens:read" => Permission::TokensRead,
            "tokens:write" => Permission::TokensWrite,
            "audit:read" => Permission::AuditRead,
            "projects:read" => Permission::ProjectsRead,
            "projects:write" => Permission::ProjectsWrite,
            "projects:delete" => Permission::ProjectsDelete,
            "sboms:read" => Permission::SbomsRead,
            "sboms:write" => Permission::SbomsWrite,
            "sboms:delete" => Permission::SbomsDelete,
            "webhooks:read" => Permission::WebhooksRead,
            "webhooks:write" => Permission::WebhooksWrite,
            _ => return None,
        })
    }

    const fn bit(self) -> u64 {
        1 << (self as u64)
    }
}

/// The bit set has room for every permission: a permission past bit 63
/// would not compile, rather than alias another or panic.
const _: () = assert!(Permission::ALL.len() <= u64::BITS as usize);

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not in the permission catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission `{name}`; valid permissions are: {}",
    valid_names()
)]
pub struct UnknownPermission {
    /// The name as given.
    pub name: String,
}

fn valid_names() -> String {
    Permission::ALL.map(Permission::name).join(", ")
}

/// A set of permissions, stored as a bit set (one bit per catalog entry;
/// the assertion above keeps the catalog within it).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// The empty set.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission in the catalog.
    pub const fn all() -> PermissionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < Permission::ALL.len() {
            bits |= Permission::ALL[i].bit();
            i += 1;
        }
        PermissionSet(bits)
    }

    /// A set of the given permissions.
    pub const fn of(permissions: &[Permission]) -> PermissionSet {
        let mut bits = 0;
        let mut i = 0;
        while i < permissions.len() {
            bits |= permissions[i].bit();
            i += 1;
        }
        PermissionSet(bits)
    }

    /// The bits, one per catalog entry (for a set kept in an atomic).
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set of `bits`; bits past the catalog are dropped.
    pub const fn from_bits(bits: u64) -> PermissionSet {
        PermissionSet(bits & PermissionSet::all().0)
    }

    /// Parses wire names; the first unknown name is the error. Duplicates
    /// are harmless.
    pub fn parse<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<PermissionSet, UnknownPermission> {
        names
            .into_iter()
            .try_fold(PermissionSet::EMPTY, |set, name| {
                let name = name.as_ref().trim();
                Permission::from_name(name)
                    .map(|p| set.with(p))
                    .ok_or_else(|| UnknownPermission {
                        name: name.to_owned(),
                    })
            })
    }

    /// Decodes the space-separated storage form. Unknown names (from a
    /// newer or older catalog) are dropped rather than granted. A built-in
    /// role is stored as its name after `@` ([`BuiltInRole::storage`]) and
    /// decodes to this build's [`BuiltInRole::permissions`], so a new
    /// permission given to a built-in role needs no migration.
    pub fn from_storage(stored: &str) -> PermissionSet {
        stored
            .split_ascii_whitespace()
            .fold(PermissionSet::EMPTY, |set, name| {
                match name.strip_prefix('@') {
                    Some(role) => BuiltInRole::from_name(role)
                        .map_or(set, |role| set.union(role.permissions())),
                    None => Permission::from_name(name).map_or(set, |p| set.with(p)),
                }
            })
    }

    /// The space-separated storage form, in catalog order.
    pub fn to_storage(self) -> String {
        self.names().join(" ")
    }

    /// This set plus one permission.
    pub const fn with(self, permission: Permission) -> PermissionSet {
        PermissionSet(self.0 | permission.bit())
    }

    /// Whether the set holds `permission`.
    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `self` is also in `other`.
    pub const fn is_subset_of(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The permissions in both sets.
    pub const fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    /// The permissions of `self` that are not in `other`.
    pub const fn without(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }

    /// The permissions in either set.
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions of `self` that `other` lacks, in catalog order.
    pub fn missing_from(self, other: PermissionSet) -> Vec<Permission> {
        PermissionSet(self.0 & !other.0).iter().collect()
    }

    /// The permissions in catalog order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// The wire names in catalog order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::name).collect()
    }
}

/// What a project-restricted credential may still use (docs/DESIGN.md §3.6: it is a
/// project-level credential): its projects, their SBOMs and publishers,
/// and tokens within its projects. Everything else is organization-wide.
pub const PROJECT_LEVEL: PermissionSet = PermissionSet::of(&[
    Permission::ProjectsRead,
    Permission::ProjectsWrite,
    Permission::ProjectsDelete,
    Permission::SbomsRead,
    Permission::SbomsWrite,
    Permission::SbomsDelete,
    Permission::TokensRead,
    Permission::TokensWrite,
]);

/// What managing tokens needs: a secret in its rotation grace may not use
/// it (docs/DESIGN.md §3.4).
pub const TOKEN_MANAGEMENT: PermissionSet = PermissionSet::of(&[Permission::TokensWrite]);

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// The no-escalation rule (docs/DESIGN.md §3.3): what a caller grants must be a subset
/// of what it holds. On failure, names the permissions it lacks.
pub fn check_no_escalation(
    granted: PermissionSet,
    held: PermissionSet,
) -> Result<(), Vec<Permission>> {
    if granted.is_subset_of(held) {
        Ok(())
    } else {
        Err(granted.missing_from(held))
    }
}

/// The four roles every organization has. They cannot be changed or deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltInRole {
    Admin,
    Editor,
    Uploader,
    Viewer,
}

impl BuiltInRole {
    /// All built-in roles, most powerful first.
    pub const ALL: [BuiltInRole; 4] = [
        BuiltInRole::Admin,
        BuiltInRole::Editor,
        BuiltInRole::Uploader,
        BuiltInRole::Viewer,
    ];

    /// The role's name in every organization.
    pub const fn name(self) -> &'static str {
        match self {
            BuiltInRole::Admin => "admin",
            BuiltInRole::Editor => "editor",
            BuiltInRole::Uploader => "uploader",
            BuiltInRole::Viewer => "viewer",
        }
    }

    /// The built-in role named `name`.
    pub fn from_name(name: &str) -> Option<BuiltInRole> {
        BuiltInRole::ALL
            .into_iter()
            .find(|role| role.name() == name)
    }

    /// The stored form of the role's permissions, `@<name>`: decoded by
    /// [`PermissionSet::from_storage`] to what this build grants the role.
    pub fn storage(self) -> String {
        format!("@{}", self.name())
    }

    /// A one-line description shown with the role.
    pub const fn description(self) -> &'static str {
        match self {
            BuiltInRole::Admin => "Full control of the organization",
            BuiltInRole::Editor => "Manage projects and SBOMs; read members and roles",
            BuiltInRole::Uploader => "Upload and read SBOMs (for CI pipelines)",
            BuiltInRole::Viewer => "Read members, roles, projects and SBOMs",
        }
    }

    /// The role's permissions (docs/DESIGN.md §3.2).
    pub const fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            BuiltInRole::Admin => PermissionSet::all(),
            BuiltInRole::Editor => PermissionSet::of(&[
                MembersRead,
                RolesRead,
                ProjectsRead,
                ProjectsWrite,
                ProjectsDelete,
                SbomsRead,
                SbomsWrite,
                SbomsDelete,
            ]),
            BuiltInRole::Uploader => PermissionSet::of(&[ProjectsRead, SbomsRead, SbomsWrite]),
            BuiltInRole::Viewer => {
                PermissionSet::of(&[MembersRead, RolesRead, ProjectsRead, SbomsRead])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        let mut names = Permission::ALL.map(Permission::name).to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
    }

    #[test]
    fn parse_rejects_unknown_names_and_lists_the_valid_ones() {
        let err = PermissionSet::parse(["members:read", "members:delete"]).unwrap_err();
        assert_eq!(err.name, "members:delete");
        let message = err.to_string();
        assert!(message.starts_with("unknown permission `members:delete`; valid permissions are: organization:write, members:read"));
        assert!(message.ends_with("sboms:delete, webhooks:read, webhooks:write"));
    }

    #[test]
    fn storage_round_trips_in_catalog_order() {
        let set = PermissionSet::parse(["sboms:write", "projects:read"]).unwrap();
        assert_eq!(set.to_storage(), "projects:read sboms:write");
        assert_eq!(PermissionSet::from_storage(&set.to_storage()), set);
        assert_eq!(
            PermissionSet::from_storage("projects:read bogus:thing"),
            PermissionSet::of(&[Permission::ProjectsRead])
        );
        assert_eq!(PermissionSet::from_storage(""), PermissionSet::EMPTY);
    }

    #[test]
    fn subset_and_intersection() {
        let uploader = BuiltInRole::Uploader.permissions();
        let editor = BuiltInRole::Editor.permissions();
        assert!(uploader.is_subset_of(editor));
        assert!(!editor.is_subset_of(uploader));
        assert!(PermissionSet::EMPTY.is_subset_of(uploader));
        assert_eq!(editor.intersection(uploader), uploader);
        assert_eq!(
            editor.missing_from(uploader),
            vec![
                Permission::MembersRead,
                Permission::RolesRead,
                Permission::ProjectsWrite,
                Permission::ProjectsDelete,
                Permission::SbomsDelete
            ]
        );
    }

    #[test]
    fn no_escalation_names_what_is_missing() {
        let viewer = BuiltInRole::Viewer.permissions();
        assert_eq!(check_no_escalation(viewer, PermissionSet::all()), Ok(()));
        assert_eq!(
            check_no_escalation(PermissionSet::of(&[Permission::TokensWrite]), viewer),
            Err(vec![Permission::TokensWrite])
        );
    }

    #[test]
    fn every_permission_has_a_bit_of_its_own() {
        let mut seen = PermissionSet::EMPTY;
        for p in Permission::ALL {
            assert!(
                !seen.contains(p),
                "{p} shares a bit with another permission"
            );
            seen = seen.with(p);
        }
        assert_eq!(seen, PermissionSet::all());
        assert_eq!(seen.names().len(), Permission::ALL.len());
    }

    #[test]
    fn a_built_in_role_is_stored_by_name_and_decodes_to_this_builds_permissions() {
        for role in BuiltInRole::ALL {
            assert_eq!(role.storage(), format!("@{}", role.name()));
            assert_eq!(BuiltInRole::from_name(role.name()), Some(role));
            assert_eq!(
                PermissionSet::from_storage(&role.storage()),
                role.permissions()
            );
        }
        // An admin stored before a permission existed holds it now.
        assert_eq!(PermissionSet::from_storage("@admin"), PermissionSet::all());
        // A name this build does not know grants nothing.
        assert_eq!(PermissionSet::from_storage("@owner"), PermissionSet::EMPTY);
        assert_eq!(
            PermissionSet::from_storage("@nobody sboms:read"),
            PermissionSet::of(&[Permission::SbomsRead])
        );
    }

    #[test]
    fn built_in_roles_match_the_design() {
        assert_eq!(BuiltInRole::Admin.permissions(), PermissionSet::all());
        assert_eq!(
            BuiltInRole::Editor.permissions().names(),
            [
                "members:read",
                "roles:read",
                "projects:read",
                "projects:write",
                "projects:delete",
                "sboms:read",
                "sboms:write",
                "sboms:delete"
            ]
        );
        assert_eq!(
            BuiltInRole::Uploader.permissions().names(),
            ["projects:read", "sboms:read", "sboms:write"]
        );
        assert_eq!(
            BuiltInRole::Viewer.permissions().names(),
            ["members:read", "roles:read", "projects:read", "sboms:read"]
        );
    }
}
