//! Creating an organization and its first admin, with a 30-day personal
//! token: what `lynk bootstrap` and the first `lynk serve` do.

use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, Set,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::{CredentialKind, password, project_scope::ProjectScope},
    database,
    entity::{organization as organization_entity, user},
    error::Error,
    service::{account, audit::Actor, organization, token::NewToken, token_create, validate},
};

/// Lifetime of the personal token printed at bootstrap.
pub const BOOTSTRAP_TOKEN_DAYS: i64 = 30;

/// What to create.
pub struct BootstrapRequest {
    pub organization_name: String,
    pub email: String,
    pub user_name: Option<String>,
    /// `None` generates one (printed once) for a new user.
    pub password: Option<String>,
}

/// The `{"id","name"}` of the new organization.
#[derive(Debug, Serialize)]
pub struct OrganizationSummary {
    pub id: Uuid,
    pub name: String,
}

/// The `{"id","email"}` of the admin.
#[derive(Debug, Serialize)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
}

/// The one JSON object `lynk bootstrap --json` prints (docs/DESIGN.md §6.3).
#[derive(Serialize)]
pub struct BootstrapOutcome {
    pub organization: OrganizationSummary,
    pub user: UserSummary,
    /// Present only when lynk generated the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for BootstrapOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapOutcome")
            .field("organization", &self.organization)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Whether the database has no organization yet.
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, Error> {
    Ok(organization_entity::Entity::find().count(db).await? == 0)
}

/// Creates the organization, the admin (or reuses an existing user with
/// that email, keeping their password) and a 30-day personal token, in one
/// transaction.
pub async fn bootstrap(
    db: &DatabaseConnection,
    request: BootstrapRequest,
) -> Result<BootstrapOutcome, Error> {
    let prepared = prepare(db, request).await?;
    let txn = database::begin_write(db).await?;
    let outcome = create(&txn, prepared).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// What the first `lynk serve` does: bootstraps the database only if it has
/// no organization, and returns `None` otherwise. Instances starting at once
/// on an empty database take turns: the check and the creation share one
/// transaction that first takes the bootstrap lock, so exactly one of them
/// creates the organization.
pub async fn bootstrap_empty_database(
    db: &DatabaseConnection,
    request: BootstrapRequest,
) -> Result<Option<BootstrapOutcome>, Error> {
    // Every start but the first ends here, without hashing a password.
    if !is_empty(db).await? {
        return Ok(None);
    }
    let prepared = prepare(db, request).await?;
    let txn = database::begin_bootstrap(db).await?;
    if organization_entity::Entity::find().count(&txn).await? > 0 {
        // Another instance bootstrapped while this one hashed the password.
        txn.rollback().await?;
        return Ok(None);
    }
    let outcome = create(&txn, prepared).await?;
    txn.commit().await?;
    Ok(Some(outcome))
}

/// A validated request whose password is hashed (argon2 is slow, so it
/// runs before the transaction opens).
struct PreparedBootstrap {
    org_name: String,
    email: String,
    user_name: String,
    existing: Option<user::Model>,
    password_hash: Option<String>,
    generated_password: Option<String>,
}

async fn prepare(
    db: &DatabaseConnection,
    request: BootstrapRequest,
) -> Result<PreparedBootstrap, Error> {
    let org_name = validate::name("organization name", &request.organization_name)?;
    let email = validate::email(&request.email)?;
    let existing = account::find_by_email(db, &email).await?;
    let (password_hash, generated_password) = match (&existing, request.password) {
        (Some(_), _) => (None, None),
        (None, Some(given)) => {
            password::validate_new_password(&given)?;
            (Some(password::hash_password(given).await?), None)
        }
        (None, None) => {
            let generated = password::generate_password();
            (
                Some(password::hash_password(generated.clone()).await?),
                Some(generated),
            )
        }
    };
    let user_name = match request.user_name {
        Some(name) => validate::name("user name", &name)?,
        None => email.split('@').next().unwrap_or("admin").to_owned(),
    };
    Ok(PreparedBootstrap {
        org_name,
        email,
        user_name,
        existing,
        password_hash,
        generated_password,
    })
}

async fn create(
    txn: &DatabaseTransaction,
    prepared: PreparedBootstrap,
) -> Result<BootstrapOutcome, Error> {
    let PreparedBootstrap {
        org_name,
        email,
        user_name,
        existing,
        password_hash,
        generated_password,
    } = prepared;
    let now = Utc::now();
    let user = match (existing, password_hash) {
        (Some(user), _) => user,
        (None, hash) => {
            user::ActiveModel {
                id: Set(Uuid::now_v7()),
                email: Set(email),
                name: Set(user_name),
                password_hash: Set(hash.unwrap_or_default()),
                created_at: Set(now),
            }
            .insert(txn)
            .await?
        }
    };
    let actor = Actor {
        user_id: Some(user.id),
        token_id: None,
        ip: None,
    };
    let org = organization::create_in(txn, org_name, user.id, &actor, now).await?;
    let created = token_create::issue_recorded(
        txn,
        NewToken {
            kind: CredentialKind::Personal,
            organization_id: Some(org.id),
            name: "bootstrap".into(),
            scopes: None,
            role_id: None,
            owner_user_id: Some(user.id),
            created_by_user_id: Some(user.id),
            projects: ProjectScope::All,
            expires_at: Some(now + Duration::days(BOOTSTRAP_TOKEN_DAYS)),
        },
        &actor,
        now,
    )
    .await?;
    Ok(BootstrapOutcome {
        organization: OrganizationSummary {
            id: org.id,
            name: org.name,
        },
        user: UserSummary {
            id: user.id,
            email: user.email,
        },
        password: generated_password,
        token: created.secret.expose().to_owned(),
    })
}
