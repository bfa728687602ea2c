//! Which objects a caller may be handed (docs/DESIGN.md §3.6: authorization belongs
//! to the object, not to the path). Each rule answers exactly what the
//! object's by-id query answers for that caller (`project(id)`,
//! `sbom(id)`, `token(id)`), so a nested field that leads to an object
//! can never show more than asking for it directly. Pure: the GraphQL
//! types build their objects only through these (`auth::reach`).

use uuid::Uuid;

use super::{
    Permission, Principal,
    token_access::{TokenAction, TokenFacts, check_token_action},
};
use crate::error::Error;

/// Tenancy and project reach: `NOT_FOUND` (named `what`) unless the row
/// of `organization_id` lies in the viewer's organization and, for
/// project data, in a project it reaches.
fn within(
    viewer: &Principal,
    organization_id: Uuid,
    project_id: Option<Uuid>,
    what: &'static str,
) -> Result<(), Error> {
    let reached = organization_id == viewer.organization_id()
        && project_id.is_none_or(|project| viewer.projects.allows(project));
    if reached {
        Ok(())
    } else {
        Err(Error::NotFound(what))
    }
}

/// A project, as `project(id)` answers: in the viewer's organization, a
/// project it reaches, and `projects:read`.
pub fn project(viewer: &Principal, organization_id: Uuid, project_id: Uuid) -> Result<(), Error> {
    within(viewer, organization_id, Some(project_id), "project")?;
    viewer.require(Permission::ProjectsRead)
}

/// An SBOM, as `sbom(id)` answers: in a project the viewer reaches, and
/// `sboms:read`.
pub fn sbom(viewer: &Principal, organization_id: Uuid, project_id: Uuid) -> Result<(), Error> {
    within(viewer, organization_id, Some(project_id), "sbom")?;
    viewer.require(Permission::SbomsRead)
}

/// A trusted publisher, as `Project.trustedPublishers` answers: of a
/// project the viewer reaches, and `tokens:read`.
pub fn trusted_publisher(
    viewer: &Principal,
    organization_id: Uuid,
    project_id: Uuid,
) -> Result<(), Error> {
    within(
        viewer,
        organization_id,
        Some(project_id),
        "trusted publisher",
    )?;
    viewer.require(Permission::TokensRead)
}

/// A token, as `token(id)` answers (see [`check_token_action`]).
pub fn token(viewer: &Principal, token: &TokenFacts) -> Result<(), Error> {
    check_token_action(viewer, token, TokenAction::Read)
}

/// Something the viewer has just written (a mutation's own payload):
/// tenancy and project reach only, since a caller that may write an
/// object may see what it wrote even without the read permission. Its
/// nested fields still apply their own rules.
pub fn written(
    viewer: &Principal,
    organization_id: Uuid,
    project_id: Option<Uuid>,
    what: &'static str,
) -> Result<(), Error> {
    within(viewer, organization_id, project_id, what)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::auth::{
        CredentialKind, PermissionSet, principal::OrganizationSnapshot, project_scope::ProjectScope,
    };

    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);
    const A: Uuid = Uuid::from_u128(10);
    const B: Uuid = Uuid::from_u128(11);

    fn viewer(permissions: PermissionSet, projects: ProjectScope) -> Principal {
        Principal {
            kind: CredentialKind::Service,
            token_id: Uuid::from_u128(100),
            user_id: None,
            organization: OrganizationSnapshot {
                id: ORG,
                name: "Acme".into(),
                created_at: Utc::now(),
                max_token_lifetime_days: 366,
            },
            role_id: Uuid::from_u128(200),
            permissions,
            withheld: Default::default(),
            projects,
            last_used_at: None,
            last_used_ips: None,
            parent_id: None,
            in_grace: false,
            addresses: None,
            parent_addresses: None,
            used: Default::default(),
        }
    }

    fn code(result: Result<(), Error>) -> &'static str {
        result.err().map_or("OK", |e| e.code())
    }

    #[test]
    fn project_data_is_reached_only_in_the_viewers_projects_and_organization() {
        let restricted = viewer(PermissionSet::all(), ProjectScope::Only(vec![A]));
        assert_eq!(code(project(&restricted, ORG, A)), "OK");
        assert_eq!(code(project(&restricted, ORG, B)), "NOT_FOUND");
        assert_eq!(code(project(&restricted, OTHER_ORG, A)), "NOT_FOUND");
        assert_eq!(code(sbom(&restricted, ORG, B)), "NOT_FOUND");
        assert_eq!(code(trusted_publisher(&restricted, ORG, B)), "NOT_FOUND");
        assert_eq!(
            code(written(&restricted, ORG, Some(B), "sbom")),
            "NOT_FOUND"
        );
        let reader = viewer(
            PermissionSet::of(&[Permission::ProjectsRead]),
            ProjectScope::All,
        );
        assert_eq!(code(project(&reader, ORG, B)), "OK");
        assert_eq!(code(sbom(&reader, ORG, B)), "FORBIDDEN");
        assert_eq!(code(trusted_publisher(&reader, ORG, B)), "FORBIDDEN");
        assert_eq!(code(written(&reader, ORG, Some(B), "sbom")), "OK");
    }
}
