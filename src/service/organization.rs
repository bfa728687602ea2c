//! Organizations: creating one with its built-in roles and first admin,
//! and changing its name or token policy.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set,
};
use uuid::Uuid;

use crate::{
    auth::BuiltInRole,
    database,
    entity::{organization, role},
    error::Error,
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        member, policy, validate,
    },
};

/// The maximum personal-token lifetime of a new organization.
pub const DEFAULT_MAX_TOKEN_LIFETIME_DAYS: i32 = 366;

/// `createOrganization`: a new organization whose admin is the signed-in
/// user (a session only).
pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    name: &str,
) -> Result<organization::Model, Error> {
    let user_id = caller
        .principal
        .require_session("creating an organization needs a session")?;
    let name = validate::name("name", name)?;
    let txn = database::begin_write(db).await?;
    let org = create_in(&txn, name, user_id, &caller.actor, Utc::now()).await?;
    txn.commit().await?;
    Ok(org)
}

/// Inside the caller's transaction: inserts an organization named `name`
/// (already validated), seeds the four built-in roles, makes
/// `admin_user_id` its admin and records `organization.created`.
pub async fn create_in(
    conn: &impl ConnectionTrait,
    name: String,
    admin_user_id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<organization::Model, Error> {
    let organization = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        max_token_lifetime_days: Set(DEFAULT_MAX_TOKEN_LIFETIME_DAYS),
        created_at: Set(now),
        max_service_token_lifetime_days: Set(None),
        require_service_token_expiry: Set(false),
        revoke_unused_after_days: Set(None),
    }
    .insert(conn)
    .await?;
    let mut admin_role_id = None;
    for built_in in BuiltInRole::ALL {
        let id = Uuid::now_v7();
        if built_in == BuiltInRole::Admin {
            admin_role_id = Some(id);
        }
        role::ActiveModel {
            id: Set(id),
            organization_id: Set(organization.id),
            name: Set(built_in.name().to_owned()),
            description: Set(built_in.description().to_owned()),
            permissions: Set(built_in.storage()),
            built_in: Set(true),
            created_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    let admin_role_id = admin_role_id.ok_or_else(|| Error::internal("admin role not seeded"))?;
    member::add(conn, organization.id, admin_user_id, admin_role_id, now).await?;
    audit::record(
        conn,
        AuditRecord::new(
            organization.id,
            AuditAction::OrganizationCreated,
            actor,
            organization.id,
        ),
        now,
    )
    .await?;
    Ok(organization)
}

/// What `updateOrganization` changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub max_token_lifetime_days: Option<i32>,
}

/// `updateOrganization`: renames the caller's organization or sets its
/// token policy.
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    changes: OrganizationChanges,
) -> Result<organization::Model, Error> {
    let name = changes
        .name
        .map(|n| validate::name("name", &n))
        .transpose()?;
    if let Some(days) = changes.max_token_lifetime_days {
        policy::check_policy_days(days)?;
    }
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let current = organization::Entity::find_by_id(caller.organization_id())
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let mut active = current.into_active_model();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(days) = changes.max_token_lifetime_days {
        active.max_token_lifetime_days = Set(days);
    }
    let org = active.update(&txn).await?;
    caller
        .audit(&txn, AuditAction::OrganizationUpdated, org.id, now)
        .await?;
    txn.commit().await?;
    Ok(org)
}
