//! Trusted publishing, second generation (docs/DESIGN.md §9): what a
//! publisher asks of a token beyond its issuer, audience and subject.
//! Pure functions, tested beside them.
//!
//! - **Conditions**: `{claim, equals | prefix | oneOf}`; every one must
//!   hold, and a claim the token lacks fails its condition.
//! - **Pins**: the first exchange records the immutable ids among
//!   [`PINNABLE_CLAIMS`] the token carries; a later token must carry the
//!   same values, so that a renamed or re-created repository, project or
//!   owner (same name, another id) cannot inherit the publisher.
//! - **Lifetime** of the exchanged token, [`MIN_LIFETIME_SECS`] to
//!   [`MAX_LIFETIME_SECS`].
//! - **Reasons**: why a token fails a publisher, for `explainOidcExchange`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Claims, ExchangeFailure, MAX_FIELD_CHARS, PublisherRule, subject_matches};
use crate::error::Error;

/// The immutable-id claims a publisher pins: GitHub's `repository_id`
/// and `repository_owner_id`, GitLab's `project_id` and `namespace_id`.
pub const PINNABLE_CLAIMS: [&str; 4] = [
    "repository_id",
    "repository_owner_id",
    "project_id",
    "namespace_id",
];

/// Shortest lifetime of an exchanged token, in seconds.
pub const MIN_LIFETIME_SECS: i32 = 60;
/// Longest lifetime of an exchanged token, in seconds (6 hours).
pub const MAX_LIFETIME_SECS: i32 = 21_600;
/// The lifetime when none is given (15 minutes).
pub const DEFAULT_LIFETIME_SECS: i32 = 900;
/// Most conditions of one publisher.
pub const MAX_CONDITIONS: usize = 10;
/// Most values of one `oneOf`.
pub const MAX_ONE_OF: usize = 50;
/// Longest claim name in a condition.
pub const MAX_CLAIM_NAME_CHARS: usize = 64;

/// Claims a condition may not name: the ones lynk checks itself
/// (`iss`, `aud` and `sub` through the publisher's own fields, the times
/// and `jti` by the exchange).
const RESERVED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// What a condition requires of its claim's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Test {
    Equals(String),
    Prefix(String),
    OneOf(Vec<String>),
}

/// One condition of a publisher, stored as
/// `{"claim": "…", "equals" | "prefix" | "oneOf": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCondition {
    pub claim: String,
    #[serde(flatten)]
    pub test: Test,
}

impl ClaimCondition {
    /// Whether `claims` satisfy it: the claim is there and its value
    /// passes the test.
    pub fn holds(&self, claims: &Claims) -> bool {
        let Some(value) = claim_value(claims, &self.claim) else {
            return false;
        };
        match &self.test {
            Test::Equals(expected) => value == *expected,
            Test::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Test::OneOf(values) => values.contains(&value),
        }
    }
}

/// A condition as given to `createTrustedPublisher` or
/// `updateTrustedPublisher`, before validation.
#[derive(Clone, Debug, Default)]
pub struct ConditionInput {
    pub claim: String,
    pub equals: Option<String>,
    pub prefix: Option<String>,
    pub one_of: Option<Vec<String>>,
}

/// One pinned claim and its value, stored as `{"claim", "value"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimValue {
    pub claim: String,
    pub value: String,
}

