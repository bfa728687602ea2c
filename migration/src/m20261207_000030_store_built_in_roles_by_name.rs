//! Built-in roles store `@<name>` instead of a list of permissions: the
//! running build decodes it to what it grants the role, so a permission
//! added to a built-in role needs no migration.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The lists the built-in roles held when they were stored as lists.
const LISTS: [(&str, &str); 4] = [
    (
        "admin",
        "organization:write members:read members:write roles:read roles:write tokens:read \
         tokens:write audit:read projects:read projects:write projects:delete sboms:read \
         sboms:write sboms:delete webhooks:read webhooks:write",
    ),
    (
        "editor",
        "members:read roles:read projects:read projects:write projects:delete sboms:read \
         sboms:write sboms:delete",
    ),
    ("uploader", "projects:read sboms:read sboms:write"),
    ("viewer", "members:read roles:read projects:read sboms:read"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("UPDATE role SET permissions = '@' || name WHERE built_in")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, list) in LISTS {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "UPDATE role SET permissions = '{list}' WHERE built_in AND name = '{name}'"
                ))
                .await?;
        }
        Ok(())
    }
}
