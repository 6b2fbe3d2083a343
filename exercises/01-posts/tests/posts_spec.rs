//! The specification of the posts service (chapter 1).
//!
//! These tests are the exercise: run `cargo test -p ex01-posts` until they all
//! pass. The very same file tests the reference solution, so what passes here
//! is exactly what the rest of the blog expects from posts.
//!
//! Every test starts the real service on `127.0.0.1:0` with a fresh data
//! directory and talks to it over HTTP, like the other services will.

use std::path::Path;
use std::time::Duration;

use blog_events::outbox::{self, OUTBOX_LIMIT};
use blog_events::{Event, PostCreated};
use blog_runtime::{RETRY_AFTER_SECONDS, Server};
use blog_testkit::{Behaviour, FakeService, expect_json_error, send, wait_until};
use posts::title::{MAX_TITLE_CHARS, TitleError};
use posts::{PostStore, Title};
use serde_json::{Value, json};

/// A port where nothing listens: the service must cope with a missing bus.
const NO_BUS: &str = "http://127.0.0.1:9";

async fn start_posts(data_dir: &Path, event_bus_url: &str) -> Server {
    let config = posts::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        event_bus_url: event_bus_url.to_string(),
        page_origins: Default::default(),
    };
    posts::start(config)
        .await
        .expect("the posts service should start")
}

/// Fails with a message that says what the learner should look at next.
fn expect_status(what: &str, status: u16, body: &Value, expected: u16) {
    if status == expected {
        return;
    }
    let advice = match status {
        404 | 405 => "\nThe service has no route for this method and path: register it in `app()` in src/lib.rs (TODO 3).".to_string(),
        500 if body.to_string().contains("not yet implemented") => {
            format!("\nA `todo!()` is still in the way: {}", body["error"])
        }
        _ => String::new(),
    };
    panic!("{what} should answer {expected}, but it answered {status} with {body}{advice}");
}

