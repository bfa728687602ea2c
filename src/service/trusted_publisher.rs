//! Trusted publishing (docs/DESIGN.md §8.3): registering the CI identities a project
//! trusts, and exchanging a CI job's OIDC identity token for a short-lived
//! service token of that project. The rules are `auth::oidc`'s; here are
//! the reads and writes around them. An exchange names its project and is
//! matched only against that project's publishers, and spends the token's
//! `jti` (docs/DESIGN.md §3.7).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    auth::{
        CredentialKind, PermissionSet,
        address_rule::{self, AddressEnforcement},
        oidc::{
            self, Claims, ExchangeFailure, PublisherRule,
            conditions::{
                self as claim_rules, ClaimCondition, ClaimValue, ConditionInput, Requirements,
            },
        },
        project_scope::ProjectScope,
        reach,
    },
    database,
    entity::{oidc_jti, project, role, token_claims, trusted_publisher},
    error::{Error, ResultExt},
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        caller::Caller,
        policy, provenance,
        scoped::{Hold, delete_found, find_in_organization, find_reachable, hold_reachable},
        token::{self as token_service, NewToken},
        token_create::CreatedToken,
        token_event, token_restrict,
    },
    state::AppState,
    webhook::event::EventType,
};

/// The most publishers one project may trust (docs/DESIGN.md §3.7).
pub const MAX_PUBLISHERS_PER_PROJECT: u64 = 50;

/// The most publishers `explainOidcExchange` judges a token against (of
/// one issuer in one organization, oldest first).
pub const MAX_EXPLAINED_PUBLISHERS: u64 = 100;

/// What `createTrustedPublisher` is given (validated here).
#[derive(Clone, Debug)]
pub struct NewPublisher {
    pub project_id: Uuid,
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub role_id: Uuid,
    /// Exchanged tokens work only from the exchanging address.
    pub bind_to_runner_address: bool,
    pub conditions: Vec<ConditionInput>,
    pub token_lifetime_seconds: Option<i32>,
    pub pin_ids: Option<bool>,
}

