//! Acting on a verified batch: every live lynk secret in it stops working,
//! in one transaction with its audit events and `token.leaked` events, so
//! that a report is acted on completely or not at all.
//!
//! - A token (personal, service or session) that still works, a rotation's
//!   grace period included, is revoked at once: audited as `token.leaked`
//!   (no actor; `detail` holds `url`, `source`, `type`) and announced to
//!   webhooks as `token.leaked`.
//! - A pending invitation code is withdrawn (the same conditional update
//!   `revokeInvitation` makes), audited as `member.invitation_revoked`
//!   with the same detail and `"reason":"leaked"`.
//! - Anything else (not a lynk secret, a bad checksum, unknown, already
//!   revoked, expired, accepted) is a false positive and changes nothing.
//!
//! Lookups are two indexed queries for the whole batch (the digests'
//! unique indexes); a secret reported twice is acted on once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr,
};
use serde_json::json;

use super::report::{Label, Report};
use crate::{
    auth::token_format::{self, SecretDigest, SecretKind},
    database,
    entity::{invitation, token},
    error::Error,
    service::{
        audit::{self, Actor, AuditAction, AuditRecord},
        token::{RetireIf, Status, retire, status},
    },
    webhook::{self, event::EventType},
};

/// Revokes every live secret the reports name and labels each report.
/// `reporter` is the scanner's address, recorded as the events' `ip`.
pub async fn revoke_reported(
    db: &DatabaseConnection,
    reports: &[Report],
    reporter: Option<String>,
) -> Result<Vec<Label>, Error> {
    let now = Utc::now();
    let secrets = distinct_secrets(reports);
    let actor = Actor {
        user_id: None,
        token_id: None,
        ip: reporter,
    };
    let txn = database::begin_write(db).await?;
    let tokens = find_tokens(&txn, &secrets).await?;
    let invitations = find_invitations(&txn, &secrets).await?;
    let mut labels: HashMap<SecretDigest, Label> = HashMap::new();
    for secret in &secrets {
        let report = &reports[secret.first];
        let revoked = match secret.kind {
            SecretKind::Credential(_) => match tokens.get(&secret.digest) {
                Some(row) => revoke_token(&txn, row, report, &actor, now).await?,
                None => false,
            },
            SecretKind::Invitation => match invitations.get(&secret.digest) {
                Some(row) => withdraw_invitation(&txn, row, report, &actor, now).await?,
                None => false,
            },
        };
        let label = if revoked {
            Label::TruePositive
        } else {
            Label::FalsePositive
        };
        labels.insert(secret.digest, label);
    }
    txn.commit().await?;
    Ok(reports
        .iter()
        .map(|report| {
            token_format::parse(&report.token)
                .ok()
                .and_then(|parsed| labels.get(&parsed.digest).copied())
                .unwrap_or(Label::FalsePositive)
        })
        .collect())
}

/// A well-formed lynk secret of the batch, with the first report naming it.
#[derive(Debug)]
struct ReportedSecret {
    kind: SecretKind,
    digest: SecretDigest,
    first: usize,
}

/// The batch's well-formed lynk secrets, each once, in order of first
/// appearance. Strings that fail the offline checks (prefix, length,
/// alphabet, checksum) never reach the database.
fn distinct_secrets(reports: &[Report]) -> Vec<ReportedSecret> {
    let mut seen = std::collections::HashSet::new();
    reports
        .iter()
        .enumerate()
        .filter_map(|(index, report)| {
            let parsed = token_format::parse(&report.token).ok()?;
            seen.insert(parsed.digest).then_some(ReportedSecret {
                kind: parsed.kind,
                digest: parsed.digest,
                first: index,
            })
        })
        .collect()
}

fn digests_of(secrets: &[ReportedSecret], invitations: bool) -> Vec<Vec<u8>> {
    secrets
        .iter()
        .filter(|s| (s.kind == SecretKind::Invitation) == invitations)
        .map(|s| s.digest.0.to_vec())
        .collect()
}

async fn find_tokens(
    conn: &impl ConnectionTrait,
    secrets: &[ReportedSecret],
) -> Result<HashMap<SecretDigest, token::Model>, Error> {
    let digests = digests_of(secrets, false);
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = token::Entity::find()
        .filter(token::Column::Digest.is_in(digests))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((digest_of(&row.digest)?, row)))
        .collect())
}

