//! Pages and files compiled into the binary, with the headers that confine
//! them in a browser. The console (`GET /`) and GraphiQL (`GET /lynkapi`)
//! both serve through here, so both get the same protections.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// `Content-Type` of a script.
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// `Content-Type` of a stylesheet.
pub const CSS: &str = "text/css; charset=utf-8";
/// `Content-Type` of a PNG image.
pub const PNG: &str = "image/png";

/// Asset names are not content-hashed, so an upgrade keeps its URLs: cache
/// for an hour rather than forever, so a new release is picked up the same
/// day.
const ASSET_CACHE_CONTROL: &str = "public, max-age=3600";

/// An HTML page under `content_security_policy`, with no MIME sniffing, no
/// referrer, and no framing (`frame-ancestors` in the policy for current
/// browsers, `X-Frame-Options` for older ones). The page itself is never
/// cached: it is where a new release's assets are first referenced.
pub fn html(content_security_policy: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(content_security_policy),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// A script, stylesheet or image, with its type fixed (`nosniff`).
pub fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(ASSET_CACHE_CONTROL),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}
