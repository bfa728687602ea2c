//! The `Organization` type and the `organization` / `organizations` queries.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, connection::Connection};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub use crate::service::token_filter::name_condition;

use super::{
    audit::AuditEvent,
    context::{ContextExt, PermissionGuard},
    limits::{count_resolved, list_complexity},
    member::{Invitation, Member},
    pagination::{ListOrder, Page, connection_complexity},
    project::Project,
    role::Role,
    scalar::Timestamp,
    token::{Token, TokenKind, TokenStatus},
    token_policy::{self, TokenPolicy},
    webhook::{Webhook, webhooks_of},
};
use crate::{
    auth::{CredentialKind, Permission, principal::OrganizationSnapshot},
    entity::{audit_event, invitation, membership, organization, project, role, token},
    error::Error,
    service::{
        invitation::{self as invitation_service, MAX_PENDING_INVITATIONS},
        member::MAX_ORGANIZATIONS_PER_USER,
        organization::{self as org_service, OrganizationChanges},
        role::MAX_ROLES,
        scoped::list_reachable,
        token::not_revoked_at,
        webhook::MAX_WEBHOOKS,
    },
};

/// A tenant: members, roles, tokens and data live inside one.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Organization {
    #[graphql(skip)]
    pub uuid: Uuid,
    pub id: ID,
    pub name: String,
    pub created_at: Timestamp,
    /// The longest a personal token may live, in days.
    pub max_token_lifetime_days: i32,
}

impl From<OrganizationSnapshot> for Organization {
    fn from(org: OrganizationSnapshot) -> Self {
        Organization {
            uuid: org.id,
            id: ID(org.id.to_string()),
            name: org.name,
            created_at: org.created_at.into(),
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
            created_at: org.created_at.into(),
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
    /// Members with their roles, oldest first.
    #[graphql(
        guard = "PermissionGuard(Permission::MembersRead)",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, Member>>, Error> {
        self.ensure_acting_in(ctx)?;
        let page = Page::new(first, after)?;
        let select = list_reachable::<membership::Entity>(&*ctx.viewer()?);
        let rows = page
            .apply(select, membership::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(Some(page.connection(
            ctx,
            rows,
            |m| m.id,
            |membership| Member { membership },
        )?))
    }

    /// Pending invitations (not accepted, withdrawn or expired).
    #[graphql(
        guard = "PermissionGuard(Permission::MembersRead)",
        complexity = "list_complexity(MAX_PENDING_INVITATIONS, child_complexity)"
    )]
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Option<Vec<Invitation>>, Error> {
        self.ensure_acting_in(ctx)?;
        let rows = invitation_service::pending(self.uuid, Utc::now())
            .order_by_asc(invitation::Column::Id)
            .all(ctx.db()?)
            .await?;
        count_resolved(ctx, rows.len())?;
        Ok(Some(rows.into_iter().map(Invitation).collect()))
    }

    /// The audit log, newest first; `action` filters, e.g. `token.revoked`.
    #[graphql(
        guard = "PermissionGuard(Permission::AuditRead)",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        action: Option<String>,
    ) -> Result<Option<Connection<String, AuditEvent>>, Error> {
        self.ensure_acting_in(ctx)?;
        let page = Page::new(first, after)?;
        let mut select = list_reachable::<audit_event::Entity>(&*ctx.viewer()?);
        if let Some(action) = action {
            select = select.filter(audit_event::Column::Action.eq(action));
        }
        let rows = page
            .apply_newest_first(select, audit_event::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(Some(page.connection(
            ctx,
            rows,
            |e| e.id,
            |model| AuditEvent { model },
        )?))
    }

    /// The organization's projects, oldest first.
    #[graphql(
        guard = "PermissionGuard(Permission::ProjectsRead)",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<Connection<String, Project>>, Error> {
        self.ensure_acting_in(ctx)?;
        let page = Page::new(first, after)?;
        let viewer = ctx.viewer()?;
        // A token restricted to projects sees only those.
        let select = list_reachable::<project::Entity>(&viewer);
        let rows = page
            .apply(select, project::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(Some(page.connection_of_reached(
            ctx,
            rows,
            |p| p.id,
            |p| Project::reached(&viewer, p),
        )?))
    }

    /// Built-in and custom roles.
    #[graphql(
        guard = "PermissionGuard(Permission::RolesRead)",
        complexity = "list_complexity(MAX_ROLES, child_complexity)"
    )]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Option<Vec<Role>>, Error> {
        self.ensure_acting_in(ctx)?;
        let roles = list_reachable::<role::Entity>(&*ctx.viewer()?)
            .order_by_asc(role::Column::Id)
            .all(ctx.db()?)
            .await?;
        count_resolved(ctx, roles.len())?;
        Ok(Some(roles.into_iter().map(Role).collect()))
    }

