//! The `User` type.

use async_graphql::{Context, ID, Object};
use uuid::Uuid;

use super::loader::{self, UserId};
use crate::{entity::user, error::Error};

/// A person who signs in with a password.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}

impl User {
    /// The user `id` points at, if any (batched under a list).
    pub async fn load(ctx: &Context<'_>, id: Option<Uuid>) -> Result<Option<User>, Error> {
        let Some(id) = id else { return Ok(None) };
        Ok(loader::load_one(ctx, UserId(id)).await?.map(User))
    }
}
