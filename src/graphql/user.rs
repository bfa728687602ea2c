//! The `User` type.

use async_graphql::{ID, Object};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

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

/// Loads a user by id, if there is one.
pub async fn load(db: &DatabaseConnection, id: Option<Uuid>) -> Result<Option<User>, Error> {
    let Some(id) = id else { return Ok(None) };
    Ok(user::Entity::find_by_id(id).one(db).await?.map(User))
}