async fn find_invitations(
    conn: &impl ConnectionTrait,
    secrets: &[ReportedSecret],
) -> Result<HashMap<SecretDigest, invitation::Model>, Error> {
    let digests = digests_of(secrets, true);
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = invitation::Entity::find()
        .filter(invitation::Column::CodeDigest.is_in(digests))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((digest_of(&row.code_digest)?, row)))
        .collect())
}

fn digest_of(stored: &[u8]) -> Option<SecretDigest> {
    stored.try_into().ok().map(SecretDigest)
}

/// Where the secret was found, as the audit log keeps it (`url` null when
/// the reporter gave none, as `POST /tokens/revoke` does not).
fn found_at(report: &Report) -> serde_json::Value {
    json!({"url": url_of(report), "source": report.source, "type": report.token_type})
}

fn url_of(report: &Report) -> Option<&str> {
    (!report.url.is_empty()).then_some(report.url.as_str())
}

/// Revokes `row` if it still works; says whether this call did.
async fn revoke_token(
    conn: &impl ConnectionTrait,
    row: &token::Model,
    report: &Report,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    if status(row, now) != Status::Active {
        return Ok(false);
    }
    // Conditional, as `revokeToken`: a revocation racing this one leaves
    // one of them to record it.
    if !retire(conn, row.id, now, now, RetireIf::NotRevoked).await? {
        return Ok(false);
    }
    let record = AuditRecord {
        organization_id: row.organization_id,
        action: AuditAction::TokenLeaked,
        actor,
        target: Some(row.id),
    };
    audit::record_with_detail(conn, record, found_at(report).to_string(), now).await?;
    let revoked = token::Model {
        revoked_at: Some(now),
        ..row.clone()
    };
    if let Some(organization_id) = row.organization_id {
        webhook::outbox::announce(
            conn,
            organization_id,
            EventType::TokenLeaked,
            json!({
                "token": webhook::data::token(&revoked),
                "url": url_of(report),
                "source": report.source,
            }),
        )
        .await?;
    }
    tracing::warn!(
        token_id = %row.id,
        organization_id = ?row.organization_id,
        kind = row.kind.as_str(),
        source = %report.source,
        "a live token was reported leaked; revoked"
    );
    Ok(true)
}

/// Withdraws a pending invitation; says whether this call did.
async fn withdraw_invitation(
    conn: &impl ConnectionTrait,
    row: &invitation::Model,
    report: &Report,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let withdrawn = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(row.id))
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?
        .rows_affected
        == 1;
    if !withdrawn {
        return Ok(false);
    }
    let mut detail = found_at(report);
    detail["reason"] = json!("leaked");
    let record = AuditRecord::new(
        row.organization_id,
        AuditAction::InvitationRevoked,
        actor,
        row.id,
    );
    audit::record_with_detail(conn, record, detail.to_string(), now).await?;
    tracing::warn!(
        invitation_id = %row.id,
        organization_id = %row.organization_id,
        source = %report.source,
        "secret scanner reported a pending invitation code; withdrawn"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    fn report(token: &str) -> Report {
        Report {
            token: token.to_owned(),
            token_type: "lynk".into(),
            url: "https://example.com/leak".into(),
            source: "content".into(),
        }
    }

    #[test]
    fn only_well_formed_secrets_are_looked_up_each_once_in_order() {
        let personal = token_format::generate(CredentialKind::Personal);
        let invite = token_format::generate(SecretKind::Invitation);
        let p = personal.secret.expose();
        let mut bad_checksum = p.to_owned();
        let last = bad_checksum.pop().unwrap();
        bad_checksum.push(if last == 'A' { 'B' } else { 'A' });
        let reports = [
            report("ghp_not_ours"),
            report(p),
            report(&bad_checksum),
            report(invite.secret.expose()),
            report(p),
        ];
        let secrets = distinct_secrets(&reports);
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[0].digest, personal.digest);
        assert_eq!(secrets[0].first, 1);
        assert_eq!(secrets[1].kind, SecretKind::Invitation);
        assert_eq!(secrets[1].first, 3);
        assert_eq!(
            digests_of(&secrets, false),
            vec![personal.digest.0.to_vec()]
        );
        assert_eq!(digests_of(&secrets, true), vec![invite.digest.0.to_vec()]);
    }

    #[test]
    fn a_stored_digest_of_the_wrong_size_is_no_digest() {
        assert_eq!(digest_of(&[7; 32]), Some(SecretDigest([7; 32])));
        assert_eq!(digest_of(&[7; 31]), None);
    }
}
