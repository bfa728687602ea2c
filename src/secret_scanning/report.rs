//! What a secret scanner sends and what lynk answers, in GitHub's
//! secret-scanning partner format: a JSON array of
//! `{"token","type","url","source"}`, answered with
//! `[{"token_raw","token_type","label"}]` in the same order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Most reports one request may carry.
pub const MAX_REPORTS: usize = 1000;

/// One string found by the scanner. `Debug` never shows the token.
#[derive(Clone, Deserialize)]
pub struct Report {
    /// The string found (maybe a lynk secret, maybe not).
    pub token: String,
    /// The scanner's name for the pattern that matched.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found (a commit, an issue comment…).
    pub url: String,
    /// What kind of place that is (`content`, `commit`, `issue_comment`…).
    pub source: String,
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("token", &"[redacted]")
            .field("type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Whether a report named a live lynk secret, which lynk has now revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A live lynk secret: revoked by this report.
    TruePositive,
    /// Not a lynk secret, or not one that still worked.
    FalsePositive,
}

/// The answer about one report.
#[derive(Debug, Serialize)]
pub struct Feedback<'a> {
    pub token_raw: &'a str,
    pub token_type: &'a str,
    pub label: Label,
}

/// Parses a batch of at most [`MAX_REPORTS`]. The error never quotes the
/// body (it may hold secrets), only where it went wrong.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Report>, Error> {
    let reports: Vec<Report> = serde_json::from_slice(body).map_err(|err| {
        Error::BadRequest(format!(
            "the body must be a JSON array of {{\"token\",\"type\",\"url\",\"source\"}} objects \
             (error at line {}, column {})",
            err.line(),
            err.column()
        ))
    })?;
    if reports.len() > MAX_REPORTS {
        return Err(Error::BadRequest(format!(
            "too many reports: at most {MAX_REPORTS} per request, this one has {}",
            reports.len()
        )));
    }
    Ok(reports)
}

/// The answer: each report's token and type, with its label, in order.
pub fn feedback<'a>(reports: &'a [Report], labels: &[Label]) -> Vec<Feedback<'a>> {
    reports
        .iter()
        .zip(labels)
        .map(|(report, &label)| Feedback {
            token_raw: &report.token,
            token_type: &report.token_type,
            label,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(err: Error) -> String {
        err.message()
    }

    #[test]
    fn a_batch_parses_in_order() {
        let body = json!([
            {"token": "a", "type": "lynk_personal", "url": "https://x/1", "source": "content"},
            {"token": "b", "type": "lynk_service", "url": "https://x/2", "source": "commit"},
        ]);
        let reports = parse_batch(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].token, "a");
        assert_eq!(reports[1].token_type, "lynk_service");
        assert_eq!(reports[1].url, "https://x/2");
        assert_eq!(reports[1].source, "commit");
        assert!(parse_batch(b"[]").unwrap().is_empty());
    }

    #[test]
    fn a_malformed_body_is_refused_without_quoting_it() {
        for body in [
            &br#"{"token":"lynk_live_secret"}"#[..],
            br#"[{"token":"lynk_live_secret","type":"t","url":"u"}]"#,
            br#"["lynk_live_secret"]"#,
            br#"[{"token":7,"type":"lynk_live_secret","url":"u","source":"s"}]"#,
            b"not json",
        ] {
            let err = parse_batch(body).unwrap_err();
            assert_eq!(err.code(), "BAD_REQUEST");
            let text = message(err);
            assert!(text.starts_with("the body must be a JSON array"), "{text}");
            assert!(!text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn more_than_the_limit_is_refused_naming_it() {
        let one = json!({"token": "t", "type": "t", "url": "u", "source": "s"});
        let at_limit = serde_json::to_vec(&vec![one.clone(); MAX_REPORTS]).unwrap();
        assert_eq!(parse_batch(&at_limit).unwrap().len(), MAX_REPORTS);
        let over = serde_json::to_vec(&vec![one; MAX_REPORTS + 1]).unwrap();
        assert_eq!(
            message(parse_batch(&over).unwrap_err()),
            "too many reports: at most 1000 per request, this one has 1001"
        );
    }

    #[test]
    fn the_answer_echoes_token_and_type_with_snake_case_labels() {
        let reports = parse_batch(
            br#"[{"token":"a","type":"ta","url":"u","source":"s"},{"token":"b","type":"tb","url":"u","source":"s"}]"#,
        )
        .unwrap();
        let answer = feedback(&reports, &[Label::TruePositive, Label::FalsePositive]);
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!([
                {"token_raw": "a", "token_type": "ta", "label": "true_positive"},
                {"token_raw": "b", "token_type": "tb", "label": "false_positive"},
            ])
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let report = Report {
            token: "lynk_live_visible".into(),
            token_type: "t".into(),
            url: "https://x".into(),
            source: "content".into(),
        };
        let shown = format!("{report:?}");
        assert!(!shown.contains("lynk_live_visible"), "{shown}");
        assert!(shown.contains("https://x"));
    }
}
