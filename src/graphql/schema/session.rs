//! Signing in and out: `login`, `logout`, `changePassword`.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::{
    context::ContextExt, organization::Organization, role::parse_id, scalar::Timestamp, user::User,
};
use crate::{
    error::Error,
    service::session::{self as session_service, Login, SignedIn},
};

/// A new session: the token (shown once), when it ends, who it is for and
/// the organization it is pinned to.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// A `lynk_session_…` bearer token; shown only here.
    pub token: String,
    pub expires_at: Timestamp,
    pub user: User,
    /// The organization the session acts in unless a request names another
    /// with `X-Organization-ID`.
    pub organization: Organization,
}

impl From<SignedIn> for LoginPayload {
    fn from(signed_in: SignedIn) -> Self {
        LoginPayload {
            token: signed_in.secret.expose().to_owned(),
            expires_at: signed_in.expires_at.into(),
            user: User(signed_in.user),
            organization: signed_in.organization.into(),
        }
    }
}

/// `login`, `logout`, `changePassword`.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Signs in with email and password; public. A wrong password and an
    /// unknown email are the same `401`, and cost the same time. The
    /// session is pinned to `organizationId` (one you belong to) or else to
    /// your oldest membership.
    #[graphql(
        complexity = "crate::graphql::schema::limits::PASSWORD_COMPLEXITY + child_complexity"
    )]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        organization_id: Option<ID>,
    ) -> Result<LoginPayload, Error> {
        let login = Login {
            email,
            password,
            organization_id: organization_id
                .map(|id| parse_id(&id, "organization"))
                .transpose()?,
        };
        let signed_in = session_service::login(ctx.app()?, login, ctx.actor()?).await?;
        Ok(signed_in.into())
    }

    /// Revokes the session in use.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool, Error> {
        session_service::logout(ctx.db()?, &ctx.caller()?).await?;
        Ok(true)
    }

    /// Changes the signed-in user's password and ends their other sessions.
    /// A wrong `currentPassword` is an error on this field; the checks
    /// count against the same failure budgets as `login`, and once they
    /// are spent the session in use ends too.
    #[graphql(
        complexity = "crate::graphql::schema::limits::PASSWORD_COMPLEXITY + child_complexity"
    )]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool, Error> {
        let caller = ctx.caller()?;
        session_service::change_password(ctx.app()?, &caller, current_password, new_password)
            .await?;
        Ok(true)
    }
}
