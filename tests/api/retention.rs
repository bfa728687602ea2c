//! Retention (docs/DESIGN.md §4.6): finished deliveries with their attempts, and
//! audit rows without an organization, are pruned after 30 days; pending
//! deliveries and an organization's audit log are kept. Old rows are
//! written directly, then pruned as every instance's periodic task does.

use chrono::{Duration, Utc};
use lynk::{
    entity::{
        audit_event, webhook_attempt,
        webhook_delivery::{self, DeliveryStatus},
    },
    retention::{self, Pruned},
};
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::TestApp,
    webhooks::{create_ok, spawn_with_webhooks},
};

/// A delivery of `webhook_id` created `days` ago, with `attempts` attempts.
async fn delivery(
    app: &TestApp,
    webhook_id: Uuid,
    days: i64,
    status: DeliveryStatus,
    attempts: i32,
) -> Uuid {
    let id = Uuid::now_v7();
    let created_at = Utc::now() - Duration::days(days);
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(id),
        webhook_id: Set(webhook_id),
        organization_id: Set(app.admin.organization.id),
        event: Set("token.created".to_owned()),
        payload: Set("{}".to_owned()),
        status: Set(status),
        attempts: Set(attempts),
        // Never due while the test runs: the sender leaves it alone.
        next_attempt_at: Set(Utc::now() + Duration::days(1)),
        locked_until: Set(None),
        response_status: Set(None),
        last_error: Set(None),
        created_at: Set(created_at),
        delivered_at: Set(None),
    })
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    for n in 0..attempts {
        webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(id),
            attempted_at: Set(created_at + Duration::hours(i64::from(n))),
            response_status: Set(Some(500)),
            error: Set(None),
            duration_ms: Set(10),
        })
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    id
}

/// An audit row `days` old, in `organization_id` or in none.
async fn audit_row(app: &TestApp, organization_id: Option<Uuid>, days: i64) -> Uuid {
    let id = Uuid::now_v7();
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: Set(id),
        organization_id: Set(organization_id),
        action: Set("login.failed".to_owned()),
        actor_user_id: Set(None),
        actor_token_id: Set(None),
        target_type: Set(None),
        target_id: Set(None),
        ip: Set(Some("203.0.113.9".to_owned())),
        detail: Set(None),
        created_at: Set(Utc::now() - Duration::days(days)),
    })
    .exec_without_returning(&app.db)
    .await
    .unwrap();
    id
}

async fn attempts_of(app: &TestApp, delivery_id: Uuid) -> u64 {
    webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .count(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn finished_deliveries_and_unowned_audit_rows_are_pruned_after_30_days() {
    let app = spawn_with_webhooks().await;
    let hook: Uuid = create_ok(&app, "https://hooks.lynk.invalid/kept", &["token.created"])
        .await
        .parse()
        .unwrap();
    let old_delivered = delivery(&app, hook, 31, DeliveryStatus::Delivered, 1).await;
    let old_failed = delivery(&app, hook, 40, DeliveryStatus::Failed, 8).await;
    let older_failed = delivery(&app, hook, 300, DeliveryStatus::Failed, 8).await;
    let recent = delivery(&app, hook, 29, DeliveryStatus::Delivered, 2).await;
    let old_pending = delivery(&app, hook, 31, DeliveryStatus::Pending, 3).await;
    let old_unowned = audit_row(&app, None, 31).await;
    let recent_unowned = audit_row(&app, None, 29).await;
    let old_owned = audit_row(&app, Some(app.admin.organization.id), 31).await;

    // Two at a time: the three old finished deliveries take two batches.
    let pruned = retention::prune(&app.db, Utc::now(), 2).await.unwrap();
    // The server's own pruning, at its start, may have run meanwhile.
    assert!(
        pruned.deliveries <= 3 && pruned.audit_events <= 1,
        "{pruned:?}"
    );
    assert_eq!(
        retention::prune(&app.db, Utc::now(), 2).await.unwrap(),
        Pruned::default()
    );

    for gone in [old_delivered, old_failed, older_failed] {
        assert_eq!(
            webhook_delivery::Entity::find_by_id(gone)
                .one(&app.db)
                .await
                .unwrap(),
            None
        );
        assert_eq!(attempts_of(&app, gone).await, 0);
    }
    assert_eq!(attempts_of(&app, recent).await, 2);
    assert_eq!(attempts_of(&app, old_pending).await, 3);
    let answer = app
        .gql(
            Some(app.admin_token()),
            "{ organization { webhooks { deliveries(first: 10) { nodes { id status attempts } } } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({ "data": { "organization": { "webhooks": [{ "deliveries": { "nodes": [
            { "id": old_pending.to_string(), "status": "PENDING", "attempts": 3 },
            { "id": recent.to_string(), "status": "DELIVERED", "attempts": 2 },
        ] } }] } } })
    );

    let audit_ids: Vec<Uuid> = audit_event::Entity::find()
        .filter(audit_event::Column::Id.is_in([old_unowned, recent_unowned, old_owned]))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(audit_ids.len(), 2, "{audit_ids:?}");
    assert!(!audit_ids.contains(&old_unowned));
}
