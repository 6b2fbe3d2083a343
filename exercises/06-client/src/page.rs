//! The page's files, and the headers that keep it safe (TODO 1 and TODO 2).
//!
//! The HTML, JavaScript and CSS live in `assets/` as ordinary files (open them
//! in an editor, they are the real thing) and are compiled into the binary.
//! Only `/config.js` is made at run time, from [`Config`].

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
#[allow(unused_imports)] // you will need `json!` for TODO 1
use serde_json::json;

use crate::Config;

pub const INDEX_HTML: &str = include_str!("../assets/index.html");
pub const APP_JS: &str = include_str!("../assets/app.js");
pub const STYLE_CSS: &str = include_str!("../assets/style.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `/`, `/app.js`, `/style.css` and `/config.js`.
pub fn routes(config: &Config) -> Router {
    let config_js = config_js(config);
    Router::new()
        .route("/", get(|| async { file(HTML, INDEX_HTML) }))
        .route("/app.js", get(|| async { file(JAVASCRIPT, APP_JS) }))
        .route("/style.css", get(|| async { file(CSS, STYLE_CSS) }))
        .route(
            "/config.js",
            get(move || {
                let body = config_js.clone();
                async move { file(JAVASCRIPT, body) }
            }),
        )
}

fn file(content_type: &'static str, body: impl Into<String>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Always ask again (a cheap 200 from localhost): after a rebuild
            // the browser must not keep running yesterday's app.js.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.into(),
    )
        .into_response()
}

// ANCHOR: config_js
/// The script that tells the page where the services are:
/// `window.BLOG_CONFIG = {"postsUrl": ..., "commentsUrl": ..., "queryUrl": ...};`
///
/// The values come from the environment, so they are written with a JSON
/// serialiser, never pasted into the text: a quote or backslash in a URL
/// stays a character in a string and cannot end it early.
pub fn config_js(config: &Config) -> String {
    // TODO 1: build the object {"postsUrl": ..., "commentsUrl": ..., "queryUrl": ...}
    // from `config` with `json!`, and return the script
    //     window.BLOG_CONFIG = <that object>;
    // ending with ";\n" (comment lines above it are welcome). Never paste a URL
    // between quotes with `format!`: a `"` in it would end the string early.
    let _ = config;
    todo!(
        "TODO 1 in src/page.rs: config_js must write `window.BLOG_CONFIG = {{...}};` with the three service URLs"
    )
}
// ANCHOR_END: config_js

/// `scheme://host[:port]` of an `http://` or `https://` URL, or `None` if the
/// text is not one we accept: no whitespace or control characters anywhere,
/// no query or fragment (the page appends paths to it), and a host made only
/// of the characters host names and IP addresses use. That last rule also
/// keeps it from smuggling `;` or `'` into the security policy header.
pub fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '?' || c == '#';
    if url.chars().any(bad_char) {
        return None;
    }
    let host_len = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_len];
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || !host.chars().all(host_char) {
        return None;
    }
    Some(&url[..url.len() - rest.len() + host_len])
}

// ANCHOR: csp
/// The `Content-Security-Policy` of every answer.
///
/// Scripts run only from files this service serves (`script-src 'self'`):
/// no inline `<script>`, no `onerror=` attributes, no `eval`. So even if a
/// bug ever put a user's title into the page as HTML, the browser would
/// refuse to run what it smuggled in. `connect-src` lists where the page may
/// send requests: its own origin and the three services.
pub fn content_security_policy(config: &Config) -> String {
    // TODO 2: answer this policy, directives separated by "; ":
    //     default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';
    //     connect-src <sources>; object-src 'none'; base-uri 'none';
    //     form-action 'self'; frame-ancestors 'none'
    // where <sources> is 'self' followed by the origin (`origin_of`) of each of
    // `config.service_urls()` that has one, each origin once, separated by spaces.
    let _ = config;
    todo!(
        "TODO 2 in src/page.rs: content_security_policy must say where scripts may come from and where the page may connect"
    )
}
// ANCHOR_END: csp

/// Adds the security policy, and two smaller safety headers, to every
/// answer of `router` (the page, its files, and errors alike).
pub fn with_security_headers(router: Router, config: &Config) -> Router {
    let policy = HeaderValue::from_str(&content_security_policy(config))
        .expect("Config::check keeps the policy a valid header value");
    router.layer(middleware::map_response(move |mut response: Response| {
        let policy = policy.clone();
        async move {
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            // Trust our content types: a JSON error is never run as a script.
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            response
        }
    }))
}
