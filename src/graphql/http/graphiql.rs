//! GraphiQL served from the binary.
//!
//! A browser opening `/lynkapi` gets an IDE page. async-graphql's stock page
//! loads React and GraphiQL from a public CDN at run time (unpinned, without
//! subresource integrity): it is blank offline, and it lets a third-party
//! origin run script in a page where users paste their tokens. This module
//! instead serves a pinned copy vendored under `assets/graphiql/` (versions,
//! licenses and checksums in its `LICENSES.md`), compiled into the binary,
//! under a Content-Security-Policy that runs script from this origin only.
//!
//! The page is `index.html` with no inline script or style: everything it
//! loads is one of the fixed files [`asset`] serves under [`ASSET_PREFIX`].

use axum::{http::header, response::Response};

use crate::static_page::{self, CSS, JAVASCRIPT};

/// Where the page expects its files: `index.html` refers to every script
/// and stylesheet as this prefix plus a name that [`asset`] knows.
pub use crate::routes::ASSET_PREFIX;

/// The page's Content-Security-Policy: nothing but this origin, the only
/// relaxation being `data:` images and fonts, which GraphiQL's stylesheet
/// embeds (its Roboto and Fira Code fonts and a few icons) and the page's
/// empty favicon uses. Scripts need neither `'unsafe-inline'` nor
/// `'unsafe-eval'`. Styles need no `'unsafe-inline'` either: the one inline
/// `<style>` GraphiQL's dialogs try to add (a scroll lock) is refused, which
/// changes nothing on this page, whose body never scrolls.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The page. Kept in a file of its own so it is plain HTML to read and review.
const INDEX_HTML: &str = include_str!("../../../assets/graphiql/index.html");

/// The GraphiQL page, with the headers that confine it: the strict
/// [`CONTENT_SECURITY_POLICY`], no MIME sniffing, no referrer, and no
/// framing (`frame-ancestors` for current browsers, `X-Frame-Options` for
/// older ones).
pub fn page() -> Response {
    static_page::html(CONTENT_SECURITY_POLICY, INDEX_HTML)
}

/// One of the page's vendored files, by its exact name (the part of the
/// path after [`ASSET_PREFIX`]), or `None` for any other name.
///
/// The names are matched literally and nothing is read from disk, so no
/// name, however crafted (`..`, slashes, encodings), reaches another file.
pub fn asset(name: &str) -> Option<Response> {
    let (body, content_type): (&'static [u8], &'static str) = match name {
        "graphiql.min.js" => (
            include_bytes!("../../../assets/graphiql/graphiql.min.js").as_slice(),
            JAVASCRIPT,
        ),
        "graphiql.min.css" => (
            include_bytes!("../../../assets/graphiql/graphiql.min.css").as_slice(),
            CSS,
        ),
        "react.production.min.js" => (
            include_bytes!("../../../assets/graphiql/react.production.min.js").as_slice(),
            JAVASCRIPT,
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../../assets/graphiql/react-dom.production.min.js").as_slice(),
            JAVASCRIPT,
        ),
        "graphiql-init.js" => (
            include_bytes!("../../../assets/graphiql/graphiql-init.js").as_slice(),
            JAVASCRIPT,
        ),
        "graphiql-page.css" => (
            include_bytes!("../../../assets/graphiql/graphiql-page.css").as_slice(),
            CSS,
        ),
        _ => return None,
    };
    Some(static_page::asset(body, content_type))
}

