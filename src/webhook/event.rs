//! The events lynk announces (docs/DESIGN.md §8.4) and the body every delivery of
//! one carries: `{"type","timestamp","data"}`. Pure: names, parsing and
//! the body's shape, with tests beside them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use sea_orm::{EnumIter, Iterable};

use crate::auth::{Permission, permission::PermissionSet};

/// One kind of event a webhook can subscribe to, in the order
/// docs/DESIGN.md §8.4 lists them. This enum is the catalog:
/// `Query.webhookEvents` lists it (the console's event picker reads it
/// from there), and a new event is a variant plus the `match` arms the
/// compiler asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter)]
pub enum EventType {
    TokenCreated,
    TokenRevoked,
    TokenRotated,
    TokenExpiring,
    TokenExpired,
    TokenLeaked,
    TokenInactive,
    TokenRejected,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    SbomUploaded,
}

impl EventType {
    /// The wire name, e.g. `token.created`.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::TokenCreated => "token.created",
            EventType::TokenRevoked => "token.revoked",
            EventType::TokenRotated => "token.rotated",
            EventType::TokenExpiring => "token.expiring",
            EventType::TokenExpired => "token.expired",
            EventType::TokenLeaked => "token.leaked",
            EventType::TokenInactive => "token.inactive",
            EventType::TokenRejected => "token.rejected",
            EventType::MemberAdded => "member.added",
            EventType::MemberRemoved => "member.removed",
            EventType::MemberRoleChanged => "member.role_changed",
            EventType::SbomUploaded => "sbom.uploaded",
        }
    }

    /// What a subscriber must be allowed to read to receive this event:
    /// its `data` describes tokens, members or SBOMs, so a webhook is no
    /// way around the permissions that guard them.
    pub const fn required_permission(self) -> Permission {
        match self {
            EventType::TokenCreated
            | EventType::TokenRevoked
            | EventType::TokenRotated
            | EventType::TokenExpiring
            | EventType::TokenExpired
            | EventType::TokenLeaked
            | EventType::TokenInactive
            | EventType::TokenRejected => Permission::TokensRead,
            EventType::MemberAdded | EventType::MemberRemoved | EventType::MemberRoleChanged => {
                Permission::MembersRead
            }
            EventType::SbomUploaded => Permission::SbomsRead,
        }
    }

    /// The event named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::iter().find(|event| event.name() == name)
    }
}

/// A set of events as stored: space-separated names in [`EventType`]
/// order, each once.
pub fn to_storage(events: &[EventType]) -> String {
    EventType::iter()
        .filter(|event| events.contains(event))
        .map(EventType::name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The events of a stored set; names this build does not know are skipped.
pub fn from_storage(stored: &str) -> Vec<EventType> {
    stored
        .split_whitespace()
        .filter_map(EventType::from_name)
        .collect()
}

/// Event names as a client sends them, checked: at least one, each known.
/// The error names what is wrong and lists what is valid.
pub fn parse_names(names: &[String]) -> Result<Vec<EventType>, String> {
    if names.is_empty() {
        return Err(format!(
            "events must name at least one event: {}",
            valid_names()
        ));
    }
    names
        .iter()
        .map(|name| {
            EventType::from_name(name.trim()).ok_or_else(|| {
                format!(
                    "unknown event `{}`; valid events: {}",
                    name.chars().take(64).collect::<String>(),
                    valid_names()
                )
            })
        })
        .collect()
}

/// The first permission `held` lacks for receiving `events`, if any.
pub fn missing_permission(events: &[EventType], held: PermissionSet) -> Option<Permission> {
    events
        .iter()
        .map(|event| event.required_permission())
        .find(|permission| !held.contains(*permission))
}

/// The names of the events `held` may read: what it may see of a
/// webhook's deliveries.
pub fn readable_names(held: PermissionSet) -> Vec<&'static str> {
    EventType::iter()
        .filter(|event| held.contains(event.required_permission()))
        .map(EventType::name)
        .collect()
}

fn valid_names() -> String {
    EventType::iter()
        .map(EventType::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The body of every delivery of one event.
pub fn body(event: EventType, at: DateTime<Utc>, data: Value) -> String {
    json!({
        "type": event.name(),
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_events_follow_the_permissions() {
        let held = PermissionSet::of(&[Permission::WebhooksWrite, Permission::SbomsRead]);
        assert_eq!(readable_names(held), ["sbom.uploaded"]);
        assert!(readable_names(PermissionSet::of(&[Permission::WebhooksRead])).is_empty());
        assert_eq!(
            readable_names(PermissionSet::all()).len(),
            EventType::iter().len()
        );
    }

    #[test]
    fn names_round_trip() {
        for event in EventType::iter() {
            assert_eq!(EventType::from_name(event.name()), Some(event));
        }
        assert_eq!(EventType::from_name("token.*"), None);
    }

    #[test]
    fn storage_is_ordered_and_deduplicated() {
        let stored = to_storage(&[
            EventType::SbomUploaded,
            EventType::TokenCreated,
            EventType::SbomUploaded,
        ]);
        assert_eq!(stored, "token.created sbom.uploaded");
        assert_eq!(
            from_storage("token.created gone.away sbom.uploaded"),
            [EventType::TokenCreated, EventType::SbomUploaded]
        );
    }

    #[test]
    fn client_names_are_checked_with_a_useful_error() {
        assert_eq!(
            parse_names(&["token.leaked".into()]),
            Ok(vec![EventType::TokenLeaked])
        );
        let unknown = parse_names(&["token.deleted".into()]).unwrap_err();
        assert!(unknown.starts_with("unknown event `token.deleted`; valid events: token.created,"));
        assert!(parse_names(&[]).unwrap_err().contains("at least one"));
    }

    #[test]
    fn receiving_an_event_needs_reading_what_it_describes() {
        let uploader =
            PermissionSet::parse(["projects:read", "sboms:read", "sboms:write"]).unwrap();
        assert_eq!(
            missing_permission(&[EventType::SbomUploaded], uploader),
            None
        );
        assert_eq!(
            missing_permission(&[EventType::SbomUploaded, EventType::TokenLeaked], uploader),
            Some(Permission::TokensRead)
        );
        assert_eq!(
            missing_permission(&[EventType::MemberAdded], uploader),
            Some(Permission::MembersRead)
        );
        assert_eq!(
            missing_permission(&EventType::iter().collect::<Vec<_>>(), PermissionSet::all()),
            None
        );
    }

    #[test]
    fn the_body_has_type_timestamp_and_data() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T11:30:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            body(EventType::TokenCreated, at, json!({"token": {"id": "t"}})),
            r#"{"data":{"token":{"id":"t"}},"timestamp":"2026-12-02T11:30:00.123Z","type":"token.created"}"#
        );
    }
}