/// A second connection to the service's database, like `sqlite3 posts.db`
/// in a terminal: it sees only what the service has committed.
fn open_db(data_dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(data_dir.join("posts.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// The posts committed to the database, as (id, title).
fn posts_on_disk(data_dir: &Path) -> Vec<(String, String)> {
    let conn = open_db(data_dir);
    let mut statement = conn
        .prepare("SELECT id, title FROM posts ORDER BY rowid")
        .unwrap();
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The events committed to the outbox and not yet sent, oldest first.
fn outbox_on_disk(data_dir: &Path) -> Vec<Value> {
    let conn = open_db(data_dir);
    let mut statement = conn
        .prepare("SELECT event FROM outbox ORDER BY seq")
        .unwrap();
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap();
    rows.map(|event| serde_json::from_str(&event.unwrap()).unwrap())
        .collect()
}

/// Fills the outbox to [`OUTBOX_LIMIT`], as a bus down for a long while
/// leaves it: the next `outbox::enqueue` is refused.
fn fill_the_outbox(data_dir: &Path) {
    let db = outbox::open_service_db(&data_dir.join("posts.db")).unwrap();
    let event = Event::PostCreated(PostCreated {
        id: "older".into(),
        title: "a post the bus has not taken yet".into(),
    });
    db.execute_batch("BEGIN").unwrap();
    for _ in 0..OUTBOX_LIMIT {
        outbox::enqueue(&db, &event).unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
}

/// Makes every new row in `posts` fail, as a full disk would, while the
/// outbox still takes events.
fn break_the_posts_table(data_dir: &Path) {
    open_db(data_dir)
        .execute_batch(
            "CREATE TRIGGER no_room_for_posts BEFORE INSERT ON posts
             BEGIN SELECT RAISE(ABORT, 'no room for posts on /dev/sda1'); END;",
        )
        .unwrap();
}

async fn create(client: &reqwest::Client, base: &str, path: &str, title: &str) -> Value {
    let (status, body) = send(
        client
            .post(format!("{base}{path}"))
            .json(&json!({ "title": title })),
    )
    .await;
    expect_status(
        &format!("POST {path} with a valid title"),
        status,
        &body,
        201,
    );
    body
}

async fn list(client: &reqwest::Client, base: &str) -> Value {
    let (status, body) = send(client.get(format!("{base}/posts"))).await;
    expect_status("GET /posts", status, &body, 200);
    body
}

// ANCHOR: title_rules
#[test]
fn a_title_is_trimmed_and_must_not_be_blank_or_too_long() {
    assert_eq!(
        Title::parse("  Hello, world  ").unwrap().as_str(),
        "Hello, world"
    );
    assert_eq!(Title::parse(""), Err(TitleError::Empty));
    assert_eq!(
        Title::parse(" \t\n "),
        Err(TitleError::Empty),
        "whitespace only counts as empty"
    );

    let longest = "é".repeat(MAX_TITLE_CHARS);
    assert!(
        Title::parse(&longest).is_ok(),
        "a title of exactly MAX_TITLE_CHARS characters is fine (count characters, not bytes)"
    );
    let too_long = "a".repeat(MAX_TITLE_CHARS + 1);
    assert_eq!(
        Title::parse(&too_long),
        Err(TitleError::TooLong {
            max: MAX_TITLE_CHARS,
            length: MAX_TITLE_CHARS + 1
        })
    );
}
// ANCHOR_END: title_rules

// ANCHOR: store_tests
#[tokio::test]
async fn the_store_keeps_a_post_and_its_event_together() {
    let data = tempfile::tempdir().unwrap();
    let store = PostStore::open(&data.path().join("posts.db")).unwrap();

    let post = store
        .create(Title::parse("news").unwrap())
        .await
        .expect("creating a post in an empty database should work");

    assert_eq!(post.title, "news");
    assert_eq!(
        posts_on_disk(data.path()),
        vec![(post.id.clone(), "news".to_string())],
        "the post is committed: another connection to posts.db sees it"
    );
    assert_eq!(
        outbox_on_disk(data.path()),
        vec![json!({"type": "PostCreated", "data": {"id": post.id, "title": "news"}})],
        "its PostCreated event is committed to the outbox, for the relay to send"
    );
}

#[tokio::test]
async fn the_store_keeps_no_post_when_the_outbox_is_full() {
    let data = tempfile::tempdir().unwrap();
    let store = PostStore::open(&data.path().join("posts.db")).unwrap();
    fill_the_outbox(data.path());

    match store.create(Title::parse("one too many").unwrap()).await {
        Err(error) => assert!(
            outbox::is_full(&error),
            "create should fail with the outbox's own error (one that `outbox::is_full` \
             recognises), so that it can be answered 503; it failed with {error}"
        ),
        Ok(post) => panic!("the outbox is full, so create must fail, but it answered {post:?}"),
    }
    assert_eq!(
        posts_on_disk(data.path()),
        vec![],
        "the post's event could not be queued, so the post must not be kept either: \
         nobody would ever hear of it. Are the post and its event written in one \
         transaction, committed only once both are in? (TODO 2 in src/store.rs)"
    );
}

#[tokio::test]
async fn the_store_announces_no_post_it_could_not_keep() {
    let data = tempfile::tempdir().unwrap();
    let store = PostStore::open(&data.path().join("posts.db")).unwrap();
    break_the_posts_table(data.path());

    let refused = store.create(Title::parse("lost?").unwrap()).await;

    assert!(
        refused.is_err(),
        "the database refused the post, so create must fail: {refused:?}"
    );
    assert_eq!(
        outbox_on_disk(data.path()),
        Vec::<Value>::new(),
        "the post was never kept, so the outbox must not announce it: the blog would \
         show a post that does not exist. Is the event written in the same transaction \
         as the post? (TODO 2 in src/store.rs)"
    );
}
// ANCHOR_END: store_tests

// ANCHOR: create_test
#[tokio::test]
async fn creating_a_post_answers_201_with_its_id_and_title() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();

    let post = create(&client, &server.url(), "/posts", "  My first post ").await;

    assert_eq!(
        post["title"], "My first post",
        "the stored title is trimmed"
    );
    let id = post["id"].as_str().expect("the answer has a string `id`");
    assert!(!id.is_empty(), "the id must not be empty");
    server.stop().await;
}
// ANCHOR_END: create_test

#[tokio::test]
async fn posts_create_does_the_same_as_posts() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();

    let first = create(&client, &server.url(), "/posts", "one").await;
    let second = create(&client, &server.url(), "/posts/create", "two").await;

    assert_ne!(first["id"], second["id"], "every post gets its own id");
    assert_eq!(second["title"], "two");
    server.stop().await;
}

#[tokio::test]
async fn listing_shows_every_post_keyed_by_id_oldest_first() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();

    let empty = list(&client, &server.url()).await;
    assert_eq!(
        empty,
        json!({}),
        "with no posts, GET /posts is an empty object"
    );

    let mut created = Vec::new();
    for title in ["alpha", "beta", "gamma"] {
        created.push(create(&client, &server.url(), "/posts", title).await);
    }
    let listed = list(&client, &server.url()).await;
    let listed = listed
        .as_object()
        .expect("GET /posts answers a JSON object");
    assert_eq!(listed.len(), 3, "all three posts are listed: {listed:?}");
    for post in &created {
        let id = post["id"].as_str().unwrap();
        assert_eq!(
            &listed[id], post,
            "the entry under each id is the post itself"
        );
    }
    server.stop().await;
}

// ANCHOR: bad_input_test
#[tokio::test]
async fn bad_input_gets_a_json_error_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();
    let url = format!("{}/posts", server.url());
    create(&client, &server.url(), "/posts", "the only post").await;
    let before = list(&client, &server.url()).await;

    let too_long = "x".repeat(MAX_TITLE_CHARS + 1);
    let huge = format!(r#"{{"title":"{}"}}"#, "x".repeat(70 * 1024));
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "an empty title",
            client.post(&url).json(&json!({"title": ""})),
            422,
        ),
        (
            "a whitespace title",
            client.post(&url).json(&json!({"title": "   "})),
            422,
        ),
        (
            "a title over the limit",
            client.post(&url).json(&json!({"title": too_long})),
            422,
        ),
        (
            "no title at all",
            client.post(&url).json(&json!({"name": "x"})),
            422,
        ),
        (
            "a title that is not text",
            client.post(&url).json(&json!({"title": 42})),
            422,
        ),
        (
            "a body that is not JSON",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{title:"),
            400,
        ),
        (
            "a wrong content type",
            client
                .post(&url)
                .header("content-type", "text/plain")
                .body(r#"{"title":"x"}"#),
            415,
        ),
        (
            "a body over 64 KiB",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(huge),
            413,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        expect_status(&format!("POST /posts with {what}"), status, &body, expected);
        expect_json_error(what, &body);
    }

    assert_eq!(
        list(&client, &server.url()).await,
        before,
        "refused requests must not store anything"
    );
    server.stop().await;
}
// ANCHOR_END: bad_input_test

// ANCHOR: full_outbox_test
#[tokio::test]
async fn a_full_outbox_answers_503_with_retry_after_and_stores_no_post() {
    let data = tempfile::tempdir().unwrap();
    fill_the_outbox(data.path());
    // Nothing listens at NO_BUS, so the outbox stays full.
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();

    let response = client
        .post(format!("{}/posts", server.url()))
        .json(&json!({ "title": "one too many" }))
        .send()
        .await
        .expect("posts should answer");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap_or_default().to_string());
    let body: Value = response.json().await.unwrap_or_default();

    expect_status("POST /posts while the outbox is full", status, &body, 503);
    assert_eq!(
        retry_after,
        Some(RETRY_AFTER_SECONDS.to_string()),
        "a 503 for a full outbox says when to come back, in a `Retry-After` header (TODO 5 in src/error.rs)"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|message| message.contains("outbox is full")),
        "the JSON error says why: {body}"
    );
    assert_eq!(
        list(&client, &server.url()).await,
        json!({}),
        "a post refused with 503 is not stored"
    );
    server.stop().await;
}
// ANCHOR_END: full_outbox_test

#[tokio::test]
async fn a_failing_database_answers_500_and_keeps_the_cause_to_itself() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();
    break_the_posts_table(data.path());

    let (status, body) = send(
        client
            .post(format!("{}/posts", server.url()))
            .json(&json!({ "title": "lost?" })),
    )
    .await;

    expect_status(
        "POST /posts while the database refuses new posts",
        status,
        &body,
        500,
    );
    assert_eq!(
        body,
        json!({"error": "storage failed; nothing was saved"}),
        "the caller learns that nothing was saved; the cause (\"no room for posts on \
         /dev/sda1\") is for the log, not for the caller (TODO 5 in src/error.rs)"
    );
    server.stop().await;
}