    /// Every token of the organization (sessions are per user and listed
    /// under `viewer.personalTokens` only).
    #[graphql(
        guard = "PermissionGuard(Permission::TokensRead)",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one parameter per argument of the GraphQL field"
    )]
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<TokenKind>,
        status: Option<TokenStatus>,
        #[graphql(desc = "Only tokens whose name contains this text, in any case.")]
        name_contains: Option<String>,
        #[graphql(desc = "By creation: `OLDEST_FIRST` (the default) or `NEWEST_FIRST`.")]
        order: Option<ListOrder>,
    ) -> Result<Option<Connection<String, Token>>, Error> {
        self.ensure_acting_in(ctx)?;
        let page = Page::new(first, after)?;
        let name_filter = name_contains.as_deref().map(name_condition).transpose()?;
        let mut select = list_reachable::<token::Entity>(&*ctx.viewer()?)
            .filter(token::Column::Kind.ne(CredentialKind::Session));
        if let Some(kind) = kind {
            select = select.filter(token::Column::Kind.eq(CredentialKind::from(kind)));
        }
        if let Some(status) = status {
            select = select.filter(status_condition(status, Utc::now()));
        }
        if let Some(name_filter) = name_filter {
            select = select.filter(name_filter);
        }
        let viewer = ctx.viewer()?;
        if !viewer.projects.is_all() {
            // An unrestricted token never lies within a restriction; the
            // reach check below leaves out the rest.
            select = select.filter(token::Column::ProjectIds.is_not_null());
        }
        let rows = page
            .apply_in(order.unwrap_or_default(), select, token::Column::Id)
            .all(ctx.db()?)
            .await?;
        Ok(Some(page.connection_of_reached(
            ctx,
            rows,
            |t| t.id,
            |t| Token::reached(&viewer, t),
        )?))
    }

    /// The organization's token policy: what every member creating a
    /// token is held to.
    async fn token_policy(&self, ctx: &Context<'_>) -> Result<TokenPolicy, Error> {
        self.ensure_acting_in(ctx)?;
        token_policy::policy_of(ctx, self.uuid).await
    }

    /// The organization's webhooks, oldest first (needs `webhooks:read`).
    #[graphql(
        guard = "PermissionGuard(Permission::WebhooksRead)",
        complexity = "list_complexity(MAX_WEBHOOKS, child_complexity)"
    )]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Option<Vec<Webhook>>, Error> {
        self.ensure_acting_in(ctx)?;
        webhooks_of(ctx, self.uuid).await.map(Some)
    }
}

/// The SQL condition for a token status at `now`.
pub fn status_condition(status: TokenStatus, now: DateTime<Utc>) -> Condition {
    match status {
        TokenStatus::Revoked => Condition::all().add(token::Column::RevokedAt.lte(now)),
        TokenStatus::Expired => Condition::all()
            .add(not_revoked_at(now))
            .add(token::Column::ExpiresAt.lte(now)),
        TokenStatus::Active => Condition::all().add(not_revoked_at(now)).add(
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

    /// With a session, every organization the user belongs to; for a
    /// personal or service token, its own only.
    #[graphql(complexity = "list_complexity(MAX_ORGANIZATIONS_PER_USER, child_complexity)")]
    async fn organizations(&self, ctx: &Context<'_>) -> Result<Vec<Organization>, Error> {
        let principal = ctx.principal()?;
        // A child of a session is pinned to one organization, like a token.
        let Some(user_id) = principal.session_user() else {
            count_resolved(ctx, 1)?;
            return Ok(vec![principal.organization.clone().into()]);
        };
        let db = ctx.db()?;
        // Limited as well as capped where memberships are added, since
        // joining two organizations at once can pass the cap.
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::JoinedAt)
            .limit(MAX_ORGANIZATIONS_PER_USER)
            .all(db)
            .await?;
        count_resolved(ctx, memberships.len())?;
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

/// `createOrganization`, `updateOrganization`.
#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organization; the signed-in user becomes its admin.
    /// Select it with `X-Organization-ID` on later requests.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> Result<Organization, Error> {
        let caller = ctx.caller()?;
        Ok(org_service::create(ctx.db()?, &caller, &name).await?.into())
    }

    /// Renames the organization or sets its token policy.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        max_token_lifetime_days: Option<i32>,
    ) -> Result<Organization, Error> {
        let caller = ctx.authorized(Permission::OrganizationWrite)?;
        let changes = OrganizationChanges {
            name,
            max_token_lifetime_days,
        };
        Ok(org_service::update(ctx.db()?, &caller, changes)
            .await?
            .into())
    }
}
