//! The blog's page in a real browser: headless Chromium, driven over
//! WebDriver, and the few things a test does on the page (create a post,
//! comment, wait for a comment's status). Shared by the client's browser test
//! (tests/browser.rs) and the blog's test of the page on NATS
//! (solutions/blog/tests/nats_browser.rs).
//!
//! It needs `chromium` and `chromedriver` (on Debian and Ubuntu:
//! `apt-get install chromium chromium-driver`; `CHROME_BIN` and
//! `CHROMEDRIVER` can point elsewhere). Without them [`browser_tools`]
//! prints a `SKIPPED` line and gives `None`, unless `REQUIRE_BROWSER=1` is
//! set: then it fails.
//!
//! WebDriver is a plain HTTP protocol (a W3C standard): `chromedriver`
//! listens on a port and turns JSON requests such as "find this element" or
//! "click it" into actions in the browser. We speak it with reqwest.

#![allow(dead_code)] // each test uses its own part

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_testkit::{eventually, skip_unless_required};
use serde_json::{Value, json};

/// How long the page gets to show what we wait for.
pub const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Finding the browser
// ---------------------------------------------------------------------------

pub struct BrowserTools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Chromium and chromedriver, or `None` (with a loud SKIPPED line) when one is
/// missing. With `REQUIRE_BROWSER=1` a missing one fails the test instead.
pub fn browser_tools() -> Option<BrowserTools> {
    let chromium = find_program(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(BrowserTools {
            chromium,
            chromedriver,
        }),
        (chromium, chromedriver) => {
            let missing: Vec<&str> = [
                ("chromium", chromium.is_none()),
                ("chromedriver", chromedriver.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            let message = format!(
                "{} not found (install them with `apt-get install chromium chromium-driver`, \
                 or set CHROME_BIN and CHROMEDRIVER)",
                missing.join(" and ")
            );
            let reason = format!("the real-browser test of the page cannot run: {message}");
            skip_unless_required("REQUIRE_BROWSER", &reason);
            None
        }
    }
}

/// The program named by the environment variable `variable`, or the first of
/// `names` found on the PATH.
pub fn find_program(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
}

// ---------------------------------------------------------------------------
// WebDriver, over plain HTTP
// ---------------------------------------------------------------------------

/// A running chromedriver. Dropping it kills chromedriver and every browser
/// it started (they share its process group), even when a test fails.
pub struct ChromeDriver {
    process: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The process group we created for chromedriver alone
        // (`process_group(0)` below): chromedriver and every browser it started.
        let group = nix::unistd::Pid::from_raw(self.process.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.process.wait();
    }
}

impl ChromeDriver {
    pub async fn start(tools: &BrowserTools, logs: &Path) -> ChromeDriver {
        let port = free_addr().port();
        let log = std::fs::File::create(logs.join("chromedriver.log")).unwrap();
        let process = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", tools.chromedriver.display()));
        let driver = ChromeDriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let ready = eventually(WAIT, async || {
            let status = driver.http.get(format!("{}/status", driver.url)).send();
            match status.await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == json!(true)),
                Err(_) => false,
            }
        })
        .await;
        assert!(ready, "chromedriver did not get ready within {WAIT:?}");
        driver
    }

    /// Starts a headless Chromium with a fresh profile in `profile`.
    pub async fn open_browser(&self, tools: &BrowserTools, profile: &Path) -> Page {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=1100,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": tools.chromium, "args": args},
            // Keep the page's console messages, to show them when a check fails.
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let response = self
            .http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await;
        let answer: Value = response
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON from chromedriver");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start Chromium: {answer}"));
        Page {
            http: self.http.clone(),
            session: format!("{}/session/{session}", self.url),
        }
    }
}