/// What `updateTrustedPublisher` is given: each field given replaces the
/// stored one (`conditions` as a whole).
#[derive(Clone, Debug, Default)]
pub struct PublisherChanges {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub subject: Option<String>,
    pub role_id: Option<Uuid>,
    pub conditions: Option<Vec<ConditionInput>>,
    pub token_lifetime_seconds: Option<i32>,
    pub pin_ids: Option<bool>,
    pub clear_pins: bool,
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
    let conditions = claim_rules::validate_conditions(new.conditions)?;
    let lifetime = claim_rules::validate_lifetime(new.token_lifetime_seconds)?;
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Under the organization's lock, as deleteRole counts a role's
    // publishers, and so that two creations cannot both pass the count.
    let txn = database::begin_organization_write(&app.db, organization_id).await?;
    // Held until the publisher is in (a racing deleteProject waits or wins).
    let project =
        hold_reachable::<project::Entity>(&txn, principal, new.project_id, Hold::Shared).await?;
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
        conditions: Set(claim_rules::conditions_to_storage(&conditions)),
        token_lifetime_seconds: Set(lifetime),
        pin_ids: Set(new.pin_ids.unwrap_or(true)),
        pinned_claims: Set(None),
        last_exchanged_at: Set(None),
        bind_to_runner_address: Set(new.bind_to_runner_address),
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

/// `updateTrustedPublisher`: changes what a publisher trusts. The caller
/// needs every permission of its current role and of a new one (loosening
/// a publisher hands out its role). Pins belong to the identity the
/// publisher named: a new issuer or subject, `pinIds: false` or
/// `clearPins: true` clears them, and the next exchange pins afresh.
/// Audience, role, conditions and lifetime keep them.
pub async fn update(
    app: &AppState,
    caller: &Caller<'_>,
    publisher_id: Uuid,
    changes: PublisherChanges,
) -> Result<trusted_publisher::Model, Error> {
    let principal = caller.principal;
    let allow_http = app.oidc_keys.allow_http_issuers();
    let issuer = changes
        .issuer
        .map(|v| oidc::validate_issuer(&v, allow_http))
        .transpose()?;
    let audience = changes
        .audience
        .map(|v| oidc::validate_audience(&v))
        .transpose()?;
    let subject = changes
        .subject
        .map(|v| oidc::validate_subject(&v))
        .transpose()?;
    let conditions = changes
        .conditions
        .map(claim_rules::validate_conditions)
        .transpose()?;
    let lifetime = changes
        .token_lifetime_seconds
        .map(|secs| claim_rules::validate_lifetime(Some(secs)))
        .transpose()?;
    let organization_id = caller.organization_id();
    let now = Utc::now();
    // Under the organization's lock, as create and deleteRole.
    let txn = database::begin_organization_write(&app.db, organization_id).await?;
    let publisher =
        hold_reachable::<trusted_publisher::Entity>(&txn, principal, publisher_id, Hold::Exclusive)
            .await?;
    let current_role =
        find_in_organization::<role::Entity>(&txn, organization_id, publisher.role_id).await?;
    policy::check_grant(
        PermissionSet::from_storage(&current_role.permissions),
        principal.permissions,
    )?;
    let mut active: trusted_publisher::ActiveModel = publisher.clone().into();
    if let Some(role_id) = changes.role_id {
        let role = find_in_organization::<role::Entity>(&txn, organization_id, role_id).await?;
        policy::check_grant(
            PermissionSet::from_storage(&role.permissions),
            principal.permissions,
        )?;
        active.role_id = Set(role.id);
    }
    let mut clears_pins = changes.clear_pins;
    if let Some(issuer) = issuer {
        clears_pins |= issuer != publisher.issuer;
        active.issuer = Set(issuer);
    }
    if let Some(subject) = subject {
        clears_pins |= subject != publisher.subject;
        active.subject = Set(subject);
    }
    if let Some(audience) = audience {
        active.audience = Set(audience);
    }
    if let Some(conditions) = conditions {
        active.conditions = Set(claim_rules::conditions_to_storage(&conditions));
    }
    if let Some(lifetime) = lifetime {
        active.token_lifetime_seconds = Set(lifetime);
    }
    if let Some(pin_ids) = changes.pin_ids {
        clears_pins |= !pin_ids;
        active.pin_ids = Set(pin_ids);
    }
    if clears_pins {
        active.pinned_claims = Set(None);
    }
    let model = active.update(&txn).await.on_conflict(|| {
        "this project already trusts that issuer, audience and subject".to_owned()
    })?;
    let detail = json!({ "pinsCleared": clears_pins && publisher.pinned_claims.is_some() });
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            organization_id,
            AuditAction::TrustedPublisherUpdated,
            &caller.actor,
            model.id,
        ),
        detail.to_string(),
        now,
    )
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
    delete_found::<trusted_publisher::Entity, _>(&txn, publisher).await?;
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

/// Why an exchange was refused, and, when a publisher's pinned ids
/// were what failed, that publisher and the reason its audit record
/// names.
struct Refusal {
    failure: ExchangeFailure,
    pinned: Option<(trusted_publisher::Model, Vec<String>)>,
}

impl From<ExchangeFailure> for Refusal {
    fn from(failure: ExchangeFailure) -> Self {
        Refusal {
            failure,
            pinned: None,
        }
    }
}

/// Exchanges an OIDC identity token for a service token of the first
/// publisher of `project_id` it satisfies: that publisher's organization
/// and role, restricted to its project, for the publisher's
/// `token_lifetime_seconds`. Every failure (an unknown project, a token
/// already exchanged, ids other than the pinned ones…) is the same
/// `UNAUTHORIZED` (its reason is logged, never the token; a pin refusal
/// is also audited as `token.exchange_refused`) and counts against
/// `client`'s failed-authentication budget, which is reserved first:
/// once it is spent, `RATE_LIMITED`.
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
    let outcome = match verify(app, identity_token, project_id, now).await? {
        Ok((publisher, claims)) => issue(app, &publisher, &claims, actor, now)
            .await?
            .map(|exchanged| (publisher, claims, exchanged)),
        Err(refusal) => Err(refusal),
    };
    let (publisher, claims, exchanged) = match outcome {
        Ok(done) => done,
        Err(refusal) => {
            tracing::info!(
                reason = refusal.failure.as_str(),
                "OIDC token exchange refused"
            );
            if let Some((publisher, mismatched)) = refusal.pinned {
                record_pin_refusal(app, &publisher, &mismatched, actor, now).await?;
            }
            return Err(Error::Unauthorized);
        }
    };
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

