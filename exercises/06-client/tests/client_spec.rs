//! The client service: the page, its script, where it finds the services,
//! and the headers that keep it safe.
//!
//! What the page *does* in a browser is tested elsewhere, with a real
//! browser; here we test what this service serves. When `node` is installed
//! the JavaScript is also checked for syntax errors.

use std::process::Command;

use blog_runtime::Server;
use blog_testkit::spawn_service;
use client::Config;
use serde_json::{Value, json};

fn config(posts: &str, comments: &str, query: &str) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        posts_url: posts.to_string(),
        comments_url: comments.to_string(),
        query_url: query.to_string(),
    }
}

fn localhost_config() -> Config {
    config(
        "http://localhost:4000",
        "http://localhost:4001",
        "http://localhost:4002",
    )
}

async fn start_client(config: Config) -> Server {
    client::start(config)
        .await
        .expect("the client service should start")
}

struct Answer {
    status: u16,
    content_type: String,
    csp: String,
    body: String,
}

async fn get(base: &str, path: &str) -> Answer {
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .unwrap_or_else(|error| panic!("GET {path} failed: {error}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    Answer {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        csp: header("content-security-policy"),
        body: response.text().await.unwrap(),
    }
}

/// The object `config.js` assigns to `window.BLOG_CONFIG`.
fn browser_config(config_js: &str) -> Value {
    let start = config_js
        .find("window.BLOG_CONFIG = ")
        .unwrap_or_else(|| panic!("config.js should assign window.BLOG_CONFIG, got:\n{config_js}"))
        + "window.BLOG_CONFIG = ".len();
    let end = config_js[start..]
        .find(";\n")
        .expect("the assignment ends with `;`")
        + start;
    serde_json::from_str(&config_js[start..end])
        .expect("window.BLOG_CONFIG is set to a JSON object")
}

/// The `connect-src` sources of a policy.
fn connect_sources(csp: &str) -> Vec<String> {
    csp.split(';')
        .map(str::trim)
        .find_map(|directive| directive.strip_prefix("connect-src "))
        .unwrap_or_else(|| panic!("the policy should have a connect-src directive: {csp}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn the_page_has_the_post_form_and_loads_its_scripts_from_files() {
    let server = start_client(localhost_config()).await;
    let page = get(&server.url(), "/").await;

    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "/ is HTML, got {:?}",
        page.content_type
    );
    assert!(
        page.body.contains(r#"<form id="new-post""#),
        "the page has the form to create a post"
    );
    assert!(
        page.body.contains(r#"name="title""#),
        "the post form has a title field"
    );
    assert!(
        page.body.contains(r#"<script src="/config.js"></script>"#),
        "the page loads /config.js"
    );
    assert!(
        page.body
            .contains(r#"<script src="/app.js" defer></script>"#),
        "the page loads /app.js"
    );

    // The security policy refuses inline scripts, so the page must have none.
    let script_tags = page.body.matches("<script").count();
    let file_scripts = page.body.matches("<script src=").count();
    assert_eq!(
        script_tags, file_scripts,
        "every <script> loads a file; inline scripts would be blocked"
    );
    assert_eq!(
        page.body.matches("></script>").count(),
        script_tags,
        "script tags have no inline body"
    );
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(
            !page.body.contains(handler),
            "no inline event handlers ({handler}) either"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_script_and_the_stylesheet_are_served_with_their_content_types() {
    let server = start_client(localhost_config()).await;

    let script = get(&server.url(), "/app.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script.content_type.starts_with("text/javascript"),
        "/app.js needs a JavaScript content type, got {:?}",
        script.content_type
    );
    assert_eq!(script.body, client::page::APP_JS);

    let style = get(&server.url(), "/style.css").await;
    assert_eq!(style.status, 200);
    assert!(
        style.content_type.starts_with("text/css"),
        "/style.css is CSS, got {:?}",
        style.content_type
    );

    let config = get(&server.url(), "/config.js").await;
    assert_eq!(config.status, 200);
    assert!(
        config.content_type.starts_with("text/javascript"),
        "/config.js is JavaScript, got {:?}",
        config.content_type
    );
    server.stop().await;
}

#[test]
fn the_script_never_puts_text_on_the_page_as_html() {
    // The code, without its comments (which may name what they warn against).
    let code: String = client::page::APP_JS
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for risky in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(
            !code.contains(risky),
            "app.js must not use {risky}: user text goes in with textContent only (TODO 3 in assets/app.js)"
        );
    }
    assert!(
        code.contains(".textContent ="),
        "app.js sets text with textContent"
    );
}

#[tokio::test]
async fn config_js_tells_the_page_where_the_services_are() {
    let server = start_client(config(
        "http://127.0.0.1:14000",
        "https://comments.example",
        "http://query.local:80",
    ))
    .await;
    let answer = get(&server.url(), "/config.js").await;
    assert_eq!(
        browser_config(&answer.body),
        json!({"postsUrl": "http://127.0.0.1:14000", "commentsUrl": "https://comments.example", "queryUrl": "http://query.local:80"})
    );
    server.stop().await;
}

#[tokio::test]
async fn empty_urls_mean_the_pages_own_origin() {
    // Behind the Kubernetes ingress, the page and the services share posts.com.
    let server = start_client(config("", "", "")).await;
    let answer = get(&server.url(), "/config.js").await;
    assert_eq!(
        browser_config(&answer.body),
        json!({"postsUrl": "", "commentsUrl": "", "queryUrl": ""})
    );
    assert_eq!(
        connect_sources(&answer.csp),
        ["'self'"],
        "with no other origin, the page may only call its own"
    );
    server.stop().await;
}

// ANCHOR: policy_test
#[tokio::test]
async fn every_answer_carries_a_policy_that_only_runs_our_script_files() {
    let server = start_client(config(
        "http://localhost:4000/",
        "http://localhost:4001/api",
        "",
    ))
    .await;
    for path in ["/", "/app.js", "/config.js", "/healthz", "/no-such-page"] {
        let answer = get(&server.url(), path).await;
        let csp = &answer.csp;
        assert!(
            !csp.is_empty(),
            "GET {path} should carry a Content-Security-Policy header"
        );
        assert!(
            csp.contains("script-src 'self'"),
            "GET {path}: scripts only from our own files: {csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "GET {path}: no inline or eval'd script: {csp}"
        );
        assert!(
            csp.contains("object-src 'none'"),
            "GET {path}: no plugins: {csp}"
        );
    }
    let csp = get(&server.url(), "/").await.csp;
    assert_eq!(
        connect_sources(&csp),
        ["'self'", "http://localhost:4000", "http://localhost:4001"],
        "connect-src lists each service's origin once (paths and slashes dropped)"
    );
    server.stop().await;
}
// ANCHOR_END: policy_test

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = start_client(localhost_config()).await;
    for path in ["/healthz", "/readyz"] {
        let answer = get(&server.url(), path).await;
        assert_eq!(
            answer.status, 200,
            "GET {path} answered {} {}",
            answer.status, answer.body
        );
    }
    let missing = get(&server.url(), "/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.content_type.starts_with("application/json"),
        "errors are JSON, got {:?}",
        missing.content_type
    );
    server.stop().await;
}

#[test]
fn config_reads_the_environment_and_keeps_empty_urls_empty() {
    let defaults = Config::from_lookup(|_| None).unwrap();
    assert_eq!(defaults.addr, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(defaults.posts_url, "http://localhost:4000");
    assert_eq!(defaults.comments_url, "http://localhost:4001");
    assert_eq!(defaults.query_url, "http://localhost:4002");

    let env = |name: &str| match name {
        "HOST" => Some("0.0.0.0".to_string()),
        "PORT" => Some("8080".to_string()),
        "POSTS_URL" => Some("".to_string()),
        "COMMENTS_URL" => Some("  ".to_string()),
        "QUERY_URL" => Some("http://posts.com/".to_string()),
        _ => None,
    };
    let set = Config::from_lookup(env).unwrap();
    assert_eq!(set.addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(
        set.posts_url, "",
        "POSTS_URL set to empty means same origin, not the default"
    );
    assert_eq!(set.comments_url, "", "blank counts as empty");
    assert_eq!(
        set.query_url, "http://posts.com",
        "a trailing slash is dropped: the page appends /posts"
    );
    assert_eq!(set.check(), Ok(()));
}

#[tokio::test]
async fn a_url_the_page_cannot_use_is_refused_at_start() {
    for bad in [
        "localhost:4000",
        "ftp://x",
        "http://",
        "http://a b",
        "http://x/?q=1",
        "http://x;script-src *",
        "http://'x'",
    ] {
        let result = Config {
            query_url: bad.to_string(),
            ..localhost_config()
        }
        .check();
        let error = result.expect_err(&format!("QUERY_URL={bad:?} should be refused"));
        assert_eq!(error.name, "QUERY_URL");
        assert!(
            error.to_string().contains("QUERY_URL"),
            "the message names the variable: {error}"
        );
        assert!(
            client::start(Config {
                query_url: bad.to_string(),
                ..localhost_config()
            })
            .await
            .is_err()
        );
    }
}

// ---------------------------------------------------------------------------
// Checks that need node (skipped, loudly, when it is not installed)
// ---------------------------------------------------------------------------

fn node_available() -> bool {
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => true,
        _ => {
            // Straight to stderr: the test harness hides `eprintln!` of a passing test.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"SKIPPED: `node` is not on PATH, so the JavaScript was not checked for syntax errors\n",
            );
            false
        }
    }
}

fn node(args: &[&str]) -> String {
    let output = Command::new("node").args(args).output().expect("node runs");
    assert!(
        output.status.success(),
        "node {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn app_js_is_valid_javascript() {
    if !node_available() {
        return;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/app.js");
    node(&["--check", path]);
}

// ANCHOR: odd_characters
#[test]
fn config_js_keeps_odd_characters_inside_its_strings() {
    if !node_available() {
        return;
    }
    // Legal in a URL path, and each would break a naively pasted string.
    let tricky = r#"http://localhost:4000/a"b\c'd</script>`${x}"#;
    let config = config(tricky, "", "http://localhost:4002");
    assert_eq!(config.check(), Ok(()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.js");
    std::fs::write(&file, client::page::config_js(&config)).unwrap();

    node(&["--check", file.to_str().unwrap()]);
    let printed = node(&[
        "-e",
        "globalThis.window = {}; require(process.argv[1]); console.log(JSON.stringify(window.BLOG_CONFIG));",
        file.to_str().unwrap(),
    ]);
    let seen: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(
        seen,
        json!({"postsUrl": tricky, "commentsUrl": "", "queryUrl": "http://localhost:4002"})
    );
}
// ANCHOR_END: odd_characters

// ---------------------------------------------------------------------------
// The binary reads its real environment
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_binary_takes_its_settings_from_the_environment() {
    // The binary is named after the package: `client`, or `ex06-client` in the exercise.
    // It runs on a port of its own (PORT=0) and says which one it got.
    let service = spawn_service(
        tokio::process::Command::new(env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME"))))
            .env("POSTS_URL", "")
            .env("COMMENTS_URL", "")
            .env("QUERY_URL", "http://query.test:4002"),
    )
    .await;

    let answer = get(&service.url, "/config.js").await;
    assert_eq!(
        browser_config(&answer.body),
        json!({"postsUrl": "", "commentsUrl": "", "queryUrl": "http://query.test:4002"})
    );
    assert_eq!(
        connect_sources(&answer.csp),
        ["'self'", "http://query.test:4002"]
    );
}
