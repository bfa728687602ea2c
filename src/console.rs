//! The web console (docs/DESIGN.md §8.1): `GET /` serves a page that manages tokens,
//! members, roles, projects and the audit log through `/lynkapi`, as any
//! other front-end would. It holds no privilege of its own: every action is
//! a GraphQL request with the signed-in user's session.
//!
//! The page and its ES modules live under `assets/console/` and are
//! compiled into the binary, so `lynk serve` and a browser are all a user
//! needs: no Node, no CDN, no build step. Nothing is read from disk at run
//! time, and a name outside [`FILES`] is a 404.

use axum::response::Response;

use crate::static_page::{self, CSS, JAVASCRIPT};

/// Where the page's files are served: this prefix plus a name in [`FILES`].
pub use crate::routes::CONSOLE_ASSET_PREFIX;

/// The console's Content-Security-Policy: scripts, styles and requests go
/// to this origin only; no inline script or style, no `eval`, no plugin,
/// no framing, no form posted anywhere (forms are handled by script and
/// sent as GraphQL requests), and no `<base>` to redirect relative URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const INDEX_HTML: &str = include_str!("../assets/console/index.html");

macro_rules! files {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        /// Every file the console page loads, by name, with its type.
        pub const FILES: &[(&str, &[u8], &str)] = &[
            $(($name, include_bytes!(concat!("../assets/console/", $name)), $content_type)),*
        ];
    };
}

files! {
    "console.css" => CSS,
    "app.js" => JAVASCRIPT,
    "api.js" => JAVASCRIPT,
    "dom.js" => JAVASCRIPT,
    "format.js" => JAVASCRIPT,
    "shell.js" => JAVASCRIPT,
    "tokens.js" => JAVASCRIPT,
    "token_form.js" => JAVASCRIPT,
    "token_page.js" => JAVASCRIPT,
    "members.js" => JAVASCRIPT,
    "roles.js" => JAVASCRIPT,
    "projects.js" => JAVASCRIPT,
    "audit.js" => JAVASCRIPT,
    "settings.js" => JAVASCRIPT,
    "explorer.js" => JAVASCRIPT,
    "webhooks.js" => JAVASCRIPT,
    "accept.js" => JAVASCRIPT,
    "policy.js" => JAVASCRIPT,
}

/// The console page, under [`CONTENT_SECURITY_POLICY`].
pub fn page() -> Response {
    static_page::html(CONTENT_SECURITY_POLICY, INDEX_HTML)
}

/// One of the console's files by its exact name, or `None`.
pub fn asset(name: &str) -> Option<Response> {
    FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, body, content_type)| static_page::asset(body, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_files_that_exist() {
        // Every `/console/…` reference in the page and in the modules
        // names a file the server has.
        let sources = std::iter::once(INDEX_HTML.as_bytes())
            .chain(FILES.iter().map(|(_, body, _)| *body))
            .map(|body| String::from_utf8_lossy(body).into_owned());
        for source in sources {
            for (index, _) in source.match_indices(CONSOLE_ASSET_PREFIX) {
                let rest = &source[index + CONSOLE_ASSET_PREFIX.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                    .collect();
                assert!(
                    FILES.iter().any(|(file, _, _)| *file == name),
                    "{name} is referenced but not served"
                );
            }
        }
    }

    #[test]
    fn no_module_writes_html() {
        // Names, emails and audit details are user input: the modules build
        // elements and set `textContent`, never markup.
        for (name, body, _) in FILES {
            let source = String::from_utf8_lossy(body);
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!source.contains(sink), "{name} uses {sink}");
            }
        }
    }

    #[test]
    fn unknown_names_are_not_served() {
        assert!(asset("app.js").is_some());
        for name in ["", "../Cargo.toml", "index.html", "app.js/", "APP.JS"] {
            assert!(asset(name).is_none(), "{name}");
        }
    }
}