/// Audits `token.exchange_refused` on `publisher`: the pinned claims the
/// token did not carry with their pinned values, and the values it did
/// carry (ids, no secret).
async fn record_pin_refusal(
    app: &AppState,
    publisher: &trusted_publisher::Model,
    mismatched: &[String],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let detail = json!({
        "publisherId": publisher.id.to_string(),
        "reason": mismatched
            .iter()
            .map(|claim| format!("pinned {claim}"))
            .collect::<Vec<_>>()
            .join(", "),
    });
    let txn = database::begin_write(&app.db).await?;
    audit::record_with_detail(
        &txn,
        AuditRecord::new(
            publisher.organization_id,
            AuditAction::TokenExchangeRefused,
            actor,
            publisher.id,
        ),
        detail.to_string(),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// What `publisher` asks of a token, with its stored conditions and pins
/// read into `conditions` and `pinned`.
fn requirements<'a>(
    publisher: &'a trusted_publisher::Model,
    conditions: &'a [ClaimCondition],
    pinned: Option<&'a [ClaimValue]>,
) -> Requirements<'a> {
    Requirements {
        rule: PublisherRule {
            issuer: &publisher.issuer,
            audience: &publisher.audience,
            subject: &publisher.subject,
        },
        conditions,
        pinned,
    }
}

/// How `claims` fare against `publisher`: `Ok` when they satisfy it, the
/// mismatched pinned claims when only those fail, `None` when anything
/// else does.
fn judge(publisher: &trusted_publisher::Model, claims: &Claims) -> Option<Result<(), Vec<String>>> {
    let rule = PublisherRule {
        issuer: &publisher.issuer,
        audience: &publisher.audience,
        subject: &publisher.subject,
    };
    if !oidc::matches(rule, claims) {
        return None;
    }
    let conditions = claim_rules::conditions_from_storage(&publisher.conditions);
    if !claim_rules::failed_conditions(&conditions, claims).is_empty() {
        return None;
    }
    let pinned = claim_rules::pins_from_storage(publisher.pinned_claims.as_deref());
    let mismatched: Vec<String> = pinned
        .as_deref()
        .map(|pins| claim_rules::pin_mismatches(pins, claims))
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Some(if mismatched.is_empty() {
        Ok(())
    } else {
        Err(mismatched)
    })
}

/// The token's header, signature and times: its verified claims, or why
/// not.
async fn verified_claims(
    app: &AppState,
    identity_token: &str,
    unverified: &oidc::Unverified,
) -> Result<Claims, ExchangeFailure> {
    let key = app
        .oidc_keys
        .key(&unverified.issuer, &unverified.key_id, unverified.algorithm)
        .await?;
    oidc::verify_signature(identity_token, &key, unverified.algorithm)
}

/// The time and `jti` checks at `now`.
fn check_validity(claims: &Claims, now: DateTime<Utc>) -> Result<(), ExchangeFailure> {
    // NumericDate precision is seconds; milliseconds are plenty.
    let now_secs = now.timestamp_millis() as f64 / 1000.0;
    oidc::check_times(claims, now_secs)?;
    oidc::token_id(claims).map(|_| ())
}

