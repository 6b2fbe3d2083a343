//! The specification of what you write in chapter 2: a post id that cannot
//! be wrong (`src/post_id.rs`), the synchronous post lookup
//! (`src/post_lookup/http.rs`), how its failures are answered
//! (`src/error.rs`) and the handler that uses it (`src/handlers.rs`).
//!
//! With `POST_LOOKUP=http`, comments asks the posts service whether a post
//! exists before it accepts a comment on it. These tests run the real posts
//! service (or a stand-in that misbehaves on purpose) next to comments, and
//! show what that costs: while posts is down or slow, nobody can comment.
//! The least comments owes its caller is an honest answer, and a fast one:
//! 503 "the posts service is unavailable", within the lookup's timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use blog_runtime::Server;
use blog_testkit::expect_status;
use comments::content::MAX_CONTENT_CHARS;
use comments::post_id::{MAX_POST_ID_CHARS, PostIdError};
use comments::post_lookup::http::PostsOverHttp;
use comments::{CommentsError, PostId, PostLookup, PostLookupMode};
use serde_json::{Value, json};

/// Nothing listens here: the event bus plays no part in these tests.
const NO_BUS: &str = "http://127.0.0.1:9";
/// Nothing listens here either: a posts service that is down.
const NO_POSTS: &str = "http://127.0.0.1:9";
/// The lookup's timeout in these tests (`POSTS_TIMEOUT_MS`; 2 s by default).
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a test waits for comments before it calls the request hung.
/// Far longer than LOOKUP_TIMEOUT on purpose: this is not a speed test, it
/// only proves that the timeout is used at all.
const HUNG_AFTER: Duration = Duration::from_secs(10);

async fn start_posts(addr: SocketAddr, data_dir: &Path) -> Server {
    let config = posts::Config {
        addr,
        data_dir: data_dir.to_path_buf(),
        event_bus_url: NO_BUS.to_string(),
        page_origins: Default::default(),
    };
    posts::start(config)
        .await
        .expect("the posts service should start")
}

/// Starts comments with the synchronous lookup, asking posts at `posts_url`.
async fn start_comments(data_dir: &Path, posts_url: &str, post_lookup: PostLookupMode) -> Server {
    let config = comments::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        event_bus_url: NO_BUS.to_string(),
        post_lookup,
        posts_url: posts_url.to_string(),
        posts_timeout: LOOKUP_TIMEOUT,
        page_origins: Default::default(),
    };
    comments::start(config)
        .await
        .expect("the comments service should start")
}

/// Sends a request to comments and returns the status and the JSON body (or
/// the text wrapped in a string when it is not JSON). A request that hangs
/// fails the test instead of blocking it.
async fn send(what: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
    let answer = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    };
    let (status, text) = tokio::time::timeout(HUNG_AFTER, answer)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: comments has not answered after {HUNG_AFTER:?}, although its lookup timeout is \
                 {LOOKUP_TIMEOUT:?}. Does the client built in `PostsOverHttp::new` give up after `timeout` \
                 (TODO 2 in src/post_lookup/http.rs)?"
            )
        })
        .unwrap_or_else(|error| panic!("{what}: comments should answer, but the request failed: {error}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_post(client: &reqwest::Client, posts: &Server, title: &str) -> String {
    let response = client
        .post(format!("{}/posts", posts.url()))
        .json(&json!({ "title": title }))
        .send()
        .await
        .expect("posts should answer");
    assert_eq!(
        response.status().as_u16(),
        201,
        "creating a post in the posts service"
    );
    let post: Value = response.json().await.unwrap();
    post["id"]
        .as_str()
        .expect("a post has a string id")
        .to_string()
}

async fn comment(
    client: &reqwest::Client,
    comments: &Server,
    post_id: &str,
    content: &str,
) -> (u16, Value) {
    let url = format!("{}/posts/{post_id}/comments", comments.url());
    let what = format!("POST /posts/{post_id}/comments with {content:?}");
    send(&what, client.post(url).json(&json!({ "content": content }))).await
}

async fn list(client: &reqwest::Client, comments: &Server, post_id: &str) -> Value {
    let url = format!("{}/posts/{post_id}/comments", comments.url());
    let what = format!("GET /posts/{post_id}/comments");
    let (status, body) = send(&what, client.get(url)).await;
    expect_status(&what, status, &body, 200);
    body
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Asks the lookup directly, as the handler does; a lookup that hangs fails
/// the test instead of blocking it.
async fn ask(posts_url: &str, post_id: &str) -> Result<bool, CommentsError> {
    let lookup = PostsOverHttp::new(posts_url, LOOKUP_TIMEOUT);
    let post = PostId::parse(post_id).unwrap();
    tokio::time::timeout(HUNG_AFTER, lookup.post_exists(&post))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "asking posts at {posts_url} has not finished after {HUNG_AFTER:?}, although the \
                 lookup's timeout is {LOOKUP_TIMEOUT:?}. Does the client built in \
                 `PostsOverHttp::new` give up after `timeout` (TODO 2 in src/post_lookup/http.rs)?"
            )
        })
}

