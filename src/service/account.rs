//! User accounts: finding one by email, and the operator's way back in
//! when the first start's credentials are lost (`lynk user
//! reset-password`, run from the command line).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use crate::{
    auth::password,
    database,
    entity::{membership, user},
    error::Error,
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        token as token_service, validate,
    },
};

/// The account with `email` (already validated, so lower-cased), if any.
pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, Error> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(conn)
        .await?)
}

/// Inside the caller's transaction: gives `user` the password `hash` and
/// ends every session of theirs but `keep` (the one in use, when users
/// change their own), so an old password opens nothing any more.
pub async fn set_password_hash(
    conn: &impl ConnectionTrait,
    user: user::Model,
    hash: String,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let user_id = user.id;
    let mut active = user.into_active_model();
    active.password_hash = Set(hash);
    active.update(conn).await?;
    token_service::end_sessions(conn, user_id, keep, now).await
}

/// A password just reset: shown once, to the operator.
pub struct PasswordReset {
    pub user_id: Uuid,
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Gives the user with `email` a new generated password and ends their
/// sessions (their personal tokens keep working), in one transaction,
/// recorded as `user.password_reset` in the audit log of every
/// organization they belong to.
pub async fn reset_password(db: &DatabaseConnection, email: &str) -> Result<PasswordReset, Error> {
    let email = validate::email(email)?;
    let found = find_by_email(db, &email)
        .await?
        .ok_or_else(|| Error::bad_input(format!("no user has the email address {email}")))?;
    let new_password = password::generate_password();
    let hash = password::hash_password(new_password.clone()).await?;
    let now = Utc::now();
    let user_id = found.id;
    let txn = database::begin_write(db).await?;
    set_password_hash(&txn, found, hash, None, now).await?;
    let organizations: Vec<Option<Uuid>> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| Some(m.organization_id))
        .collect();
    // The operator at the console is the actor: no user, no token.
    let actor = Actor::default();
    for organization_id in if organizations.is_empty() {
        vec![None]
    } else {
        organizations
    } {
        audit::record(
            &txn,
            AuditRecord {
                organization_id,
                action: AuditAction::PasswordReset,
                actor: &actor,
                target: Some(user_id),
            },
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(PasswordReset {
        user_id,
        email,
        password: new_password,
    })
}