/// The publisher of `project_id` that `identity_token` satisfies, and
/// its verified claims; or why none does.
async fn verify(
    app: &AppState,
    identity_token: &str,
    project_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<(trusted_publisher::Model, Claims), Refusal>, Error> {
    let unverified = match oidc::read_unverified(identity_token) {
        Ok(unverified) => unverified,
        Err(failure) => return Ok(Err(failure.into())),
    };
    let Ok(project_id) = Uuid::parse_str(project_id.trim()) else {
        return Ok(Err(ExchangeFailure::BadProjectId.into()));
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
        return Ok(Err(ExchangeFailure::UnknownIssuer.into()));
    }
    let claims = match verified_claims(app, identity_token, &unverified).await {
        Ok(claims) => claims,
        Err(failure) => return Ok(Err(failure.into())),
    };
    if let Err(failure) = check_validity(&claims, now) {
        return Ok(Err(failure.into()));
    }
    let mut pin_refusal = None;
    for publisher in publishers {
        match judge(&publisher, &claims) {
            Some(Ok(())) => return Ok(Ok((publisher, claims))),
            Some(Err(mismatched)) if pin_refusal.is_none() => {
                pin_refusal = Some((publisher, mismatched));
            }
            _ => {}
        }
    }
    if let Some(pinned) = pin_refusal {
        return Ok(Err(Refusal {
            failure: ExchangeFailure::PinMismatch,
            pinned: Some(pinned),
        }));
    }
    // Signed by a trusted issuer: what it says helps whoever set the
    // publisher up, and is no secret.
    tracing::info!(
        issuer = %claims.iss,
        sub = %claims.sub,
        aud = ?claims.aud,
        "no trusted publisher matches the token's audience, subject and conditions"
    );
    Ok(Err(ExchangeFailure::NoMatchingPublisher.into()))
}

/// Pins the token's immutable ids on `publisher` if it pins and has none
/// yet: one conditional `UPDATE`, so that of two first exchanges at once
/// only one writes (the other then reads its pins). The pins written, if
/// this call wrote them.
async fn pin_first_use(
    txn: &DatabaseTransaction,
    publisher: &trusted_publisher::Model,
    claims: &Claims,
) -> Result<Option<Vec<ClaimValue>>, Error> {
    if !publisher.pin_ids || publisher.pinned_claims.is_some() {
        return Ok(None);
    }
    let pins = claim_rules::pins_of(claims);
    if pins.is_empty() {
        return Ok(None);
    }
    let written = trusted_publisher::Entity::update_many()
        .col_expr(
            trusted_publisher::Column::PinnedClaims,
            Expr::value(claim_rules::pins_to_storage(&pins)),
        )
        .filter(trusted_publisher::Column::Id.eq(publisher.id))
        .filter(trusted_publisher::Column::PinIds.eq(true))
        .filter(trusted_publisher::Column::PinnedClaims.is_null())
        .exec(txn)
        .await?;
    Ok((written.rows_affected == 1).then_some(pins))
}

/// Pins the token's ids on first use, checks the publisher as it now is
/// (it may have been changed, pinned or deleted since it was read),
/// spends the token's `jti`, issues the service token, records when the
/// publisher last exchanged, and records `token.exchanged` (and
/// `trusted_publisher.pinned`), in one transaction. A `jti` already spent
/// (also by an exchange running at the same moment: the key is unique)
/// is [`ExchangeFailure::Replayed`].
async fn issue(
    app: &AppState,
    publisher: &trusted_publisher::Model,
    claims: &Claims,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Result<CreatedToken, Refusal>, Error> {
    let jti = match oidc::token_id(claims) {
        Ok(jti) => jti,
        Err(failure) => return Ok(Err(failure.into())),
    };
    let txn = database::begin_write(&app.db).await?;
    let pinned_now = pin_first_use(&txn, publisher, claims).await?;
    let Some(publisher) = trusted_publisher::Entity::find_by_id(publisher.id)
        .one(&txn)
        .await?
    else {
        tracing::info!("OIDC token exchange refused: the publisher was just deleted");
        return Err(Error::Unauthorized);
    };
    match judge(&publisher, claims) {
        Some(Ok(())) => {}
        Some(Err(mismatched)) => {
            return Ok(Err(Refusal {
                failure: ExchangeFailure::PinMismatch,
                pinned: Some((publisher, mismatched)),
            }));
        }
        None => return Ok(Err(ExchangeFailure::NoMatchingPublisher.into())),
    }
    if !spend_token_id(&txn, &claims.iss, jti, claims.exp, now).await? {
        return Ok(Err(ExchangeFailure::Replayed.into()));
    }
    let lifetime = Duration::seconds(i64::from(publisher.token_lifetime_seconds));
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
            expires_at: Some(now + lifetime),
        },
        now,
    )
    .await?;
    trusted_publisher::Entity::update_many()
        .col_expr(trusted_publisher::Column::LastExchangedAt, Expr::value(now))
        .filter(trusted_publisher::Column::Id.eq(publisher.id))
        .exec(&txn)
        .await?;
    if let Some(pins) = pinned_now {
        let detail = json!({ "pinnedClaims": pins });
        audit::record_with_detail(
            &txn,
            AuditRecord::new(
                publisher.organization_id,
                AuditAction::TrustedPublisherPinned,
                actor,
                publisher.id,
            ),
            detail.to_string(),
            now,
        )
        .await?;
    }
    // Bound to the runner: the token works only from where it was exchanged.
    let runner = actor
        .ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
    let model = match runner {
        Some(runner) if publisher.bind_to_runner_address => {
            token_restrict::set_addresses(
                &txn,
                model,
                Some(address_rule::single_address(runner)),
                AddressEnforcement::Enforce,
            )
            .await?
        }
        _ => model,
    };
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

/// One publisher as `explainOidcExchange` judges a token against it.
#[derive(Clone, Debug)]
pub struct PublisherMatch {
    pub publisher: trusted_publisher::Model,
    /// Every failed check; empty when the token would be exchanged.
    pub reasons: Vec<String>,
}

/// `explainOidcExchange`: checks `identity_token`'s signature with its
/// issuer's keys, then judges it against every publisher of the caller's
/// organization (in projects the caller reaches) with that issuer, oldest
/// first. Creates nothing, spends nothing; an issuer no such publisher
/// names is not fetched and gives an empty list.
pub async fn explain(
    app: &AppState,
    caller: &Caller<'_>,
    identity_token: &str,
) -> Result<Vec<PublisherMatch>, Error> {
    let unverified = oidc::read_unverified(identity_token).map_err(|failure| {
        Error::bad_input(format!(
            "token must be a signed JWT with an RS256 or ES256 header naming a key id, at most \
             {} bytes ({})",
            oidc::MAX_TOKEN_BYTES,
            failure.as_str()
        ))
    })?;
    let principal = caller.principal;
    let publishers: Vec<trusted_publisher::Model> = trusted_publisher::Entity::find()
        .filter(trusted_publisher::Column::OrganizationId.eq(caller.organization_id()))
        .filter(trusted_publisher::Column::Issuer.eq(&unverified.issuer))
        .order_by_asc(trusted_publisher::Column::CreatedAt)
        .order_by_asc(trusted_publisher::Column::Id)
        .limit(MAX_EXPLAINED_PUBLISHERS)
        .all(&app.db)
        .await?
        .into_iter()
        .filter(|p| reach::trusted_publisher(principal, p.organization_id, p.project_id).is_ok())
        .collect();
    if publishers.is_empty() {
        return Ok(Vec::new());
    }
    let claims = verified_claims(app, identity_token, &unverified)
        .await
        .map_err(|failure| {
            Error::bad_input(format!(
                "the token's signature could not be verified with its issuer's published keys \
                 ({}); nothing else was checked",
                failure.as_str()
            ))
        })?;
    let validity = check_validity(&claims, Utc::now());
    Ok(publishers
        .into_iter()
        .map(|publisher| {
            let conditions = claim_rules::conditions_from_storage(&publisher.conditions);
            let pinned = claim_rules::pins_from_storage(publisher.pinned_claims.as_deref());
            let reasons = claim_rules::reasons(
                requirements(&publisher, &conditions, pinned.as_deref()),
                &claims,
                validity,
            );
            PublisherMatch { publisher, reasons }
        })
        .collect())
}

/// The conditions of a stored publisher.
pub fn conditions_of(publisher: &trusted_publisher::Model) -> Vec<ClaimCondition> {
    claim_rules::conditions_from_storage(&publisher.conditions)
}

/// The pinned claims of a stored publisher (empty before its first pin).
pub fn pins_of(publisher: &trusted_publisher::Model) -> Vec<ClaimValue> {
    claim_rules::pins_from_storage(publisher.pinned_claims.as_deref()).unwrap_or_default()
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