/// Where a test's log lines go: a buffer instead of the terminal.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The answer `error` becomes, and what comments logged while making it.
async fn answer_and_log(error: CommentsError) -> (u16, Value, String) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let response = tracing::subscriber::with_default(subscriber, || error.into_response());
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    (status, body, log)
}

// ANCHOR: post_id_test
#[test]
fn a_post_id_is_short_and_plain() {
    for good in ["1", "a1b2c3d4", "0123456789abcdef", "my_post-2"] {
        assert!(PostId::parse(good).is_ok(), "{good:?} is a fine post id");
    }
    assert!(PostId::parse(&"x".repeat(MAX_POST_ID_CHARS)).is_ok());
    assert_eq!(PostId::parse(""), Err(PostIdError::Empty));
    assert_eq!(
        PostId::parse(&"x".repeat(MAX_POST_ID_CHARS + 1)),
        Err(PostIdError::TooLong {
            max: MAX_POST_ID_CHARS,
            length: MAX_POST_ID_CHARS + 1
        })
    );
    for bad in ["a b", "a/b", "a.b", "../etc", "é", "a%20b", " p1"] {
        assert_eq!(
            PostId::parse(bad),
            Err(PostIdError::BadCharacter),
            "{bad:?} is not a post id"
        );
    }
}
// ANCHOR_END: post_id_test

// ANCHOR: lookup_test
#[tokio::test]
async fn the_lookup_finds_the_posts_that_posts_has() {
    let posts_data = tempfile::tempdir().unwrap();
    let posts = start_posts("127.0.0.1:0".parse().unwrap(), posts_data.path()).await;
    let client = client();
    let first = create_post(&client, &posts, "first post").await;
    let second = create_post(&client, &posts, "second post").await;

    for id in [&first, &second] {
        match ask(&posts.url(), id).await {
            Ok(true) => {}
            other => panic!(
                "posts has post {id:?}, so the lookup should answer Ok(true); it answered {other:?}"
            ),
        }
    }
    match ask(&posts.url(), "not-a-post").await {
        Ok(false) => {}
        other => panic!(
            "posts answered with its posts, and \"not-a-post\" is not one of them: the lookup \
             should answer Ok(false); it answered {other:?}"
        ),
    }
    posts.stop().await;
}
// ANCHOR_END: lookup_test

#[tokio::test]
async fn the_lookup_accepts_a_posts_url_with_a_trailing_slash() {
    let posts_data = tempfile::tempdir().unwrap();
    let posts = start_posts("127.0.0.1:0".parse().unwrap(), posts_data.path()).await;
    let post_id = create_post(&client(), &posts, "a post").await;

    let with_slash = format!("{}/", posts.url());
    match ask(&with_slash, &post_id).await {
        Ok(true) => {}
        other => panic!(
            "posts has post {post_id:?}, so the lookup should answer Ok(true); it answered {other:?}. \
             Here the posts URL ends with a '/' ({with_slash:?}): the lookup must still ask {}/posts, \
             not {}//posts",
            posts.url(),
            posts.url()
        ),
    }
    posts.stop().await;
}

#[tokio::test]
async fn the_lookup_gives_up_when_posts_is_down_hanging_or_broken() {
    let hanging = misbehaving_posts("hanging").await;
    let failing = misbehaving_posts("failing").await;
    let not_json = misbehaving_posts("not-json").await;
    let cases = [
        ("down (nothing listens)", NO_POSTS.to_string()),
        ("hanging (never answers)", hanging.url()),
        ("failing (answers 500)", failing.url()),
        (
            "answering 200 with a web page instead of the posts",
            not_json.url(),
        ),
    ];
    for (what, posts_url) in cases {
        match ask(&posts_url, "p1").await {
            Err(CommentsError::PostsUnavailable { .. }) => {}
            Ok(false) => panic!(
                "while posts is {what}, the lookup answered Ok(false), \"there is no such post\": \
                 posts never said that. We could not find out, which is PostsUnavailable"
            ),
            other => panic!(
                "while posts is {what}, the lookup should fail with PostsUnavailable; it answered {other:?}"
            ),
        }
    }
    for stand_in in [hanging, failing, not_json] {
        stand_in.stop().await;
    }
}

// ANCHOR: failed_lookup_tests
#[tokio::test]
async fn a_failed_lookup_for_a_missing_post_is_a_404_that_names_it() {
    let (status, body, _log) = answer_and_log(CommentsError::UnknownPost("p42".into())).await;
    expect_status(
        "a comment on a post that posts does not have",
        status,
        &body,
        404,
    );
    assert_eq!(body, json!({"error": "there is no post with id \"p42\""}));
}