/// A claim's value as text: the `sub` and the other claims when they are
/// a string, a number or a boolean. `None` when absent or of another type.
pub fn claim_value(claims: &Claims, name: &str) -> Option<String> {
    if name == "sub" {
        return Some(claims.sub.clone());
    }
    match claims.other.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn check_value(what: &str, value: &str) -> Result<(), Error> {
    let len = value.chars().count();
    if len == 0 || len > MAX_FIELD_CHARS {
        return Err(Error::bad_input(format!(
            "{what} must be between 1 and {MAX_FIELD_CHARS} characters (got {len})"
        )));
    }
    Ok(())
}

/// Validates conditions as given: each names a claim (letters, digits,
/// `_`, `-`, `.`, at most [`MAX_CLAIM_NAME_CHARS`], not one lynk checks
/// itself) and exactly one of `equals`, `prefix` and `oneOf`; at most
/// [`MAX_CONDITIONS`].
pub fn validate_conditions(inputs: Vec<ConditionInput>) -> Result<Vec<ClaimCondition>, Error> {
    if inputs.len() > MAX_CONDITIONS {
        return Err(Error::bad_input(format!(
            "a trusted publisher has at most {MAX_CONDITIONS} conditions (got {})",
            inputs.len()
        )));
    }
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| validate_condition(i, input))
        .collect()
}

fn validate_condition(index: usize, input: ConditionInput) -> Result<ClaimCondition, Error> {
    let at = format!("conditions[{index}]");
    let claim = input.claim.trim().to_owned();
    let name_ok = !claim.is_empty()
        && claim.chars().count() <= MAX_CLAIM_NAME_CHARS
        && claim
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(Error::bad_input(format!(
            "{at}.claim must be a claim name of 1 to {MAX_CLAIM_NAME_CHARS} letters, digits, \
             `_`, `-` or `.`, such as `job_workflow_ref` (got `{}`)",
            input.claim.chars().take(80).collect::<String>()
        )));
    }
    if RESERVED_CLAIMS.contains(&claim.as_str()) {
        return Err(Error::bad_input(format!(
            "{at}.claim `{claim}` is checked by lynk itself (issuer, audience, times, jti); \
             name another claim, such as `job_workflow_ref` or `environment`"
        )));
    }
    let test = match (input.equals, input.prefix, input.one_of) {
        (Some(value), None, None) => {
            check_value(&format!("{at}.equals"), &value)?;
            Test::Equals(value)
        }
        (None, Some(value), None) => {
            check_value(&format!("{at}.prefix"), &value)?;
            Test::Prefix(value)
        }
        (None, None, Some(values)) => {
            if values.is_empty() || values.len() > MAX_ONE_OF {
                return Err(Error::bad_input(format!(
                    "{at}.oneOf must hold 1 to {MAX_ONE_OF} values (got {})",
                    values.len()
                )));
            }
            for value in &values {
                check_value(&format!("{at}.oneOf"), value)?;
            }
            Test::OneOf(values)
        }
        _ => {
            return Err(Error::bad_input(format!(
                "{at} must give exactly one of `equals`, `prefix` and `oneOf` for claim `{claim}`"
            )));
        }
    };
    Ok(ClaimCondition { claim, test })
}

/// A publisher's `tokenLifetimeSeconds`: [`DEFAULT_LIFETIME_SECS`] when
/// not given, else within [`MIN_LIFETIME_SECS`]..=[`MAX_LIFETIME_SECS`].
pub fn validate_lifetime(value: Option<i32>) -> Result<i32, Error> {
    match value {
        None => Ok(DEFAULT_LIFETIME_SECS),
        Some(secs) if (MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&secs) => Ok(secs),
        Some(secs) => Err(Error::bad_input(format!(
            "tokenLifetimeSeconds must be between {MIN_LIFETIME_SECS} and {MAX_LIFETIME_SECS} \
             (1 minute to 6 hours; got {secs})"
        ))),
    }
}

/// The stored form of conditions.
pub fn conditions_to_storage(conditions: &[ClaimCondition]) -> String {
    serde_json::to_string(conditions).unwrap_or_else(|_| "[]".to_owned())
}

/// Conditions read back; a row lynk cannot read holds a condition no
/// token satisfies, so it fails closed.
pub fn conditions_from_storage(stored: &str) -> Vec<ClaimCondition> {
    serde_json::from_str(stored).unwrap_or_else(|_| {
        vec![ClaimCondition {
            claim: "unreadable condition".to_owned(),
            test: Test::OneOf(Vec::new()),
        }]
    })
}