/// One browser window, showing the page.
pub struct Page {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`: every command is under it.
    session: String,
}

/// The key WebDriver uses for an element reference in JSON.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A CSS selector for the card of the post with this id.
pub fn card(post_id: &str) -> String {
    format!("document.querySelector('li.post[data-post-id=\"{post_id}\"]')")
}

impl Page {
    /// Sends one command; `Err` carries WebDriver's error object.
    pub async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"));
        let ok = response.status().is_success();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(answer["value"].clone())
        } else {
            Err(answer["value"].clone())
        }
    }

    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|error| panic!("WebDriver {method} {path} failed: {error}"))
    }

    pub async fn go_to(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element matches {css}"))
            .to_string()
    }

    /// Clicks into the element and types `text`, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The text of the open alert dialog, if there is one.
    pub async fn alert_text(&self) -> Option<Value> {
        self.try_command(reqwest::Method::GET, "/alert/text", None)
            .await
            .ok()
    }

    /// The messages the page's console received since the last call
    /// (Chromium's extension to WebDriver).
    pub async fn console(&self) -> String {
        let entries = self
            .try_command(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await
            .unwrap_or_default();
        let lines: Vec<&str> = entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|entry| entry["message"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        lines.join("\n")
    }

    /// Polls `script` until it returns something other than `false` or `null`,
    /// and returns that. On time-out the message says what the page shows.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let mut value = Value::Null;
        let shown_up = eventually(WAIT, async || {
            value = self.run(script).await;
            value != json!(false) && !value.is_null()
        })
        .await;
        if !shown_up {
            let shown = self
                .run("return document.querySelector('main').innerText;")
                .await;
            panic!(
                "waited {WAIT:?} for {what}, in vain. The page shows:\n{}\n",
                shown.as_str().unwrap_or_default()
            );
        }
        value
    }

    /// Waits until a post card shows `title` and returns the post's id.
    pub async fn wait_for_post(&self, title: &str) -> String {
        let script = format!(
            "const card = [...document.querySelectorAll('li.post')].find(c => c.querySelector('h3').textContent === {});
             return card ? card.dataset.postId : null;",
            json!(title)
        );
        let id = self
            .wait_for(&format!("a post titled {title:?}"), &script)
            .await;
        id.as_str().expect("a post id").to_string()
    }

    /// Waits until the page has `count` posts and returns the id of the last.
    pub async fn wait_for_post_number(&self, count: usize) -> String {
        let script = format!(
            "const cards = document.querySelectorAll('li.post');
             return cards.length >= {count} ? cards[{count} - 1].dataset.postId : null;"
        );
        let id = self
            .wait_for(&format!("post number {count} to appear"), &script)
            .await;
        id.as_str().expect("a post id").to_string()
    }

    /// Types a comment into the post's form and sends it. Comments learns
    /// about a new post from an event, a moment after query may show it; if
    /// it does not know the post yet (404), the page says so and we retry.
    pub async fn add_comment(&self, post_id: &str, text: &str) {
        let form = format!("li.post[data-post-id=\"{post_id}\"] form.new-comment");
        self.type_into(&format!("{form} input[name=content]"), text)
            .await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.click(&format!("{form} button")).await;
            let outcome = self
                .wait_for(
                    &format!("the comment {text:?} to be sent"),
                    &format!(
                        "const form = document.querySelector({});
                         const error = form.querySelector('.error');
                         if (!error.hidden) return error.textContent;
                         return form.querySelector('input').value === '' ? 'sent' : null;",
                        json!(form)
                    ),
                )
                .await;
            let outcome = outcome.as_str().unwrap_or_default().to_string();
            if outcome == "sent" {
                return;
            }
            assert!(
                outcome.contains("404") && tokio::time::Instant::now() < deadline,
                "sending the comment {text:?} failed; the page says: {outcome}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until comment number `index` of the post has `status` and shows `text`.
    pub async fn wait_for_comment(&self, post_id: &str, index: usize, status: &str, text: &str) {
        let script = format!(
            "const item = {}.querySelectorAll('li.comment')[{index}];
             return !!item && item.dataset.status === {} && item.textContent === {};",
            card(post_id),
            json!(status),
            json!(text)
        );
        self.wait_for(
            &format!(
                "comment {} of the post to be {status}, showing {text:?}",
                index + 1
            ),
            &script,
        )
        .await;
    }

    pub async fn wait_for_comment_status(&self, post_id: &str, index: usize, status: &str) {
        let script = format!(
            "const item = {}.querySelectorAll('li.comment')[{index}];
             return !!item && item.dataset.status === {};",
            card(post_id),
            json!(status)
        );
        self.wait_for(
            &format!("comment {} of the post to be {status}", index + 1),
            &script,
        )
        .await;
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = decode_base64(encoded.as_str().expect("the screenshot is base64 text"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG image");
        std::fs::write(path, png).unwrap();
    }

    /// Closes the browser.
    pub async fn quit(self) {
        let _ = self.try_command(reqwest::Method::DELETE, "", None).await;
    }
}

/// Standard base64 (with `=` padding), as WebDriver sends screenshots.
pub fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |bits, (i, d)| bits | (u32::from(*d) << (18 - 6 * i)));
        let [_, a, b, c] = bits.to_be_bytes();
        bytes.extend_from_slice(&[a, b, c][..chunk.len() - 1]);
    }
    bytes
}

#[test]
fn base64_decodes_what_webdriver_sends() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGk="), b"hi");
    assert_eq!(decode_base64("YWJj"), b"abc");
}