#[tokio::test]
async fn a_failed_lookup_with_posts_unavailable_is_a_503_with_the_reason_in_the_log() {
    let reason = "error sending request for url (http://localhost:4000/posts): client error \
                  (Connect): tcp connect error: Connection refused (os error 111)";
    let unavailable = CommentsError::PostsUnavailable {
        reason: reason.into(),
    };
    let (status, body, log) = answer_and_log(unavailable).await;
    expect_status("a comment while posts is unavailable", status, &body, 503);
    assert_eq!(
        body,
        json!({"error": "the posts service is unavailable"}),
        "the caller gets one short, stable message, not the reason"
    );
    assert!(
        log.contains("WARN") && log.contains("Connection refused (os error 111)"),
        "the reason is for whoever runs comments: it goes to the log, at WARN. The log was {log:?}"
    );
}
// ANCHOR_END: failed_lookup_tests

// ANCHOR: asks_posts_test
#[tokio::test]
async fn comments_asks_posts_whether_the_post_exists() {
    let posts_data = tempfile::tempdir().unwrap();
    let posts = start_posts("127.0.0.1:0".parse().unwrap(), posts_data.path()).await;
    let client = client();
    let first = create_post(&client, &posts, "first post").await;
    let second = create_post(&client, &posts, "second post").await;

    let data = tempfile::tempdir().unwrap();
    let comments = start_comments(data.path(), &posts.url(), PostLookupMode::Http).await;

    // No PostCreated ever reached comments: only posts itself can say yes.
    let (status, body) = comment(&client, &comments, &second, "asked posts first").await;
    expect_status("a comment on a post that posts has", status, &body, 201);
    assert_eq!(
        body[0]["content"], "asked posts first",
        "the 201 body is the post's comment list: {body}"
    );
    assert_eq!(body[0]["status"], "pending");

    let (status, body) = comment(&client, &comments, "not-a-post", "hello?").await;
    expect_status(
        "a comment on a post that posts does not have",
        status,
        &body,
        404,
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("not-a-post")),
        "the error names the post: {body}"
    );
    assert_eq!(
        list(&client, &comments, "not-a-post").await,
        json!([]),
        "nothing is stored for it"
    );
    assert_eq!(
        list(&client, &comments, &first).await,
        json!([]),
        "and nothing on the other post"
    );

    comments.stop().await;
    posts.stop().await;
}
// ANCHOR_END: asks_posts_test

// ANCHOR: cascade_test
#[tokio::test]
async fn the_cascade_while_posts_is_down_nobody_can_comment() {
    let posts_data = tempfile::tempdir().unwrap();
    let posts = start_posts("127.0.0.1:0".parse().unwrap(), posts_data.path()).await;
    let posts_addr = posts.addr();
    let client = client();
    let post_id = create_post(&client, &posts, "a post").await;
    let data = tempfile::tempdir().unwrap();
    let comments = start_comments(data.path(), &posts.url(), PostLookupMode::Http).await;
    let (status, body) = comment(&client, &comments, &post_id, "posts is up").await;
    expect_status("a comment while posts is up", status, &body, 201);

    // Posts goes down. Nothing is wrong with comments, and yet:
    posts.stop().await;
    let (status, body) = comment(&client, &comments, &post_id, "posts is down").await;
    expect_status("a comment while posts is down", status, &body, 503);
    assert_eq!(body, json!({"error": "the posts service is unavailable"}));

    // Reading does not ask posts, so it still works, and nothing was stored.
    let listed = list(&client, &comments, &post_id).await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "only the first comment is stored: {listed}"
    );

    // Posts comes back (same address, same data): commenting works again,
    // without restarting comments.
    let posts = start_posts(posts_addr, posts_data.path()).await;
    let (status, body) = comment(&client, &comments, &post_id, "posts is back").await;
    expect_status("a comment once posts is back", status, &body, 201);
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");

    comments.stop().await;
    posts.stop().await;
}
// ANCHOR_END: cascade_test

/// A stand-in for posts that answers `GET /posts` badly, in one of three ways.
async fn misbehaving_posts(how: &'static str) -> Server {
    let app = Router::new().route(
        "/posts",
        get(move || async move {
            match how {
                // Accepts the request and never answers, like a posts
                // service stuck on a slow database.
                "hanging" => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    (StatusCode::OK, Json(json!({}))).into_response()
                }
                "failing" => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "database locked"})),
                )
                    .into_response(),
                // 200, but not the list of posts: say, a proxy's error page.
                _ => (StatusCode::OK, "<html>Bad gateway</html>").into_response(),
            }
        }),
    );
    Server::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
}

