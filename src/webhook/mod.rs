//! Signals (docs/DESIGN.md §8.4): webhooks and what feeds them. Events are queued in
//! the transaction of the change that causes them (`outbox`), sealed
//! secrets sign them (`seal`, `signature`), and a background sender
//! delivers them (`sender`), retrying on a schedule (`schedule`) and only
//! to public addresses (`resolver`), parking a webhook that keeps failing
//! (`health`). `notices` announces tokens' expiry.

pub mod address;
pub mod data;
pub mod event;
pub mod health;
pub mod notices;
pub mod outbox;
pub mod resolver;
pub mod schedule;
pub mod seal;
pub mod secret;
pub mod sender;
pub mod signature;
