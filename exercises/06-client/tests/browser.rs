//! The page in a real browser: headless Chromium, driven over WebDriver.
//!
//! The test starts the whole blog inside this process (the event bus, posts,
//! comments, query, moderation and the client, each on a free port with its
//! data in a temporary folder), opens the page in Chromium and uses it as a
//! person would: it types a title and clicks "Create post", comments, and
//! watches a comment awaiting moderation turn into the approved text without
//! reloading the page. Then it tries the classic attack: a post titled
//! `<img src=x onerror=alert(1)>`, which must show up as those characters.
//!
//! It needs `chromium` and `chromedriver` (on Debian and Ubuntu:
//! `apt-get install chromium chromium-driver`; `CHROME_BIN` and
//! `CHROMEDRIVER` can point elsewhere). Without them it prints a `SKIPPED`
//! line and passes, unless `REQUIRE_BROWSER=1` is set: then it fails.
//!
//! WebDriver is a plain HTTP protocol (a W3C standard): `chromedriver`
//! listens on a port and turns JSON requests such as "find this element" or
//! "click it" into actions in the browser. We speak it with reqwest.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_runtime::Server;
use blog_testkit::{eventually, skip_unless_required};
use serde_json::{Value, json};

/// The attack: markup that runs a script when a browser treats it as HTML.
const XSS_TITLE: &str = "<img src=x onerror=alert(1)>";
/// How long the page gets to show what we wait for.
const WAIT: Duration = Duration::from_secs(20);
/// Where the screenshot of the page goes.
const SCREENSHOT: &str = "client.png";

// ANCHOR: browser_test
#[tokio::test]
async fn the_page_works_in_a_real_browser_and_shows_markup_as_text() {
    let Some(tools) = browser_tools() else { return };
    let data = tempfile::tempdir().unwrap();
    // Moderation stays down for now, so a new comment waits for its verdict.
    let mut blog = Blog::start(data.path()).await;
    let driver = ChromeDriver::start(&tools, data.path()).await;
    let page = driver
        .open_browser(&tools, &data.path().join("profile"))
        .await;

    page.go_to(&blog.client.url()).await;
    page.wait_for(
        "the page to say there are no posts yet",
        "return !document.getElementById('no-posts').hidden",
    )
    .await;
    // A reload would wipe this variable; it must survive to the end.
    page.run("window.stillTheSamePage = true; return null;")
        .await;

    // Create a post through the form.
    page.type_into("#post-title", "Hello from a real browser")
        .await;
    page.click("#new-post button").await;
    let post = page.wait_for_post("Hello from a real browser").await;

    // Comment while moderation is down: the page shows it as awaiting moderation.
    page.add_comment(&post, "Nice post").await;
    page.wait_for_comment(&post, 0, "pending", "This comment is awaiting moderation")
        .await;

    // Moderation starts, decides, and the page follows without a reload.
    blog.start_moderation().await;
    page.wait_for_comment(&post, 0, "approved", "Nice post")
        .await;
    page.add_comment(&post, "I do not like orange").await;
    page.wait_for_comment(&post, 1, "rejected", "This comment has been rejected")
        .await;

    // The attack: a title and a comment made of markup.
    page.type_into("#post-title", XSS_TITLE).await;
    page.click("#new-post button").await;
    let attack = page.wait_for_post_number(2).await;
    page.add_comment(&attack, "<b>not bold</b>").await;
    page.wait_for_comment_status(&attack, 0, "approved").await;

    // Even if the markup became HTML, the security policy refuses to run its
    // inline `onerror=` script: no alert may ever open.
    assert_eq!(
        page.alert_text().await,
        None,
        "an alert is open: the attacker's script ran"
    );
    let title = page
        .run(&format!(
            "return {}.querySelector('h3').textContent;",
            card(&attack)
        ))
        .await;
    let images = page
        .run("return document.querySelectorAll('#posts img').length;")
        .await;
    assert_eq!(
        images,
        json!(0),
        "the title {XSS_TITLE:?} was put on the page as HTML: the browser made an <img> element out of it \
         (the page shows {title}). Text from people must go in with textContent (TODO 3 in assets/app.js).\n\
         The browser's console says:\n{}",
        page.console().await
    );
    assert_eq!(
        title,
        json!(XSS_TITLE),
        "the title is shown as the very characters that were typed"
    );
    let comment = page
        .run(&format!(
            "return {}.querySelector('li.comment').textContent;",
            card(&attack)
        ))
        .await;
    let bold = page
        .run("return document.querySelectorAll('#posts b').length;")
        .await;
    assert_eq!(
        (comment.clone(), bold),
        (json!("<b>not bold</b>"), json!(0)),
        "the comment \"<b>not bold</b>\" must show as text, not as HTML (TODO 3 in assets/app.js); the page shows {comment}"
    );
    assert_eq!(
        page.run("return window.stillTheSamePage === true;").await,
        json!(true),
        "every change appeared without reloading the page"
    );
    // ANCHOR_END: browser_test

    let screenshot = std::env::temp_dir().join(SCREENSHOT);
    page.screenshot(&screenshot).await;
    println!("A screenshot of the page is in {}", screenshot.display());

    page.quit().await;
    drop(driver);
    blog.stop().await;
}

// ---------------------------------------------------------------------------
// Finding the browser
// ---------------------------------------------------------------------------

struct BrowserTools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