#[tokio::test]
async fn posts_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let server = start_posts(data.path(), NO_BUS).await;
    let post = create(&client, &server.url(), "/posts", "still here tomorrow").await;
    server.stop().await;

    let server = start_posts(data.path(), NO_BUS).await;
    let listed = list(&client, &server.url()).await;
    assert_eq!(
        listed[post["id"].as_str().unwrap()],
        post,
        "a restarted service still has the post"
    );
    server.stop().await;
}

// ANCHOR: event_test
#[tokio::test]
async fn every_new_post_is_announced_to_the_event_bus() {
    let data = tempfile::tempdir().unwrap();
    let bus = FakeService::start("the bus").await;
    let server = start_posts(data.path(), &bus.url()).await;
    let client = reqwest::Client::new();

    let post = create(&client, &server.url(), "/posts", "news").await;

    let event = bus.next_event("a PostCreated event").await;
    assert_eq!(
        event,
        json!({"type": "PostCreated", "data": {"id": post["id"], "title": "news"}})
    );
    server.stop().await;
    bus.stop().await;
}
// ANCHOR_END: event_test

#[tokio::test]
async fn a_post_made_while_the_bus_is_down_is_announced_when_it_comes_back() {
    let data = tempfile::tempdir().unwrap();
    // The bus is "down": its address is known, but it hangs up on everyone.
    let bus = FakeService::start_down("the bus").await;
    let server = start_posts(data.path(), &bus.url()).await;
    let client = reqwest::Client::new();

    let post = create(
        &client,
        &server.url(),
        "/posts",
        "written while the bus was down",
    )
    .await;
    let patience = Duration::from_secs(10);
    wait_until("posts has tried to reach the bus", patience, async || {
        bus.refusals() > 0
    })
    .await;

    bus.set(Behaviour::Up);
    let event = bus.next_event("a PostCreated event").await;
    assert_eq!(event["type"], "PostCreated");
    assert_eq!(
        event["data"]["id"], post["id"],
        "the post made while the bus was down is not lost"
    );
    server.stop().await;
    bus.stop().await;
}

#[tokio::test]
async fn events_from_the_bus_are_acknowledged_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start_posts(data.path(), NO_BUS).await;
    let client = reqwest::Client::new();
    let url = format!("{}/events", server.url());

    // The bus sends every event to every service, posts included.
    let ours = json!({"type": "CommentCreated", "seq": 7,
        "data": {"id": "c1", "content": "hi", "postId": "p1", "status": "pending"}});
    let foreign = json!({"type": "SomethingElse", "data": {}});
    for event in [ours, foreign] {
        let (status, body) = send(client.post(&url).json(&event)).await;
        expect_status("POST /events", status, &body, 200);
    }
    let (status, body) = send(
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("{oops"),
    )
    .await;
    expect_status(
        "POST /events with a body that is not JSON",
        status,
        &body,
        400,
    );

    assert_eq!(
        list(&client, &server.url()).await,
        json!({}),
        "events do not create posts"
    );
    server.stop().await;
}
