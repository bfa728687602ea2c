//! `Token.rejectedUses`: a revoked or expired secret presented again, or a
//! token used from outside its `allowedCidrs`, recorded behind the
//! request (the caller has its 401 already) and written in batches with
//! `lastUsedAt`. `token.rejected` is announced in the same transaction,
//! at most once per token per [`REJECTION_ANNOUNCE_INTERVAL`], decided by a
//! conditional `UPDATE` so that instances sharing a database agree.

use std::{collections::HashMap, net::IpAddr};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use serde_json::json;
use uuid::Uuid;

use super::with_address;
use crate::{
    entity::token,
    webhook::{data, event::EventType, outbox},
};

/// `token.rejected` is announced at most this often per token.
pub const REJECTION_ANNOUNCE_INTERVAL: Duration = Duration::hours(1);

/// Why a use of a token was refused (`RejectionReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionReason {
    Revoked,
    Expired,
    /// Outside its `allowedCidrs` (refused, or let through in `REPORT_ONLY`).
    AddressNotAllowed,
}

impl RejectionReason {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionReason::Revoked => "revoked",
            RejectionReason::Expired => "expired",
            RejectionReason::AddressNotAllowed => "address_not_allowed",
        }
    }

    /// Reads the stored form.
    pub fn from_storage(stored: &str) -> Option<RejectionReason> {
        Some(match stored {
            "revoked" => RejectionReason::Revoked,
            "expired" => RejectionReason::Expired,
            "address_not_allowed" => RejectionReason::AddressNotAllowed,
            _ => return None,
        })
    }
}

/// Refused uses of one token waiting to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rejected {
    pub count: i64,
    pub at: DateTime<Utc>,
    pub reason: RejectionReason,
    /// Space-separated, newest first, at most five.
    pub addresses: String,
}

/// The refused uses waiting, at most one entry per token. Pure.
#[derive(Debug)]
pub(super) struct RejectionBuffer {
    capacity: usize,
    pending: HashMap<Uuid, Rejected>,
}

impl RejectionBuffer {
    pub fn new(capacity: usize) -> RejectionBuffer {
        RejectionBuffer {
            capacity,
            pending: HashMap::new(),
        }
    }

    /// Adds a refused use; false when dropped (full of other tokens).
    pub fn record(
        &mut self,
        token_id: Uuid,
        reason: RejectionReason,
        client: IpAddr,
        at: DateTime<Utc>,
    ) -> bool {
        let client = client.to_string();
        if let Some(pending) = self.pending.get_mut(&token_id) {
            pending.count += 1;
            if at >= pending.at {
                pending.at = at;
                pending.reason = reason;
            }
            pending.addresses = with_address(Some(&pending.addresses), &client);
            return true;
        }
        if self.pending.len() >= self.capacity {
            return false;
        }
        self.pending.insert(
            token_id,
            Rejected {
                count: 1,
                at,
                reason,
                addresses: client,
            },
        );
        true
    }