/// The stored form of pins.
pub fn pins_to_storage(pins: &[ClaimValue]) -> String {
    serde_json::to_string(pins).unwrap_or_else(|_| "[]".to_owned())
}

/// Pins read back (`None`: nothing pinned yet). Unreadable pins fail
/// closed: a pin no token carries.
pub fn pins_from_storage(stored: Option<&str>) -> Option<Vec<ClaimValue>> {
    stored.map(|text| {
        serde_json::from_str(text).unwrap_or_else(|_| {
            vec![ClaimValue {
                claim: "unreadable pin".to_owned(),
                value: String::new(),
            }]
        })
    })
}

/// The immutable ids `claims` carry, in [`PINNABLE_CLAIMS`] order.
pub fn pins_of(claims: &Claims) -> Vec<ClaimValue> {
    PINNABLE_CLAIMS
        .iter()
        .filter_map(|name| {
            claim_value(claims, name).map(|value| ClaimValue {
                claim: (*name).to_owned(),
                value,
            })
        })
        .collect()
}

/// The pinned claims `claims` do not carry with the pinned value.
pub fn pin_mismatches<'a>(pinned: &'a [ClaimValue], claims: &Claims) -> Vec<&'a str> {
    pinned
        .iter()
        .filter(|pin| claim_value(claims, &pin.claim).as_deref() != Some(pin.value.as_str()))
        .map(|pin| pin.claim.as_str())
        .collect()
}

/// The conditions `claims` fail, by claim name.
pub fn failed_conditions<'a>(conditions: &'a [ClaimCondition], claims: &Claims) -> Vec<&'a str> {
    conditions
        .iter()
        .filter(|condition| !condition.holds(claims))
        .map(|condition| condition.claim.as_str())
        .collect()
}

/// Everything one publisher asks of a token.
#[derive(Clone, Copy, Debug)]
pub struct Requirements<'a> {
    pub rule: PublisherRule<'a>,
    pub conditions: &'a [ClaimCondition],
    /// `None` before the first exchange (or when it does not pin).
    pub pinned: Option<&'a [ClaimValue]>,
}