/// A browser asking for the page (not a GraphQL GET) gets GraphiQL.
pub fn is_wanted(headers: &axum::http::HeaderMap, query: Option<&str>) -> bool {
    let has_graphql_query = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.starts_with("query=") || pair == "query")
    });
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    accepts_html && !has_graphql_query
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    /// Every tag in `html`: the text between a `<` and the next `>`.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<')
            .skip(1)
            .filter_map(|rest| rest.split_once('>').map(|(tag, _)| tag))
            .collect()
    }

    /// The value of attribute `name` in `tag`, when written `name="value"`.
    fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[start..].split_once('"').map(|(value, _)| value)
    }

    fn header_str(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(&name)
            .unwrap_or_else(|| panic!("no {name:?} header"))
            .to_str()
            .expect("ASCII header")
    }

    fn directive(policy: &str, name: &str) -> String {
        policy
            .split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} directive in {policy}"))
            .to_owned()
    }

    #[test]
    fn page_has_no_inline_script() {
        // Lowercased so `<SCRIPT` or `onClick=` cannot slip past.
        let html = INDEX_HTML.to_ascii_lowercase();
        let scripts: Vec<&str> = tags(&html)
            .into_iter()
            .filter(|t| *t == "script" || t.starts_with("script "))
            .collect();
        assert_eq!(scripts.len(), 4, "React, ReactDOM, GraphiQL and init");
        for tag in &scripts {
            assert!(attribute(tag, "src").is_some(), "inline <{tag}>");
        }
        // Nothing between an opening script tag and its closing tag.
        assert_eq!(
            html.matches("></script>").count(),
            scripts.len(),
            "a <script> has a body"
        );
        for tag in tags(&html) {
            let inline_handler = tag
                .split_whitespace()
                .skip(1)
                .any(|attr| attr.starts_with("on") && attr.contains('='));
            assert!(!inline_handler, "inline event handler in <{tag}>");
            assert!(attribute(tag, "style").is_none(), "inline style in <{tag}>");
        }
        assert!(!html.contains("<style"), "inline <style> block");
    }

    #[test]
    fn every_file_the_page_loads_is_served() {
        let mut loaded = 0;
        for tag in tags(INDEX_HTML) {
            for url in [attribute(tag, "src"), attribute(tag, "href")]
                .into_iter()
                .flatten()
            {
                // The empty favicon: keeps browsers from asking for /favicon.ico.
                if url == "data:," {
                    continue;
                }
                let name = url
                    .strip_prefix(ASSET_PREFIX)
                    .unwrap_or_else(|| panic!("{url} is not under {ASSET_PREFIX}"));
                assert!(asset(name).is_some(), "{url} is not served");
                loaded += 1;
            }
        }
        assert_eq!(loaded, 6, "4 scripts and 2 stylesheets");
    }

    #[test]
    fn unknown_names_are_not_served() {
        for name in [
            "",
            "../Cargo.toml",
            "graphiql.min.js/..",
            "/graphiql.min.js",
            "./graphiql.min.js",
            "graphiql.min.js/",
            "GRAPHIQL.MIN.JS",
            "graphiql.min.js.map",
            "index.html",
            "LICENSES.md",
            "..",
        ] {
            assert!(asset(name).is_none(), "{name:?} is served");
        }
    }

    #[test]
    fn assets_have_type_nosniff_and_short_cache() {
        for (name, content_type) in [
            ("graphiql.min.js", JAVASCRIPT),
            ("graphiql.min.css", CSS),
            ("react.production.min.js", JAVASCRIPT),
            ("react-dom.production.min.js", JAVASCRIPT),
            ("graphiql-init.js", JAVASCRIPT),
            ("graphiql-page.css", CSS),
        ] {
            let response = asset(name).unwrap_or_else(|| panic!("{name} not served"));
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header_str(&response, header::CONTENT_TYPE), content_type);
            assert_eq!(
                header_str(&response, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
            assert_eq!(
                header_str(&response, header::CACHE_CONTROL),
                "public, max-age=3600"
            );
        }
    }

    #[test]
    fn page_is_html_under_a_strict_policy() {
        let response = page();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_str(&response, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            header_str(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        assert_eq!(
            header_str(&response, header::REFERRER_POLICY),
            "no-referrer"
        );
        assert_eq!(header_str(&response, header::X_FRAME_OPTIONS), "DENY");

        let policy = header_str(&response, header::CONTENT_SECURITY_POLICY);
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(directive(policy, "default-src"), "default-src 'none'");
        assert_eq!(directive(policy, "script-src"), "script-src 'self'");
        assert_eq!(directive(policy, "connect-src"), "connect-src 'self'");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(!policy.contains("unsafe-eval"), "{policy}");
    }

    #[test]
    fn the_init_script_keeps_nothing_in_browser_storage() {
        let script = include_str!("../../../assets/graphiql/graphiql-init.js");
        let code: Vec<&str> = script
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("//") && !line.starts_with('*'))
            .filter(|line| !line.starts_with("/*"))
            .collect();
        for line in &code {
            assert!(
                !line.contains("localStorage") && !line.contains("sessionStorage"),
                "{line}"
            );
        }
        assert!(code.contains(&"storage: memoryStorage(),"), "{script}");
    }

    #[tokio::test]
    async fn page_body_is_index_html() {
        let body = axum::body::to_bytes(page().into_body(), usize::MAX)
            .await
            .expect("static body");
        assert_eq!(body, INDEX_HTML.as_bytes());
    }
}
