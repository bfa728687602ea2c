//! Members and invitations: inviting, joining, changing roles, removing.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::{
    context::ContextExt,
    loader::{self, RoleId},
    role::{Role, parse_id},
    scalar::Timestamp,
    session::LoginPayload,
    user::User,
};
use crate::{
    auth::{Permission, PermissionSet, Principal},
    entity::{invitation, membership},
    error::Error,
    service::{
        invitation::{self as invitation_service, Acceptance},
        member as member_service,
    },
};

/// A user's membership of the organization.
pub struct Member {
    pub membership: membership::Model,
}

#[Object]
impl Member {
    async fn user(&self, ctx: &Context<'_>) -> Result<User, Error> {
        User::load(ctx, Some(self.membership.user_id))
            .await?
            .ok_or(Error::NotFound("user"))
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        load_role(
            ctx,
            self.membership.organization_id,
            self.membership.role_id,
        )
        .await
    }

    async fn joined_at(&self) -> Timestamp {
        self.membership.joined_at.into()
    }
}

/// A role a row of `organization_id` points at (a foreign key: it exists).
async fn load_role(ctx: &Context<'_>, organization_id: Uuid, id: Uuid) -> Result<Role, Error> {
    loader::load_one(
        ctx,
        RoleId {
            organization_id,
            id,
        },
    )
    .await?
    .map(Role)
    .ok_or(Error::NotFound("role"))
}

/// A pending invitation (the code itself is never shown again).
pub struct Invitation(pub invitation::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role, Error> {
        load_role(ctx, self.0.organization_id, self.0.role_id).await
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn expires_at(&self) -> Timestamp {
        self.0.expires_at.into()
    }
}

/// A new invitation and its single-use code, shown only here.
#[derive(SimpleObject)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// `lynk_invite_…`: hand it to the invitee; valid for 7 days, once.
    pub code: String,
    /// The link to send instead: `<public URL>/#/accept/<code>`, the
    /// console's page for joining (`--public-url`). The code stays in the
    /// fragment, which browsers never send, so no server or proxy logs it.
    pub url: String,
}

/// Where a pending invitation leads, for the holder of its code.
pub struct InvitationPreview(invitation_service::Preview);

#[Object]
impl InvitationPreview {
    /// The email address invited: the account that joins.
    async fn email(&self) -> &str {
        &self.0.invitation.email
    }

    /// The organization's name.
    async fn organization_name(&self) -> &str {
        &self.0.organization.name
    }

    /// The name of the role the invitee gets.
    async fn role_name(&self) -> &str {
        &self.0.role.name
    }

    /// That role's permissions, sorted.
    async fn permissions(&self) -> Vec<&'static str> {
        PermissionSet::from_storage(&self.0.role.permissions)
            .iter()
            .map(Permission::name)
            .collect()
    }

    /// When the code stops working.
    async fn expires_at(&self) -> Timestamp {
        self.0.invitation.expires_at.into()
    }
}

/// The one public query: what an invitation code leads to.
#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// The organization and role a pending invitation's code leads to;
    /// public, so that the console can show them before the invitee
    /// signs up or signs in. A malformed, unknown, expired, withdrawn or
    /// used code is one `BAD_USER_INPUT`.
    async fn invitation_preview(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> Result<InvitationPreview, Error> {
        Ok(InvitationPreview(
            invitation_service::preview(ctx.db()?, &code).await?,
        ))
    }
}

/// `inviteMember`'s input.
#[derive(InputObject)]
pub struct InviteMemberInput {
    pub email: String,
    pub role_id: ID,
}

/// `acceptInvitation`'s input.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The `lynk_invite_…` code.
    pub code: String,
    /// Your display name, for a new account only.
    pub name: Option<String>,
    /// A new account's password. An existing account accepts with its
    /// session instead (`Authorization: Bearer <session>`).
    pub password: Option<String>,
}

/// Member and invitation mutations.
#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Invites an email address with a role (a subset of your permissions).
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> Result<CreatedInvitation, Error> {
        let caller = ctx.authorized(Permission::MembersWrite)?;
        let role_id = parse_id(&input.role_id, "role")?;
        let created = invitation_service::invite(ctx.db()?, &caller, &input.email, role_id).await?;
        let code = created.code.expose().to_owned();
        Ok(CreatedInvitation {
            invitation: Invitation(created.invitation),
            url: format!("{}/#/accept/{code}", ctx.app()?.public_url),
            code,
        })
    }

    /// Withdraws a pending invitation.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::MembersWrite)?;
        let invitation_id = parse_id(&id, "invitation")?;
        invitation_service::revoke(ctx.db()?, &caller, invitation_id).await?;
        Ok(ID(invitation_id.to_string()))
    }

    /// Joins an organization with an invitation code; public. For an email
    /// without an account, `name` and `password` create it. An existing
    /// account accepts with its own session (sign in with `login` first);
    /// its password is never taken here, except for an account that
    /// belongs to no organization and so cannot sign in (that check counts
    /// against the `login` budgets). Returns a session pinned to the
    /// organization joined.
    #[graphql(
        complexity = "crate::graphql::schema::limits::PASSWORD_COMPLEXITY + child_complexity"
    )]
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<LoginPayload, Error> {
        let request = ctx.request()?;
        let acceptance = Acceptance {
            code: input.code,
            name: input.name,
            password: input.password,
            session_user: request
                .principal
                .as_deref()
                .and_then(Principal::session_user),
        };
        let signed_in =
            invitation_service::accept(ctx.app()?, acceptance, request.client_address()).await?;
        Ok(signed_in.into())
    }

    /// Changes a member's role. The organization always keeps an admin.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_id: ID,
    ) -> Result<Member, Error> {
        let caller = ctx.authorized(Permission::MembersWrite)?;
        let user_id = parse_id(&user_id, "member")?;
        let role_id = parse_id(&role_id, "role")?;
        let membership = member_service::update_role(ctx.db()?, &caller, user_id, role_id).await?;
        Ok(Member { membership })
    }

    /// Removes a member: their personal tokens in this organization die at
    /// once; service tokens they created live on.
    async fn remove_member(&self, ctx: &Context<'_>, user_id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::MembersWrite)?;
        let user_id = parse_id(&user_id, "member")?;
        member_service::remove(ctx.db()?, &caller, user_id).await?;
        Ok(ID(user_id.to_string()))
    }
}
