//! The `Organization` type and the `organization` / `organizations` queries.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, connection::Connection};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{
    context::{ContextExt, PermissionGuard},
    pagination::Page,
    role::Role,
    token::{Token, TokenKind, TokenStatus},
};
use crate::{
    auth::{Permission, principal::OrganizationSnapshot},
    entity::{membership, organization, role, token},
    error::Error,
};

/// A tenant: members, roles, tokens and data live inside one.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Organization {
    #[graphql(skip)]
    pub uuid: Uuid,
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The longest a personal token may live, in days.
    pub max_token_lifetime_days: i32,
}

impl From<OrganizationSnapshot> for Organization {
    fn from(org: OrganizationSnapshot) -> Self {
        Organization {
            uuid: org.id,
            id: ID(org.id.to_string()),
            name: org.name,
            created_at: org.created_at,
            max_token_lifetime_days: org.max_token_lifetime_days,
        }
    }
}

impl From<organization::Model> for Organization {
    fn from(org: organization::Model) -> Self {
        Organization {
            uuid: org.id,
            id: ID(org.id.to_string()),
            name: org.name,
            created_at: org.created_at,
            max_token_lifetime_days: org.max_token_lifetime_days,
        }
    }
}

impl Organization {
    /// Fields of another organization are reachable only through
    /// `organizations`; protected fields are answered for the one the
    /// credential acts in, never for another.
    fn ensure_acting_in(&self, ctx: &Context<'_>) -> Result<(), Error> {
        if ctx.principal()?.organization_id() == self.uuid {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "select this organization with the X-Organization-ID header to read it".into(),
            ))
        }
    }
}

#[ComplexObject]
impl Organization {
    /// Built-in and custom roles.
    #[graphql(guard = "PermissionGuard(Permission::RolesRead)")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>, Error> {
        self.ensure_acting_in(ctx)?;
        let roles = role::Entity::find()
            .filter(role::Column::OrganizationId.eq(self.uuid))
            .order_by_asc(role::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(roles.into_iter().map(Role).collect())
    }

    /// Every token of the organization (sessions are per user and listed
    /// under `viewer.personalTokens` only).
    #[graphql(guard = "PermissionGuard(Permission::TokensRead)")]
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<TokenKind>,
        status: Option<TokenStatus>,
    ) -> Result<Connection<String, Token>, Error> {
        self.ensure_acting_in(ctx)?;
        let page = Page::new(first, after)?;
        let mut select = token::Entity::find().filter(token::Column::OrganizationId.eq(self.uuid));
        if let Some(kind) = kind {
            select = select.filter(token::Column::Kind.eq(kind.as_stored()));
        }
        if let Some(status) = status {
            select = select.filter(status_condition(status, Utc::now()));
        }
        let rows = page.apply(select, token::Column::Id).all(ctx.db()?).await?;
        let org = self.uuid;
        Ok(page.connection(rows, |t| t.id, |t| Token::new(t, org)))
    }
}

/// The SQL condition for a token status at `now`.
pub fn status_condition(status: TokenStatus, now: DateTime<Utc>) -> Condition {
    match status {
        TokenStatus::Revoked => Condition::all().add(token::Column::RevokedAt.is_not_null()),
        TokenStatus::Expired => Condition::all()
            .add(token::Column::RevokedAt.is_null())
            .add(token::Column::ExpiresAt.lte(now)),
        TokenStatus::Active => Condition::all()
            .add(token::Column::RevokedAt.is_null())
            .add(
                Condition::any()
                    .add(token::Column::ExpiresAt.is_null())
                    .add(token::Column::ExpiresAt.gt(now)),
            ),
    }
}

/// `organization`, `organizations`.
#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// The organization the credential acts in. Needs no permission: every
    /// valid credential may run `query { organization { id name } }`.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization, Error> {
        Ok(ctx.principal()?.organization.clone().into())
    }

    /// Every organization the user belongs to; for a service token, its own.
    async fn organizations(&self, ctx: &Context<'_>) -> Result<Vec<Organization>, Error> {
        let principal = ctx.principal()?;
        let Some(user_id) = principal.user_id else {
            return Ok(vec![principal.organization.clone().into()]);
        };
        let db = ctx.db()?;
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::JoinedAt)
            .all(db)
            .await?;
        let mut organizations = organization::Entity::find()
            .filter(organization::Column::Id.is_in(memberships.iter().map(|m| m.organization_id)))
            .all(db)
            .await?;
        // Oldest membership first, as the default organization of a session.
        organizations
            .sort_by_key(|org| memberships.iter().position(|m| m.organization_id == org.id));
        Ok(organizations.into_iter().map(Organization::from).collect())
    }
}