// ANCHOR: unavailable_test
#[tokio::test]
async fn posts_down_hanging_or_broken_gets_an_honest_503_within_the_timeout() {
    let hanging = misbehaving_posts("hanging").await;
    let failing = misbehaving_posts("failing").await;
    let not_json = misbehaving_posts("not-json").await;
    let client = client();

    let cases = [
        ("down (nothing listens)", NO_POSTS.to_string()),
        ("hanging (never answers)", hanging.url()),
        ("failing (answers 500)", failing.url()),
        (
            "answering 200 with a web page instead of the posts",
            not_json.url(),
        ),
    ];
    for (what, posts_url) in cases {
        let data = tempfile::tempdir().unwrap();
        let comments = start_comments(data.path(), &posts_url, PostLookupMode::Http).await;
        let (status, body) = comment(&client, &comments, "p1", "hi").await;
        expect_status(
            &format!("a comment while posts is {what}"),
            status,
            &body,
            503,
        );
        assert_eq!(
            body,
            json!({"error": "the posts service is unavailable"}),
            "posts {what}: the caller gets one clear message"
        );
        assert_eq!(
            list(&client, &comments, "p1").await,
            json!([]),
            "nothing is stored while posts is {what}"
        );
        comments.stop().await;
    }
    for stand_in in [hanging, failing, not_json] {
        stand_in.stop().await;
    }
}
// ANCHOR_END: unavailable_test

// ANCHOR: bad_input_first_test
#[tokio::test]
async fn bad_input_is_refused_before_comments_asks_posts() {
    // Posts is down. A comment that is not valid is still a 422: comments
    // refuses it without asking posts, so posts' state does not matter.
    let data = tempfile::tempdir().unwrap();
    let comments = start_comments(data.path(), NO_POSTS, PostLookupMode::Http).await;
    let client = client();
    let too_long = "x".repeat(MAX_CONTENT_CHARS + 1);
    for (what, content) in [
        ("an empty comment", ""),
        ("a comment over the limit", too_long.as_str()),
    ] {
        let (status, body) = comment(&client, &comments, "p1", content).await;
        assert_eq!(
            status, 422,
            "{what} should be refused with 422 even while posts is down, but it was answered \
             {status} with {body}. Is the comment checked before comments asks posts? (TODO 5 \
             in src/handlers.rs)"
        );
    }
    comments.stop().await;
}
// ANCHOR_END: bad_input_first_test

// ANCHOR: events_contrast_test
#[tokio::test]
async fn the_events_lookup_keeps_comments_working_while_posts_is_down() {
    // The default lookup (chapter 3 feeds it): comments remembers the posts
    // it heard of through PostCreated events, and never asks posts.
    let data = tempfile::tempdir().unwrap();
    let comments = start_comments(data.path(), NO_POSTS, PostLookupMode::Events).await;
    let client = client();
    let created = json!({"type": "PostCreated", "data": {"id": "p1", "title": "a post"}});
    let (status, body) = send(
        "POST /events",
        client
            .post(format!("{}/events", comments.url()))
            .json(&created),
    )
    .await;
    expect_status("POST /events with a PostCreated", status, &body, 200);

    let (status, body) = comment(&client, &comments, "p1", "posts is down, and that is fine").await;
    expect_status(
        "a comment with the events lookup while posts is down",
        status,
        &body,
        201,
    );
    comments.stop().await;
}
// ANCHOR_END: events_contrast_test

// ANCHOR: reason_test
#[tokio::test]
async fn the_log_says_why_posts_could_not_answer() {
    // The caller only gets "the posts service is unavailable". Whoever runs
    // comments reads the reason in its log, and the reason must say why.
    let hanging = misbehaving_posts("hanging").await;
    let cases = [
        ("down (nothing listens)", NO_POSTS.to_string(), "refused"),
        ("hanging (never answers)", hanging.url(), "timed out"),
    ];
    let post = comments::PostId::parse("p1").unwrap();
    for (what, posts_url, why) in cases {
        let lookup = comments::post_lookup::http::PostsOverHttp::new(&posts_url, LOOKUP_TIMEOUT);
        match comments::PostLookup::post_exists(&lookup, &post).await {
            Err(comments::CommentsError::PostsUnavailable { reason }) => assert!(
                reason.to_lowercase().contains(why),
                "while posts is {what}, the reason for the log is {reason:?}, which does not say why \
                 (\"{why}\"). `error.to_string()` gives only the outermost message: pass the whole \
                 chain of causes, `error_chain(&error)` from src/error.rs (TODO 3)"
            ),
            other => {
                panic!(
                    "while posts is {what}, post_exists should fail with PostsUnavailable, got {other:?}"
                )
            }
        }
    }
    hanging.stop().await;
}
// ANCHOR_END: reason_test
