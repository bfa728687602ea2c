//! The plain-text log line, written without tracing-subscriber's default
//! formatter: that one wraps every part in colour styles even when colours
//! are off and formats its timestamp through `fmt`, which made the one
//! `info` line per request cost more than verifying the request's
//! credential (BENCHMARKS.md). The line reads as the default one does:
//!
//! ```text
//! 2026-12-07T17:58:01.123456Z  INFO request{method=POST path=/lynkapi request_id=…}: lynk::request: finished processing request status=200 latency_us=412
//! ```

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Datelike};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// The event format: timestamp, level, the spans from the root with their
/// fields, target, then the event's message and fields.
pub struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        writer.write_str(timestamp(since_epoch.as_secs(), since_epoch.subsec_micros()).as_str())?;
        let metadata = event.metadata();
        writer.write_str(level(metadata.level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(metadata.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The level, padded to five characters as the default format pads it,
/// and a space.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR ",
        Level::WARN => " WARN ",
        Level::INFO => " INFO ",
        Level::DEBUG => "DEBUG ",
        Level::TRACE => "TRACE ",
    }
}

/// Fields as `name=value` separated by spaces, the message first and bare;
/// values as their `Debug` (so a string field is quoted, a `%` field is
/// its `Display`), without colour styles.
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    fn separate(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self.separate().and_then(|()| {
            if field.name() == "message" {
                write!(self.writer, "{value:?}")
            } else {
                write!(self.writer, "{}={value:?}", field.name())
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_integer(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_integer(field, itoa::Buffer::new().format(value));
    }
}

impl PlainVisitor<'_> {
    /// `name=digits`, without `fmt`.
    fn record_integer(&mut self, field: &Field, digits: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = self.separate().and_then(|()| {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
            self.writer.write_str(digits)
        });
    }
}

/// An RFC 3339 timestamp in UTC with microseconds and a trailing space:
/// `2026-12-07T17:58:01.123456Z `.
struct Timestamp([u8; 28]);

impl Timestamp {
    fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn timestamp(seconds: u64, micros: u32) -> Timestamp {
    let of_day = seconds % 86_400;
    // chrono's calendar arithmetic, without its formatting.
    let date = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .map(|at| at.date_naive())
        .unwrap_or_default();
    let mut text = *b"0000-00-00T00:00:00.000000Z ";
    put(
        &mut text[0..4],
        u64::try_from(date.year()).unwrap_or_default(),
    );
    put(&mut text[5..7], u64::from(date.month()));
    put(&mut text[8..10], u64::from(date.day()));
    put(&mut text[11..13], of_day / 3600);
    put(&mut text[14..16], of_day % 3600 / 60);
    put(&mut text[17..19], of_day % 60);
    put(&mut text[20..26], u64::from(micros));
    Timestamp(text)
}

/// Writes `value` as decimal digits filling `digits`, zero-padded.
fn put(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;

    use super::*;

    #[test]
    fn timestamps_match_chrono_across_leap_years_and_centuries() {
        let mut seconds = 0u64;
        // Every 7 days and a bit from 1970 to past 2400, and the edges of
        // days around leap days.
        while seconds < 13_800_000_000 {
            let ours = timestamp(seconds, 123_456);
            let chrono = DateTime::from_timestamp(seconds as i64, 123_456_000)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(ours.as_str(), format!("{chrono} "));
            seconds += 7 * 86_400 + 3_599;
        }
        assert_eq!(
            timestamp(951_782_400, 0).as_str(),
            "2000-02-29T00:00:00.000000Z "
        );
        assert_eq!(
            timestamp(4_107_542_399, 999_999).as_str(),
            "2100-02-28T23:59:59.999999Z "
        );
    }

    /// What a subscriber with this format writes, as the server sets it up.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_request_line_names_its_span_fields_and_its_own() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(PlainFields)
            .event_format(Line)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                method = %"POST",
                path = %"/lynkapi",
                request_id = %"0193-abc"
            );
            let _entered = span.enter();
            tracing::info!(
                status = 200u16,
                latency_us = 412u64,
                note = "a \"b\"",
                "finished processing request"
            );
            tracing::warn!(failures = -3i64, "odd");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (time, rest) = lines[0].split_at(28);
        assert!(
            DateTime::parse_from_rfc3339(time.trim_end()).is_ok(),
            "{time}"
        );
        assert_eq!(
            rest,
            " INFO request{method=POST path=/lynkapi request_id=0193-abc}: \
             lynk::telemetry::line::tests: finished processing request status=200 \
             latency_us=412 note=\"a \\\"b\\\"\""
        );
        assert!(lines[1].ends_with(
            " WARN request{method=POST path=/lynkapi request_id=0193-abc}: \
             lynk::telemetry::line::tests: odd failures=-3"
        ));
    }

    #[test]
    fn levels_line_up_as_the_default_format_does() {
        for level in [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ] {
            assert_eq!(super::level(&level).len(), 6);
            assert_eq!(super::level(&level).trim(), level.as_str());
        }
    }
}
