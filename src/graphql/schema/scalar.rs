//! The `DateTime` scalar: RFC 3339 in UTC, written with `Z` and at most
//! millisecond precision (`2026-12-02T11:30:00Z`, `2026-12-02T11:30:00.123Z`),
//! so that clients can compare what they sent with what they get back as
//! text. Input takes any RFC 3339 date-time, with any offset.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Utc};

/// A point in time as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Timestamp(at)
    }
}

impl Timestamp {
    /// The wire form: UTC, `Z`, milliseconds only when there are any.
    pub fn format(at: DateTime<Utc>) -> String {
        crate::service::policy::format_instant(at)
    }
}

/// RFC 3339 date-time in UTC, e.g. `2026-12-31T23:59:59Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => DateTime::parse_from_rfc3339(text)
                .map(|at| Timestamp(at.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(format!(
                        "`{text}` is not an RFC 3339 date-time; write e.g. 2026-12-31T23:59:59Z"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(Timestamp::format(self.0))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn written_in_utc_with_z_and_at_most_milliseconds() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 2, 11, 30, 0).unwrap();
        assert_eq!(Timestamp::format(whole), "2026-12-02T11:30:00Z");
        let fine = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(Timestamp::format(fine), "2026-12-02T11:30:00.123Z");
    }

    #[test]
    fn any_offset_is_read_and_anything_else_is_refused() {
        let parsed = Timestamp::parse(Value::String("2026-12-02T12:30:00+01:00".into())).unwrap();
        assert_eq!(Timestamp::format(parsed.0), "2026-12-02T11:30:00Z");
        assert!(Timestamp::parse(Value::String("tomorrow".into())).is_err());
        assert!(Timestamp::parse(Value::Number(1.into())).is_err());
    }
}
