//! Tenancy in one place: loading a row by id within the caller's
//! organization. An id from another organization, or of a project a
//! restricted token does not reach, answers `NOT_FOUND` exactly as an
//! unknown id does, so existence never leaks (docs/DESIGN.md §3.6).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PrimaryKeyTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    auth::Principal,
    entity::{invitation, project, role, sbom, trusted_publisher, webhook},
    error::Error,
};

/// A table whose rows each belong to one organization.
pub trait OrganizationScoped: EntityTrait {
    /// What a `NOT_FOUND` calls a row.
    const NAME: &'static str;
    /// The column naming the row's organization.
    const ORGANIZATION: Self::Column;

    /// The project a row belongs to, when it is project data: a token
    /// restricted to other projects does not see it.
    fn project_of(_model: &Self::Model) -> Option<Uuid> {
        None
    }
}

impl OrganizationScoped for role::Entity {
    const NAME: &'static str = "role";
    const ORGANIZATION: role::Column = role::Column::OrganizationId;
}

impl OrganizationScoped for invitation::Entity {
    const NAME: &'static str = "invitation";
    const ORGANIZATION: invitation::Column = invitation::Column::OrganizationId;
}

impl OrganizationScoped for project::Entity {
    const NAME: &'static str = "project";
    const ORGANIZATION: project::Column = project::Column::OrganizationId;

    fn project_of(model: &project::Model) -> Option<Uuid> {
        Some(model.id)
    }
}

impl OrganizationScoped for sbom::Entity {
    const NAME: &'static str = "sbom";
    const ORGANIZATION: sbom::Column = sbom::Column::OrganizationId;

    fn project_of(model: &sbom::Model) -> Option<Uuid> {
        Some(model.project_id)
    }
}

impl OrganizationScoped for trusted_publisher::Entity {
    const NAME: &'static str = "trusted publisher";
    const ORGANIZATION: trusted_publisher::Column = trusted_publisher::Column::OrganizationId;

    fn project_of(model: &trusted_publisher::Model) -> Option<Uuid> {
        Some(model.project_id)
    }
}

impl OrganizationScoped for webhook::Entity {
    const NAME: &'static str = "webhook";
    const ORGANIZATION: webhook::Column = webhook::Column::OrganizationId;
}

/// Loads the row `id` of `organization_id`; any other is `NOT_FOUND`.
pub async fn find_in_organization<E>(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    id: Uuid,
) -> Result<E::Model, Error>
where
    E: OrganizationScoped,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    E::find_by_id(id)
        .filter(E::ORGANIZATION.eq(organization_id))
        .one(conn)
        .await?
        .ok_or(Error::NotFound(E::NAME))
}

/// Loads the row `id` the caller reaches: in its organization and, for
/// project data, in a project it reaches. Anything else is `NOT_FOUND`.
pub async fn find_reachable<E>(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<E::Model, Error>
where
    E: OrganizationScoped,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    let model = find_in_organization::<E>(conn, principal.organization_id(), id).await?;
    match E::project_of(&model) {
        Some(project) if !principal.projects.allows(project) => Err(Error::NotFound(E::NAME)),
        _ => Ok(model),
    }
}
