//! Signals (DESIGN §8): webhooks and what feeds them. Events are queued in
//! the transaction of the change that causes them (`outbox`), sealed
//! secrets sign them (`seal`), and a background sender delivers them.

pub mod address;
pub mod data;
pub mod event;
pub mod outbox;
pub mod seal;
pub mod secret;
