//! A webhook: an organization's HTTPS endpoint and the events it receives
//! (docs/DESIGN.md §8.4).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    /// Space-separated event names, in `EventType` order.
    pub events: String,
    pub active: bool,
    /// The signing secret sealed with the server's key (`webhook::seal`).
    pub secret_sealed: String,
    /// `whsec_` and the secret's first and last characters; never the secret.
    pub secret_hint: String,
    pub created_by_user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// When lynk stopped delivering to it because it kept failing
    /// (`webhook::health`); `active` is then false.
    pub parked_at: Option<DateTimeUtc>,
    /// The first failed attempt since the last delivered one.
    pub failing_since: Option<DateTimeUtc>,
    /// Failed attempts since the last delivered one.
    pub failures_in_a_row: i32,
}

// Not derived: even sealed, the secret stays out of logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook::Model")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("active", &self.active)
            .field("secret_hint", &self.secret_hint)
            .field("parked_at", &self.parked_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
