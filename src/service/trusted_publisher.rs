//! Trusted publishing (docs/DESIGN.md §8.3): registering the CI identities a project
//! trusts, and exchanging a CI job's OIDC identity token for a short-lived
//! service token of that project. The rules are `auth::oidc`'s; here are
//! the reads and writes around them. An exchange names its project and is
//! matched only against that project's publishers, and spends the token's
//! `jti` (docs/DESIGN.md §3.7).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet,
        oidc::{self, Claims, ExchangeFailure, PublisherRule},
        project_scope::ProjectScope,
    },
    database,
    entity::{oidc_jti, project, role, token_claims, trusted_publisher},
    error::{Error, ResultExt},
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        policy, provenance,
        scoped::{find_in_organization, find_reachable},
        token::{self as token_service, NewToken},
        token_create::CreatedToken,
        token_event,
    },
    state::AppState,
    webhook::event::EventType,
};

/// The most publishers one project may trust (docs/DESIGN.md §3.7).
pub const MAX_PUBLISHERS_PER_PROJECT: u64 = 50;

/// How long an exchanged token lives.
pub const EXCHANGED_TOKEN_LIFETIME: Duration = Duration::minutes(15);

/// What `createTrustedPublisher` is given (validated here).
#[derive(Clone, Debug)]
pub struct NewPublisher {
    pub project_id: Uuid,
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub role_id: Uuid,
}

/// `createTrustedPublisher`: trusts a CI identity to exchange its OIDC
/// token for tokens of a project the caller reaches, with a role whose
/// permissions the caller holds. The same identity twice for one project
/// is a `CONFLICT`, and so is a project's publisher past
/// [`MAX_PUBLISHERS_PER_PROJECT`].
pub async fn create(
    app: &AppState,
    caller: &Caller<'_>,
    new: NewPublisher,
) -> Result<trusted_publisher::Model, Error> {
    let principal = caller.principal;
    let issuer = oidc::validate_issuer(&new.issuer, app.oidc_keys.allow_http_issuers())?;
    let audience = oidc::validate_audience(&new.audience)?;
    let subject = oidc::validate_subject(&new.subject)?;
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Under the organization's lock, as deleteRole counts a role's
    // publishers, and so that two creations cannot both pass the count.
    let txn = database::begin_organization_write(&app.db, organization_id).await?;
    let project = find_reachable::<project::Entity>(&txn, principal, new.project_id).await?;
    let count = trusted_publisher::Entity::find()
        .filter(trusted_publisher::Column::ProjectId.eq(project.id))
        .count(&txn)
        .await?;
    if count >= MAX_PUBLISHERS_PER_PROJECT {
        return Err(Error::conflict(format!(
            "this project already has {MAX_PUBLISHERS_PER_PROJECT} trusted publishers, the most \
             it may have; delete one, or use a subject ending in `:*` for several of one \
             repository's jobs"
        )));
    }
    let role = find_in_organization::<role::Entity>(&txn, organization_id, new.role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&role.permissions),
        principal.permissions,
    )?;
    let model = trusted_publisher::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(organization_id),
        project_id: Set(project.id),
        issuer: Set(issuer),
        audience: Set(audience),
        subject: Set(subject),
        role_id: Set(role.id),
        created_by_user_id: Set(principal.user_id),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .on_conflict(|| "this project already trusts that issuer, audience and subject".to_owned())?;
    caller
        .audit(&txn, AuditAction::TrustedPublisherCreated, model.id, now)
        .await?;
    txn.commit().await?;
    Ok(model)
}