    pub fn take(&mut self) -> Vec<(Uuid, Rejected)> {
        self.pending.drain().collect()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

/// The stored addresses after `pending` (its newest first, then the
/// stored ones), at most five.
fn merged_addresses(stored: Option<&str>, pending: &str) -> String {
    pending
        .split_whitespace()
        .rev()
        .fold(stored.unwrap_or_default().to_owned(), |kept, address| {
            with_address(Some(&kept), address)
        })
}

/// Writes `rejected` in one transaction: the counters, the latest time,
/// reason and addresses, and `token.rejected` for each token not
/// announced within the interval. A token deleted meanwhile is skipped.
pub(super) async fn write(
    db: &DatabaseConnection,
    rejected: Vec<(Uuid, Rejected)>,
) -> Result<(), DbErr> {
    let txn = crate::database::begin_write(db).await?;
    let ids: Vec<Uuid> = rejected.iter().map(|(id, _)| *id).collect();
    let stored: HashMap<Uuid, token::Model> = token::Entity::find()
        .filter(token::Column::Id.is_in(ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|model| (model.id, model))
        .collect();
    for (token_id, pending) in rejected {
        let Some(model) = stored.get(&token_id) else {
            continue;
        };
        let addresses = merged_addresses(model.rejected_last_ips.as_deref(), &pending.addresses);
        token::Entity::update_many()
            .col_expr(
                token::Column::RejectedCount,
                Expr::col(token::Column::RejectedCount).add(pending.count),
            )
            .col_expr(token::Column::RejectedLastAt, Expr::value(pending.at))
            .col_expr(
                token::Column::RejectedLastIps,
                Expr::value(addresses.clone()),
            )
            .col_expr(
                token::Column::RejectedLastReason,
                Expr::value(pending.reason.as_str()),
            )
            .filter(token::Column::Id.eq(token_id))
            .exec(&txn)
            .await?;
        announce_if_due(&txn, model, &pending, &addresses).await?;
    }
    txn.commit().await
}

/// Announces `token.rejected` for `model` unless it was announced within
/// the interval (by this instance or another).
async fn announce_if_due(
    txn: &impl ConnectionTrait,
    model: &token::Model,
    pending: &Rejected,
    addresses: &str,
) -> Result<(), DbErr> {
    let Some(organization_id) = model.organization_id else {
        return Ok(());
    };
    if model.kind == crate::auth::CredentialKind::Session {
        return Ok(());
    }
    let due = token::Entity::update_many()
        .col_expr(token::Column::RejectedAnnouncedAt, Expr::value(pending.at))
        .filter(token::Column::Id.eq(model.id))
        .filter(
            sea_orm::Condition::any()
                .add(token::Column::RejectedAnnouncedAt.is_null())
                .add(
                    token::Column::RejectedAnnouncedAt
                        .lte(pending.at - REJECTION_ANNOUNCE_INTERVAL),
                ),
        )
        .exec(txn)
        .await?;
    if due.rows_affected == 0 {
        return Ok(());
    }
    let payload = json!({
        "token": data::token(model),
        "rejectedUses": {
            "count": model.rejected_count + pending.count,
            "lastAt": pending.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastIps": addresses.split_whitespace().collect::<Vec<_>>(),
            "lastReason": pending.reason.as_str().to_ascii_uppercase(),
        },
    });
    outbox::announce(txn, organization_id, EventType::TokenRejected, payload)
        .await
        .map_err(|_| DbErr::Custom("could not queue token.rejected".into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_uses_of_a_token_add_up() {
        let token = Uuid::now_v7();
        let t0 = Utc::now();
        let mut buffer = RejectionBuffer::new(1);
        assert!(buffer.record(
            token,
            RejectionReason::Revoked,
            "10.0.0.1".parse().unwrap(),
            t0
        ));
        assert!(buffer.record(
            token,
            RejectionReason::AddressNotAllowed,
            "10.0.0.2".parse().unwrap(),
            t0 + Duration::seconds(1)
        ));
        assert!(!buffer.record(
            Uuid::now_v7(),
            RejectionReason::Expired,
            "::1".parse().unwrap(),
            t0
        ));
        let taken = buffer.take();
        assert_eq!(taken.len(), 1);
        let (_, rejected) = &taken[0];
        assert_eq!(rejected.count, 2);
        assert_eq!(rejected.reason, RejectionReason::AddressNotAllowed);
        assert_eq!(rejected.addresses, "10.0.0.2 10.0.0.1");
        assert_eq!(buffer.len(), 0);
    }

    #[test]
    fn pending_addresses_go_before_the_stored_ones() {
        assert_eq!(merged_addresses(None, "b a"), "b a");
        assert_eq!(merged_addresses(Some("c a"), "b a"), "b a c");
        assert_eq!(merged_addresses(Some("1 2 3 4 5"), "6"), "6 1 2 3 4");
    }

    #[test]
    fn reasons_round_trip() {
        for reason in [
            RejectionReason::Revoked,
            RejectionReason::Expired,
            RejectionReason::AddressNotAllowed,
        ] {
            assert_eq!(RejectionReason::from_storage(reason.as_str()), Some(reason));
        }
    }
}
