//! Creating organizations, with their built-in roles.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::{
    auth::BuiltInRole,
    entity::{membership, organization, role},
    error::Error,
};

/// The maximum personal-token lifetime of a new organization.
pub const DEFAULT_MAX_TOKEN_LIFETIME_DAYS: i32 = 366;

/// A new organization and the id of its `admin` role.
pub struct CreatedOrganization {
    pub organization: organization::Model,
    pub admin_role_id: Uuid,
}

/// Inserts an organization and seeds the four built-in roles.
pub async fn create(
    conn: &impl ConnectionTrait,
    name: String,
    now: DateTime<Utc>,
) -> Result<CreatedOrganization, Error> {
    let organization = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        max_token_lifetime_days: Set(DEFAULT_MAX_TOKEN_LIFETIME_DAYS),
        created_at: Set(now),
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
            permissions: Set(built_in.permissions().to_storage()),
            built_in: Set(true),
            created_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    let admin_role_id = admin_role_id.ok_or_else(|| Error::internal("admin role not seeded"))?;
    Ok(CreatedOrganization {
        organization,
        admin_role_id,
    })
}

/// Adds `user_id` to an organization with `role_id`.
pub async fn add_member(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
    role_id: Uuid,
    now: DateTime<Utc>,
) -> Result<membership::Model, Error> {
    Ok(membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        user_id: Set(user_id),
        role_id: Set(role_id),
        joined_at: Set(now),
    }
    .insert(conn)
    .await?)
}