/// `deleteTrustedPublisher`: stops trusting a CI identity. Tokens it
/// already handed out expire on their own.
pub async fn delete(
    db: &DatabaseConnection,
    caller: &Caller<'_>,
    publisher_id: Uuid,
) -> Result<(), Error> {
    let now = Utc::now();
    let txn = database::begin_write(db).await?;
    let publisher =
        find_reachable::<trusted_publisher::Entity>(&txn, caller.principal, publisher_id).await?;
    publisher.delete(&txn).await?;
    caller
        .audit(
            &txn,
            AuditAction::TrustedPublisherDeleted,
            publisher_id,
            now,
        )
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A project's publishers, oldest first.
pub async fn of_project(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    project_id: Uuid,
) -> Result<Vec<trusted_publisher::Model>, Error> {
    Ok(trusted_publisher::Entity::find()
        .filter(trusted_publisher::Column::OrganizationId.eq(organization_id))
        .filter(trusted_publisher::Column::ProjectId.eq(project_id))
        .order_by_asc(trusted_publisher::Column::CreatedAt)
        .order_by_asc(trusted_publisher::Column::Id)
        .all(conn)
        .await?)
}

/// Exchanges an OIDC identity token for a service token of the first
/// publisher of `project_id` it satisfies: that publisher's organization
/// and role, restricted to its project, for [`EXCHANGED_TOKEN_LIFETIME`].
/// Every failure (an unknown project, a token already exchanged…) is the
/// same `UNAUTHORIZED` (its reason is logged, never the token) and counts
/// against `client`'s failed-authentication budget, which is reserved
/// first: once it is spent, `RATE_LIMITED`.
pub async fn exchange(
    app: &AppState,
    identity_token: &str,
    project_id: &str,
    client: &str,
    actor: &Actor,
) -> Result<CreatedToken, Error> {
    let limits = &app.rate_limits;
    let reservation = limits
        .counts
        .reserve(&[(limits.budgets.auth_per_ip, client)], Utc::now())
        .await?
        .map_err(|exhausted| {
            tracing::warn!("token exchange refused: failure budget spent");
            exhausted.into_error()
        })?;
    let now = Utc::now();
    let refused = |failure: ExchangeFailure| {
        tracing::info!(reason = failure.as_str(), "OIDC token exchange refused");
        Error::Unauthorized
    };
    let (publisher, claims) = verify(app, identity_token, project_id, now)
        .await?
        .map_err(refused)?;
    let exchanged = issue(app, &publisher, &claims, actor, now)
        .await?
        .map_err(refused)?;
    // Exchanged: the attempt was no failure.
    limits.counts.refund(reservation).await?;
    tracing::info!(
        publisher_id = %publisher.id,
        token_id = %exchanged.token.id,
        sub = %claims.sub,
        "OIDC token exchanged"
    );
    Ok(exchanged)
}

/// The publisher of `project_id` that `identity_token` satisfies, and
/// its verified claims; or why none does.
async fn verify(
    app: &AppState,
    identity_token: &str,
    project_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<(trusted_publisher::Model, Claims), ExchangeFailure>, Error> {
    let unverified = match oidc::read_unverified(identity_token) {
        Ok(unverified) => unverified,
        Err(failure) => return Ok(Err(failure)),
    };
    let Ok(project_id) = Uuid::parse_str(project_id.trim()) else {
        return Ok(Err(ExchangeFailure::BadProjectId));
    };
    // Publishers first, of the named project only: an issuer none of
    // them names is never fetched, and no other tenant's publisher is
    // ever considered.
    let publishers = trusted_publisher::Entity::find()
        .filter(trusted_publisher::Column::ProjectId.eq(project_id))
        .filter(trusted_publisher::Column::Issuer.eq(&unverified.issuer))
        .order_by_asc(trusted_publisher::Column::CreatedAt)
        .order_by_asc(trusted_publisher::Column::Id)
        .all(&app.db)
        .await?;
    if publishers.is_empty() {
        return Ok(Err(ExchangeFailure::UnknownIssuer));
    }
    let key = match app
        .oidc_keys
        .key(&unverified.issuer, &unverified.key_id, unverified.algorithm)
        .await
    {
        Ok(key) => key,
        Err(failure) => return Ok(Err(failure)),
    };
    let claims = match oidc::verify_signature(identity_token, &key, unverified.algorithm) {
        Ok(claims) => claims,
        Err(failure) => return Ok(Err(failure)),
    };
    // NumericDate precision is seconds; milliseconds are plenty.
    let now_secs = now.timestamp_millis() as f64 / 1000.0;
    if let Err(failure) = oidc::check_times(&claims, now_secs) {
        return Ok(Err(failure));
    }
    if let Err(failure) = oidc::token_id(&claims) {
        return Ok(Err(failure));
    }
    let matched = publishers.into_iter().find(|publisher| {
        oidc::matches(
            PublisherRule {
                issuer: &publisher.issuer,
                audience: &publisher.audience,
                subject: &publisher.subject,
            },
            &claims,
        )
    });
    Ok(match matched {
        Some(publisher) => Ok((publisher, claims)),
        None => {
            // Signed by a trusted issuer: what it says helps whoever set
            // the publisher up, and is no secret.
            tracing::info!(
                issuer = %claims.iss,
                sub = %claims.sub,
                aud = ?claims.aud,
                "no trusted publisher matches the token's audience and subject"
            );
            Err(ExchangeFailure::NoMatchingPublisher)
        }
    })
}

/// Spends the token's `jti`, issues the service token and records
/// `token.exchanged` with the claims that matched, in one transaction
/// that first checks the publisher still exists. A `jti` already spent
/// (also by an exchange running at the same moment: the key is unique)
/// is [`ExchangeFailure::Replayed`].
async fn issue(
    app: &AppState,
    publisher: &trusted_publisher::Model,
    claims: &Claims,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Result<CreatedToken, ExchangeFailure>, Error> {
    let jti = match oidc::token_id(claims) {
        Ok(jti) => jti,
        Err(failure) => return Ok(Err(failure)),
    };
    let txn = database::begin_write(&app.db).await?;
    if trusted_publisher::Entity::find_by_id(publisher.id)
        .one(&txn)
        .await?
        .is_none()
    {
        tracing::info!("OIDC token exchange refused: the publisher was just deleted");
        return Err(Error::Unauthorized);
    }
    if !spend_token_id(&txn, &claims.iss, jti, claims.exp, now).await? {
        return Ok(Err(ExchangeFailure::Replayed));
    }
    let (model, secret) = token_service::issue(
        &txn,
        NewToken {
            kind: CredentialKind::Service,
            organization_id: Some(publisher.organization_id),
            name: oidc::token_name(claims),
            scopes: None,
            role_id: Some(publisher.role_id),
            owner_user_id: None,
            created_by_user_id: None,
            projects: ProjectScope::Only(vec![publisher.project_id]),
            expires_at: Some(now + EXCHANGED_TOKEN_LIFETIME),
        },
        now,
    )
    .await?;
    // The claims an upload with this token copies into its provenance.
    token_claims::ActiveModel::from(provenance::kept_claims(model.id, publisher.id, claims))
        .reset_all()
        .insert(&txn)
        .await?;
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            publisher.organization_id,
            AuditAction::TokenExchanged,
            actor,
            model.id,
        ),
        oidc::audit_detail(publisher.id, claims),
        now,
    )
    .await?;
    token_event::announce(&txn, EventType::TokenCreated, &model, None, actor).await?;
    txn.commit().await?;
    Ok(Ok(CreatedToken {
        token: model,
        secret,
    }))
}

/// Records `jti` of `issuer` as exchanged until `exp` (and the leeway),
/// first pruning the ids no exchange would accept any more. `false` when
/// it was exchanged already.
async fn spend_token_id(
    txn: &DatabaseTransaction,
    issuer: &str,
    jti: &str,
    exp: f64,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    oidc_jti::Entity::delete_many()
        .filter(oidc_jti::Column::ExpiresAt.lt(now))
        .exec(txn)
        .await?;
    // Seconds are enough; rounded up, so the row outlives the token.
    let expires_at = DateTime::from_timestamp((exp + oidc::LEEWAY_SECS).ceil() as i64, 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let spent = oidc_jti::ActiveModel {
        issuer: Set(issuer.to_owned()),
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    }
    .insert(txn)
    .await;
    match spent {
        Ok(_) => Ok(true),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}