/// Why verified `claims` fail `requirements`, one reason per failed
/// check: `audience`, `subject`, `condition <claim>`, `pinned <claim>`;
/// and the time or `jti` check that failed (`expired`, …), when `times`
/// says so. Empty when the token would be exchanged (bar a replay).
pub fn reasons(
    requirements: Requirements<'_>,
    claims: &Claims,
    times: Result<(), ExchangeFailure>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Err(failure) = times {
        reasons.push(failure.as_str().to_owned());
    }
    if claims.iss != requirements.rule.issuer {
        reasons.push("issuer".to_owned());
    }
    if !claims.aud.contains(requirements.rule.audience) {
        reasons.push("audience".to_owned());
    }
    if !subject_matches(requirements.rule.subject, &claims.sub) {
        reasons.push("subject".to_owned());
    }
    for claim in failed_conditions(requirements.conditions, claims) {
        reasons.push(format!("condition {claim}"));
    }
    if let Some(pinned) = requirements.pinned {
        for claim in pin_mismatches(pinned, claims) {
            reasons.push(format!("pinned {claim}"));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(extra: Value) -> Claims {
        let mut base = json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:acme/shop-api:ref:refs/heads/main",
            "aud": "lynk",
            "exp": 1_000_300,
            "iat": 999_990,
            "jti": "j",
            "repository": "acme/shop-api",
            "repository_id": "123",
            "repository_owner_id": 77,
            "ref_protected": true,
            "job_workflow_ref": "acme/workflows/.github/workflows/sbom.yml@refs/tags/v1",
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn input(claim: &str) -> ConditionInput {
        ConditionInput {
            claim: claim.to_owned(),
            ..ConditionInput::default()
        }
    }

    fn message(err: Error) -> String {
        match err {
            Error::BadUserInput(message) => message,
            other => panic!("not BAD_USER_INPUT: {other:?}"),
        }
    }

    #[test]
    fn each_kind_of_condition_holds_or_fails() {
        let c = claims(json!({}));
        let cond = |claim: &str, test: Test| ClaimCondition {
            claim: claim.into(),
            test,
        };
        let wf = "acme/workflows/.github/workflows/sbom.yml@refs/tags/v1";
        assert!(cond("job_workflow_ref", Test::Equals(wf.into())).holds(&c));
        assert!(!cond("job_workflow_ref", Test::Equals("acme/x".into())).holds(&c));
        assert!(cond("job_workflow_ref", Test::Prefix("acme/workflows/".into())).holds(&c));
        assert!(!cond("job_workflow_ref", Test::Prefix("evil/".into())).holds(&c));
        assert!(
            cond(
                "repository",
                Test::OneOf(vec!["a/b".into(), "acme/shop-api".into()])
            )
            .holds(&c)
        );
        assert!(!cond("repository", Test::OneOf(vec!["a/b".into()])).holds(&c));
        // Numbers and booleans compare as their text; `sub` is a claim too.
        assert!(cond("repository_owner_id", Test::Equals("77".into())).holds(&c));
        assert!(cond("ref_protected", Test::Equals("true".into())).holds(&c));
        assert!(cond("sub", Test::Prefix("repo:acme/".into())).holds(&c));
        // A missing claim fails every kind, even a prefix of nothing.
        assert!(!cond("environment", Test::Prefix("p".into())).holds(&c));
        assert!(!cond("environment", Test::OneOf(vec!["".into()])).holds(&c));
        let all = [
            cond("repository", Test::Equals("acme/shop-api".into())),
            cond("environment", Test::Equals("production".into())),
        ];
        assert_eq!(failed_conditions(&all, &c), vec!["environment"]);
    }

    #[test]
    fn a_condition_names_a_claim_and_exactly_one_test() {
        let ok = validate_conditions(vec![ConditionInput {
            equals: Some("x".into()),
            ..input(" environment ")
        }])
        .unwrap();
        assert_eq!(ok[0].claim, "environment");
        for bad in [
            input("environment"),
            ConditionInput {
                equals: Some("x".into()),
                prefix: Some("y".into()),
                ..input("environment")
            },
            ConditionInput {
                equals: Some("x".into()),
                one_of: Some(vec!["y".into()]),
                ..input("environment")
            },
        ] {
            let text = message(validate_conditions(vec![bad]).unwrap_err());
            assert!(
                text.contains("exactly one of `equals`, `prefix` and `oneOf`"),
                "{text}"
            );
        }
        let text = message(
            validate_conditions(vec![ConditionInput {
                one_of: Some(vec![]),
                ..input("ref")
            }])
            .unwrap_err(),
        );
        assert!(
            text.contains("conditions[0].oneOf must hold 1 to 50"),
            "{text}"
        );
        for name in ["", "a b", "x\"y", &"a".repeat(65)] {
            let text = message(
                validate_conditions(vec![ConditionInput {
                    equals: Some("x".into()),
                    ..input(name)
                }])
                .unwrap_err(),
            );
            assert!(text.contains("must be a claim name"), "{text}");
        }
        let text = message(
            validate_conditions(vec![ConditionInput {
                equals: Some("x".into()),
                ..input("aud")
            }])
            .unwrap_err(),
        );
        assert!(text.contains("checked by lynk itself"), "{text}");
        let text = message(
            validate_conditions(vec![ConditionInput {
                prefix: Some(String::new()),
                ..input("ref")
            }])
            .unwrap_err(),
        );
        assert!(
            text.contains("conditions[0].prefix must be between 1 and 255"),
            "{text}"
        );
        let many = vec![
            ConditionInput {
                equals: Some("x".into()),
                ..input("ref")
            };
            11
        ];
        assert!(message(validate_conditions(many).unwrap_err()).contains("at most 10"));
    }

    #[test]
    fn lifetimes_are_a_minute_to_six_hours() {
        assert_eq!(validate_lifetime(None).unwrap(), 900);
        assert_eq!(validate_lifetime(Some(60)).unwrap(), 60);
        assert_eq!(validate_lifetime(Some(21_600)).unwrap(), 21_600);
        for bad in [59, 21_601, 0, -1] {
            let text = message(validate_lifetime(Some(bad)).unwrap_err());
            assert!(text.contains("between 60 and 21600"), "{text}");
            assert!(text.contains(&format!("got {bad}")), "{text}");
        }
    }

    #[test]
    fn pins_are_the_immutable_ids_present() {
        let c = claims(json!({}));
        let pins = pins_of(&c);
        assert_eq!(
            pins,
            vec![
                ClaimValue {
                    claim: "repository_id".into(),
                    value: "123".into()
                },
                ClaimValue {
                    claim: "repository_owner_id".into(),
                    value: "77".into()
                },
            ]
        );
        assert!(pin_mismatches(&pins, &c).is_empty());
        let recreated = claims(json!({"repository_id": "999"}));
        assert_eq!(pin_mismatches(&pins, &recreated), vec!["repository_id"]);
        let mut without = claims(json!({}));
        without.other.remove("repository_owner_id");
        assert_eq!(pin_mismatches(&pins, &without), vec!["repository_owner_id"]);
        let stored = pins_to_storage(&pins);
        assert_eq!(pins_from_storage(Some(&stored)), Some(pins));
        assert_eq!(pins_from_storage(None), None);
        // Unreadable pins match nothing.
        let broken = pins_from_storage(Some("not json")).unwrap();
        assert_eq!(pin_mismatches(&broken, &c).len(), 1);
    }

    #[test]
    fn conditions_round_trip_and_unreadable_ones_fail_closed() {
        let conditions = vec![
            ClaimCondition {
                claim: "ref".into(),
                test: Test::Equals("refs/heads/main".into()),
            },
            ClaimCondition {
                claim: "environment".into(),
                test: Test::OneOf(vec!["prod".into()]),
            },
        ];
        let stored = conditions_to_storage(&conditions);
        assert_eq!(
            serde_json::from_str::<Value>(&stored).unwrap(),
            json!([{"claim": "ref", "equals": "refs/heads/main"},
                   {"claim": "environment", "oneOf": ["prod"]}])
        );
        assert_eq!(conditions_from_storage(&stored), conditions);
        let broken = conditions_from_storage("{");
        assert_eq!(failed_conditions(&broken, &claims(json!({}))).len(), 1);
    }

    #[test]
    fn reasons_name_every_failed_check() {
        let c = claims(json!({}));
        let conditions = vec![ClaimCondition {
            claim: "job_workflow_ref".into(),
            test: Test::Prefix("other/".into()),
        }];
        let pinned = vec![ClaimValue {
            claim: "repository_id".into(),
            value: "1".into(),
        }];
        let requirements = Requirements {
            rule: PublisherRule {
                issuer: "https://token.actions.githubusercontent.com",
                audience: "other",
                subject: "repo:acme/other:*",
            },
            conditions: &conditions,
            pinned: Some(&pinned),
        };
        assert_eq!(
            reasons(requirements, &c, Err(ExchangeFailure::Expired)),
            vec![
                "expired",
                "audience",
                "subject",
                "condition job_workflow_ref",
                "pinned repository_id"
            ]
        );
        let fine = Requirements {
            rule: PublisherRule {
                issuer: "https://token.actions.githubusercontent.com",
                audience: "lynk",
                subject: "repo:acme/shop-api:*",
            },
            conditions: &[],
            pinned: None,
        };
        assert!(reasons(fine, &c, Ok(())).is_empty());
    }
}