/// Chromium and chromedriver, or `None` (with a loud SKIPPED line) when one is
/// missing. With `REQUIRE_BROWSER=1` a missing one fails the test instead.
fn browser_tools() -> Option<BrowserTools> {
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
fn find_program(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

// ---------------------------------------------------------------------------
// The blog, in this process
// ---------------------------------------------------------------------------

struct Blog {
    bus: Server,
    posts: Server,
    comments: Server,
    query: Server,
    client: Server,
    moderation: Option<Server>,
    moderation_addr: SocketAddr,
    bus_url: String,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
}

impl Blog {
    /// Every service but moderation, whose port is chosen now (the bus needs
    /// it) and which [`Blog::start_moderation`] starts later.
    async fn start(data: &Path) -> Blog {
        let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let bus_addr = free_addr();
        let moderation_addr = free_addr();
        let bus_url = format!("http://{bus_addr}");
        // The page's origin: the only one posts, comments and query answer CORS to.
        let client_addr = free_addr();
        let page_origins =
            blog_runtime::PageOrigins::parse(&format!("http://{client_addr}")).unwrap();
        let posts = posts::start(posts::Config {
            addr: any_port,
            data_dir: data.to_path_buf(),
            event_bus_url: bus_url.clone(),
            page_origins: page_origins.clone(),
        })
        .await
        .expect("posts starts");
        let comments = comments::start(comments::Config {
            addr: any_port,
            data_dir: data.to_path_buf(),
            event_bus_url: bus_url.clone(),
            post_lookup: comments::PostLookupMode::Events,
            posts_url: posts.url(),
            posts_timeout: Duration::from_secs(2),
            page_origins: page_origins.clone(),
        })
        .await
        .expect("comments starts");
        let query = query::start(query::Config {
            addr: any_port,
            event_bus_url: bus_url.clone(),
            rebuild: true,
            page_origins,
        })
        .await
        .expect("query starts");
        let bus = event_bus::start(event_bus::Config {
            addr: bus_addr,
            data_dir: data.to_path_buf(),
            subscribers: vec![
                posts.url(),
                comments.url(),
                query.url(),
                format!("http://{moderation_addr}"),
            ],
            dead_letter_after: event_bus::delivery::DEFAULT_DEAD_LETTER_AFTER,
        })
        .await
        .expect("the event bus starts");
        // The addresses the *browser* uses to reach the services.
        let client = client::start(client::Config {
            addr: client_addr,
            posts_url: posts.url(),
            comments_url: comments.url(),
            query_url: query.url(),
        })
        .await
        .expect("the client service starts");
        Blog {
            bus,
            posts,
            comments,
            query,
            client,
            moderation: None,
            moderation_addr,
            bus_url,
        }
    }

    async fn start_moderation(&mut self) {
        let server = moderation::start(moderation::Config {
            addr: self.moderation_addr,
            event_bus_url: self.bus_url.clone(),
        })
        .await
        .expect("moderation starts on the port the bus delivers to");
        self.moderation = Some(server);
    }

    async fn stop(self) {
        self.client.stop().await;
        if let Some(moderation) = self.moderation {
            moderation.stop().await;
        }
        self.bus.stop().await;
        self.query.stop().await;
        self.comments.stop().await;
        self.posts.stop().await;
    }
}

// ---------------------------------------------------------------------------
// WebDriver, over plain HTTP
// ---------------------------------------------------------------------------

/// A running chromedriver. Dropping it kills chromedriver and every browser
/// it started (they share its process group), even when a test fails.
struct ChromeDriver {
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
    async fn start(tools: &BrowserTools, logs: &Path) -> ChromeDriver {
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
    async fn open_browser(&self, tools: &BrowserTools, profile: &Path) -> Page {
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
struct Page {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`: every command is under it.
    session: String,
}

/// The key WebDriver uses for an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A CSS selector for the card of the post with this id.
fn card(post_id: &str) -> String {
    format!("document.querySelector('li.post[data-post-id=\"{post_id}\"]')")
}

impl Page {
    /// Sends one command; `Err` carries WebDriver's error object.
    async fn try_command(
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

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|error| panic!("WebDriver {method} {path} failed: {error}"))
    }

    async fn go_to(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    async fn run(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
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
    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The text of the open alert dialog, if there is one.
    async fn alert_text(&self) -> Option<Value> {
        self.try_command(reqwest::Method::GET, "/alert/text", None)
            .await
            .ok()
    }

    /// The messages the page's console received since the last call
    /// (Chromium's extension to WebDriver).
    async fn console(&self) -> String {
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
    async fn wait_for(&self, what: &str, script: &str) -> Value {
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
    async fn wait_for_post(&self, title: &str) -> String {
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
    async fn wait_for_post_number(&self, count: usize) -> String {
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
    async fn add_comment(&self, post_id: &str, text: &str) {
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
    async fn wait_for_comment(&self, post_id: &str, index: usize, status: &str, text: &str) {
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

    async fn wait_for_comment_status(&self, post_id: &str, index: usize, status: &str) {
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
    async fn screenshot(&self, path: &Path) {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = decode_base64(encoded.as_str().expect("the screenshot is base64 text"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG image");
        std::fs::write(path, png).unwrap();
    }

    /// Closes the browser.
    async fn quit(self) {
        let _ = self.try_command(reqwest::Method::DELETE, "", None).await;
    }
}

/// Standard base64 (with `=` padding), as WebDriver sends screenshots.
fn decode_base64(text: &str) -> Vec<u8> {
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
