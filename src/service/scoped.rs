//! Tenancy in one place: loading a row by id within the caller's
//! organization, and listing the rows a caller may list. An id from
//! another organization, or of a project a restricted token does not
//! reach, answers `NOT_FOUND` exactly as an unknown id does, so existence
//! never leaks (docs/DESIGN.md §3.6); a list holds neither.

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait,
    IntoActiveModel, ModelTrait, PrimaryKeyTrait, QueryFilter, QuerySelect, Select,
};
use uuid::Uuid;

use crate::{
    auth::Principal,
    entity::{
        audit_event, invitation, membership, project, role, sbom, token, trusted_publisher,
        webhook, webhook_delivery,
    },
    error::Error,
};

/// A table whose rows each belong to one organization.
pub trait OrganizationScoped: EntityTrait {
    /// What a `NOT_FOUND` calls a row.
    const NAME: &'static str;
    /// The column naming the row's organization.
    const ORGANIZATION: Self::Column;
    /// The column naming the row's project, when it is project data.
    const PROJECT: Option<Self::Column> = None;

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
    const PROJECT: Option<project::Column> = Some(project::Column::Id);

    fn project_of(model: &project::Model) -> Option<Uuid> {
        Some(model.id)
    }
}

impl OrganizationScoped for sbom::Entity {
    const NAME: &'static str = "sbom";
    const ORGANIZATION: sbom::Column = sbom::Column::OrganizationId;
    const PROJECT: Option<sbom::Column> = Some(sbom::Column::ProjectId);

    fn project_of(model: &sbom::Model) -> Option<Uuid> {
        Some(model.project_id)
    }
}

impl OrganizationScoped for trusted_publisher::Entity {
    const NAME: &'static str = "trusted publisher";
    const ORGANIZATION: trusted_publisher::Column = trusted_publisher::Column::OrganizationId;
    const PROJECT: Option<trusted_publisher::Column> = Some(trusted_publisher::Column::ProjectId);

    fn project_of(model: &trusted_publisher::Model) -> Option<Uuid> {
        Some(model.project_id)
    }
}

impl OrganizationScoped for webhook::Entity {
    const NAME: &'static str = "webhook";
    const ORGANIZATION: webhook::Column = webhook::Column::OrganizationId;
}

impl OrganizationScoped for webhook_delivery::Entity {
    const NAME: &'static str = "webhook delivery";
    const ORGANIZATION: webhook_delivery::Column = webhook_delivery::Column::OrganizationId;
}

impl OrganizationScoped for membership::Entity {
    const NAME: &'static str = "member";
    const ORGANIZATION: membership::Column = membership::Column::OrganizationId;
}

impl OrganizationScoped for audit_event::Entity {
    const NAME: &'static str = "audit event";
    const ORGANIZATION: audit_event::Column = audit_event::Column::OrganizationId;
}

impl OrganizationScoped for token::Entity {
    const NAME: &'static str = "token";
    const ORGANIZATION: token::Column = token::Column::OrganizationId;
}

/// The rows of `E` the caller may list: of the organization it acts in
/// and, of project data, only those of the projects it reaches. Taken
/// from the caller, never from the path that led to the list, so no list
/// can be read across tenants. Every list read starts here, then adds its
/// own filters.
pub fn list_reachable<E: OrganizationScoped>(caller: &Principal) -> Select<E> {
    let select = E::find().filter(E::ORGANIZATION.eq(caller.organization_id()));
    match (E::PROJECT, caller.projects.ids()) {
        (Some(column), Some(ids)) => select.filter(column.is_in(ids.iter().copied())),
        _ => select,
    }
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

/// How [`hold_reachable`] holds a row until its transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// For a write that points at the row (an SBOM at its project, a
    /// delivery at its webhook): others may do the same meanwhile.
    Shared,
    /// For a change of the row itself: one at a time.
    Exclusive,
}

/// [`find_reachable`], holding the row until the transaction `conn` ends.
/// On PostgreSQL a row lock: a deletion committed first makes this
/// `NOT_FOUND`, one that comes after waits and then takes the write along;
/// without it, the write would point at (or change) a row deleted
/// meanwhile and fail on its foreign key or its row count, a 500. SQLite's
/// write lock, taken at `BEGIN`, already holds every row.
pub async fn hold_reachable<E>(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
    hold: Hold,
) -> Result<E::Model, Error>
where
    E: OrganizationScoped,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    let select = E::find_by_id(id).filter(E::ORGANIZATION.eq(principal.organization_id()));
    let select = match hold {
        Hold::Shared => select.lock_shared(),
        Hold::Exclusive => select.lock_exclusive(),
    };
    let model = select.one(conn).await?.ok_or(Error::NotFound(E::NAME))?;
    match E::project_of(&model) {
        Some(project) if !principal.projects.allows(project) => Err(Error::NotFound(E::NAME)),
        _ => Ok(model),
    }
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

/// Deletes the row a request found, or answers `NOT_FOUND` when it is gone
/// by then: PostgreSQL does not serialize two deletions of one row, and
/// without this check both would go on (to audit, to announce) as if each
/// had deleted it. Of concurrent deletions, exactly one succeeds.
pub async fn delete_found<'a, E, A>(
    conn: &'a impl ConnectionTrait,
    model: E::Model,
) -> Result<(), Error>
where
    E: OrganizationScoped,
    E::Model: IntoActiveModel<A>,
    A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send + 'a,
{
    let deleted = model.delete(conn).await?;
    if deleted.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::NotFound(E::NAME))
    }
}
