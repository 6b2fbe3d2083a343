//! The specification of the comments service (chapter 2).
//!
//! Every test starts the real service on `127.0.0.1:0` with a fresh data
//! directory and talks to it over HTTP, like the other services will.
//!
//! These tests run comments the default way (`POST_LOOKUP=events`): the
//! given code around what you write, and your handler (TODO 5) in it. What
//! you write has its own specification: `sync_spec.rs`.

use std::path::Path;
use std::time::Duration;

use blog_runtime::Server;
use blog_testkit::{FakeService, expect_json_error, expect_status, send};
use comments::CommentStore;
use comments::content::{ContentError, MAX_CONTENT_CHARS};
use comments::post_id::MAX_POST_ID_CHARS;
use comments::{CommentContent, PostLookupMode};
use serde_json::{Value, json};

/// A port where nothing listens: the service must cope with a missing bus.
const NO_BUS: &str = "http://127.0.0.1:9";
/// A port where nothing listens: these tests never ask posts.
const NO_POSTS: &str = "http://127.0.0.1:9";

/// How one test wants the service started.
struct Setup<'a> {
    event_bus_url: &'a str,
    post_lookup: PostLookupMode,
    posts_url: &'a str,
    posts_timeout: Duration,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            event_bus_url: NO_BUS,
            post_lookup: PostLookupMode::Events,
            posts_url: NO_POSTS,
            posts_timeout: Duration::from_secs(2),
        }
    }
}

async fn start_comments(data_dir: &Path, setup: Setup<'_>) -> Server {
    let config = comments::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        event_bus_url: setup.event_bus_url.to_string(),
        post_lookup: setup.post_lookup,
        posts_url: setup.posts_url.to_string(),
        posts_timeout: setup.posts_timeout,
        page_origins: Default::default(),
    };
    comments::start(config)
        .await
        .expect("the comments service should start")
}

fn client() -> reqwest::Client {
    // Generous, so a hanging service fails the test instead of blocking it forever.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn post_event(client: &reqwest::Client, base: &str, event: Value) -> Value {
    let (status, body) = send(client.post(format!("{base}/events")).json(&event)).await;
    expect_status(&format!("POST /events with {event}"), status, &body, 200);
    body
}

/// Tells comments that a post exists, the way the bus would.
async fn announce_post(client: &reqwest::Client, base: &str, post_id: &str) {
    let event = json!({"type": "PostCreated", "data": {"id": post_id, "title": "a post"}});
    post_event(client, base, event).await;
}

async fn comment(client: &reqwest::Client, base: &str, post_id: &str, content: &str) -> Value {
    let url = format!("{base}/posts/{post_id}/comments");
    let (status, body) = send(client.post(url).json(&json!({ "content": content }))).await;
    expect_status(
        &format!("POST /posts/{post_id}/comments with {content:?}"),
        status,
        &body,
        201,
    );
    body
}

async fn list(client: &reqwest::Client, base: &str, post_id: &str) -> Value {
    let (status, body) = send(client.get(format!("{base}/posts/{post_id}/comments"))).await;
    expect_status(
        &format!("GET /posts/{post_id}/comments"),
        status,
        &body,
        200,
    );
    body
}

fn moderated(comment: &Value, post_id: &str, status: &str) -> Value {
    json!({"type": "CommentModerated", "data": {
        "id": comment["id"], "postId": post_id, "status": status, "content": comment["content"],
    }})
}

#[test]
fn comment_content_is_trimmed_and_must_not_be_blank_or_too_long() {
    assert_eq!(
        CommentContent::parse("  Nice post!  ").unwrap().as_str(),
        "Nice post!"
    );
    assert_eq!(CommentContent::parse(""), Err(ContentError::Empty));
    assert_eq!(
        CommentContent::parse(" \t\n "),
        Err(ContentError::Empty),
        "whitespace only counts as empty"
    );
    let longest = "é".repeat(MAX_CONTENT_CHARS);
    assert!(
        CommentContent::parse(&longest).is_ok(),
        "exactly MAX_CONTENT_CHARS characters is fine (characters, not bytes)"
    );
    assert_eq!(
        CommentContent::parse(&"a".repeat(MAX_CONTENT_CHARS + 1)),
        Err(ContentError::TooLong {
            max: MAX_CONTENT_CHARS,
            length: MAX_CONTENT_CHARS + 1
        })
    );
}

#[tokio::test]
async fn comments_are_listed_oldest_first_and_the_201_body_is_the_whole_list() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    announce_post(&client, &base, "p1").await;
    announce_post(&client, &base, "p2").await;

    assert_eq!(
        list(&client, &base, "p1").await,
        json!([]),
        "a post without comments has an empty list"
    );
    assert_eq!(
        list(&client, &base, "never-heard-of").await,
        json!([]),
        "so does an unknown post"
    );

    let after_first = comment(&client, &base, "p1", "  first! ").await;
    assert_eq!(
        after_first.as_array().map(Vec::len),
        Some(1),
        "the 201 body is the post's list: {after_first}"
    );
    let first = &after_first[0];
    assert_eq!(first["content"], "first!", "the content is stored trimmed");
    assert_eq!(
        first["status"], "pending",
        "every new comment starts pending"
    );
    assert!(
        first["id"].as_str().is_some_and(|id| !id.is_empty()),
        "a comment has a non-empty string id: {first}"
    );

    comment(&client, &base, "p2", "on another post").await;
    let after_second = comment(&client, &base, "p1", "second").await;
    assert_eq!(
        after_second[0], *first,
        "the 201 body lists the older comment first"
    );
    assert_eq!(after_second[1]["content"], "second");
    assert_ne!(
        after_second[1]["id"], first["id"],
        "every comment gets its own id"
    );
    assert_eq!(
        after_second.as_array().unwrap().len(),
        2,
        "only p1's comments: {after_second}"
    );

    assert_eq!(
        list(&client, &base, "p1").await,
        after_second,
        "GET shows the same list, oldest first"
    );
    assert_eq!(
        list(&client, &base, "p2").await.as_array().unwrap().len(),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    announce_post(&client, &base, "p1").await;
    comment(&client, &base, "p1", "the only comment").await;
    let before = list(&client, &base, "p1").await;

    let url = format!("{base}/posts/p1/comments");
    let too_long = "x".repeat(MAX_CONTENT_CHARS + 1);
    let one_mib = format!(r#"{{"content":"{}"}}"#, "x".repeat(1024 * 1024));
    let long_id = "x".repeat(MAX_POST_ID_CHARS + 1);
    let ok = json!({"content": "fine"});
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "empty content",
            client.post(&url).json(&json!({"content": ""})),
            422,
        ),
        (
            "whitespace content",
            client.post(&url).json(&json!({"content": "  \n "})),
            422,
        ),
        (
            "content over the limit",
            client.post(&url).json(&json!({"content": too_long})),
            422,
        ),
        (
            "no content field",
            client.post(&url).json(&json!({"text": "hi"})),
            422,
        ),
        (
            "content that is not text",
            client.post(&url).json(&json!({"content": 7})),
            422,
        ),
        (
            "a body that is not JSON",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{content:"),
            400,
        ),
        (
            "a wrong content type",
            client
                .post(&url)
                .header("content-type", "text/plain")
                .body(r#"{"content":"x"}"#),
            415,
        ),
        (
            "a 1 MiB body",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(one_mib),
            413,
        ),
        (
            "a post id with a space",
            client
                .post(format!("{base}/posts/p%201/comments"))
                .json(&ok),
            400,
        ),
        (
            "a post id with a dot",
            client.post(format!("{base}/posts/p.1/comments")).json(&ok),
            400,
        ),
        (
            "an over-long post id",
            client
                .post(format!("{base}/posts/{long_id}/comments"))
                .json(&ok),
            400,
        ),
        (
            "a bad post id on GET",
            client.get(format!("{base}/posts/p%201/comments")),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        expect_status(&format!("a request with {what}"), status, &body, expected);
        expect_json_error(what, &body);
    }

    assert_eq!(
        list(&client, &base, "p1").await,
        before,
        "refused requests must not store anything"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_comment_on_a_post_nobody_announced_is_a_404_and_is_not_stored() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();

    let (status, body) = send(
        client
            .post(format!("{base}/posts/ghost/comments"))
            .json(&json!({"content": "hello?"})),
    )
    .await;
    expect_status("a comment on an unknown post", status, &body, 404);
    assert!(
        body["error"].as_str().is_some_and(|m| m.contains("ghost")),
        "the error names the post: {body}"
    );
    assert_eq!(
        list(&client, &base, "ghost").await,
        json!([]),
        "nothing is stored for an unknown post"
    );
    server.stop().await;
}

#[tokio::test]
async fn post_created_makes_the_post_known_and_replaying_it_is_harmless() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    let url = format!("{base}/posts/fresh/comments");

    let (status, body) = send(client.post(&url).json(&json!({"content": "too early"}))).await;
    expect_status("a comment before PostCreated arrived", status, &body, 404);

    let created = json!({"type": "PostCreated", "data": {"id": "fresh", "title": "t"}, "seq": 1});
    assert_eq!(
        post_event(&client, &base, created.clone()).await,
        json!({"status": "OK"})
    );
    assert_eq!(
        post_event(&client, &base, created).await,
        json!({"status": "OK"}),
        "a replay is accepted too"
    );

    let listed = comment(&client, &base, "fresh", "now it exists").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn every_new_comment_is_announced_to_the_event_bus() {
    let data = tempfile::tempdir().unwrap();
    let bus = FakeService::start("the bus").await;
    let bus_url = bus.url();
    let server = start_comments(
        data.path(),
        Setup {
            event_bus_url: &bus_url,
            ..Setup::default()
        },
    )
    .await;
    let client = client();
    announce_post(&client, &server.url(), "p1").await;

    let listed = comment(&client, &server.url(), "p1", "hello bus").await;

    let event = bus.next_event("a CommentCreated event").await;
    assert_eq!(
        event,
        json!({"type": "CommentCreated", "data": {
            "id": listed[0]["id"], "content": "hello bus", "postId": "p1", "status": "pending",
        }})
    );
    server.stop().await;
    bus.stop().await;
}

#[tokio::test]
async fn a_moderation_decision_updates_the_comment_and_is_announced_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let bus = FakeService::start("the bus").await;
    let bus_url = bus.url();
    let server = start_comments(
        data.path(),
        Setup {
            event_bus_url: &bus_url,
            ..Setup::default()
        },
    )
    .await;
    let client = client();
    let base = server.url();
    announce_post(&client, &base, "p1").await;
    let created = comment(&client, &base, "p1", "an orange comment").await[0].clone();
    assert_eq!(
        bus.next_event("CommentCreated").await["type"],
        "CommentCreated"
    );

    // The bus delivers at least once: the same decision may arrive twice.
    let decision = moderated(&created, "p1", "rejected");
    assert_eq!(
        post_event(&client, &base, decision.clone()).await,
        json!({"status": "OK"})
    );
    assert_eq!(
        post_event(&client, &base, decision).await,
        json!({"status": "OK"})
    );

    let listed = list(&client, &base, "p1").await;
    assert_eq!(
        listed[0]["status"], "rejected",
        "the stored status follows moderation: {listed}"
    );
    assert_eq!(listed[0]["content"], created["content"]);

    let updated = bus.next_event("CommentUpdated").await;
    assert_eq!(
        updated,
        json!({"type": "CommentUpdated", "data": {
            "id": created["id"], "status": "rejected", "postId": "p1", "content": "an orange comment",
        }})
    );
    // Events leave in order, so if the duplicate had produced a second
    // CommentUpdated it would arrive before this next CommentCreated.
    comment(&client, &base, "p1", "a marker").await;
    let next = bus.next_event("the marker's CommentCreated").await;
    assert_eq!(
        (next["type"].as_str(), next["data"]["content"].as_str()),
        (Some("CommentCreated"), Some("a marker")),
        "a duplicate decision must not be announced again, but the bus got {next}"
    );
    server.stop().await;
    bus.stop().await;
}

#[tokio::test]
async fn a_changed_decision_is_applied_and_a_pending_one_is_not() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    announce_post(&client, &base, "p1").await;
    let created = comment(&client, &base, "p1", "hmm").await[0].clone();

    post_event(&client, &base, moderated(&created, "p1", "approved")).await;
    assert_eq!(list(&client, &base, "p1").await[0]["status"], "approved");
    post_event(&client, &base, moderated(&created, "p1", "rejected")).await;
    assert_eq!(
        list(&client, &base, "p1").await[0]["status"],
        "rejected",
        "a later decision wins"
    );
    let body = post_event(&client, &base, moderated(&created, "p1", "pending")).await;
    assert_eq!(body, json!({"status": "ignored"}));
    assert_eq!(
        list(&client, &base, "p1").await[0]["status"],
        "rejected",
        "pending is not a decision"
    );
    // The 201 of the next comment shows the same list as a GET: every decision in it.
    let answered = comment(&client, &base, "p1", "and one more").await;
    assert_eq!(answered, list(&client, &base, "p1").await);
    assert_eq!(answered[0]["status"], "rejected", "{answered}");
    server.stop().await;
}

#[tokio::test]
async fn events_we_do_not_act_on_are_answered_200_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    announce_post(&client, &base, "p1").await;
    comment(&client, &base, "p1", "still pending").await;
    let before = list(&client, &base, "p1").await;

    let ignored = json!({"status": "ignored"});
    let cases = [
        json!({"type": "PostDeleted", "data": {"id": "p1"}}),
        json!({"type": "SomethingNew", "seq": 9}),
        json!({"type": "CommentModerated", "data": {"id": "no-such-comment", "postId": "p1", "status": "approved", "content": "x"}}),
        json!({"type": "CommentCreated", "data": {"id": "c9", "content": "x", "postId": "p1", "status": "pending"}}),
        json!({"type": "CommentUpdated", "data": {"id": "c9", "status": "approved", "postId": "p1", "content": "x"}}),
    ];
    for event in cases {
        assert_eq!(
            post_event(&client, &base, event.clone()).await,
            ignored,
            "{event} is a no-op"
        );
    }
    assert_eq!(
        list(&client, &base, "p1").await,
        before,
        "ignored events change nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_events_get_a_json_error() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let url = format!("{}/events", server.url());

    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("a body that is not JSON", client.post(&url).header("content-type", "application/json").body("{"), 400),
        ("an envelope without a type", client.post(&url).json(&json!({"data": {}})), 422),
        ("a PostCreated without an id", client.post(&url).json(&json!({"type": "PostCreated", "data": {"title": "t"}})), 422),
        (
            "a CommentModerated with an unknown status",
            client.post(&url).json(&json!({"type": "CommentModerated", "data": {"id": "c", "postId": "p", "status": "maybe", "content": "x"}})),
            422,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        expect_status(
            &format!("POST /events with {what}"),
            status,
            &body,
            expected,
        );
        assert!(
            body["error"].is_string(),
            "{what}: the answer must be a JSON error, got {body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn comments_and_known_posts_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let client = client();

    let server = start_comments(data.path(), Setup::default()).await;
    announce_post(&client, &server.url(), "p1").await;
    let created =
        comment(&client, &server.url(), "p1", "written before the restart").await[0].clone();
    post_event(
        &client,
        &server.url(),
        moderated(&created, "p1", "approved"),
    )
    .await;
    server.stop().await;

    let server = start_comments(data.path(), Setup::default()).await;
    let listed = list(&client, &server.url(), "p1").await;
    assert_eq!(
        listed[0]["id"], created["id"],
        "a restarted service still has the comment: {listed}"
    );
    assert_eq!(listed[0]["status"], "approved", "and its status");
    comment(&client, &server.url(), "p1", "the post is still known").await;
    server.stop().await;
}

#[tokio::test]
async fn lookup_off_accepts_any_post_like_the_node_app() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(
        data.path(),
        Setup {
            post_lookup: PostLookupMode::Off,
            ..Setup::default()
        },
    )
    .await;
    let client = client();
    comment(&client, &server.url(), "anything", "no questions asked").await;
    server.stop().await;
}

#[test]
fn post_lookup_mode_reads_the_three_names() {
    assert_eq!("events".parse(), Ok(PostLookupMode::Events));
    assert_eq!("HTTP".parse(), Ok(PostLookupMode::Http));
    assert_eq!("off".parse(), Ok(PostLookupMode::Off));
    assert!("sometimes".parse::<PostLookupMode>().is_err());
    assert_eq!(PostLookupMode::default(), PostLookupMode::Events);
}

#[tokio::test]
async fn a_batch_of_events_is_applied_in_order_and_shares_commits() {
    let data = tempfile::tempdir().unwrap();
    let store = CommentStore::open(&data.path().join("comments.db")).unwrap();
    let lookup = PostLookupMode::Events.build(&store, NO_POSTS, Duration::from_secs(2));
    let app = comments::app(store.clone(), lookup, &Default::default());
    let server = Server::start("127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap();
    let (client, base) = (client(), server.url());
    announce_post(&client, &base, "p1").await;
    let mut created = Vec::new();
    for n in 0..40 {
        let listed = comment(&client, &base, "p1", &format!("comment {n}")).await;
        created.push(listed[n].clone());
    }

    // What the bus sends a subscriber that fell behind: a post, and the
    // decisions on every comment, the same decision twice for the first.
    let status = |n: usize| {
        if n.is_multiple_of(3) {
            "rejected"
        } else {
            "approved"
        }
    };
    let mut batch = vec![json!({"type": "PostCreated", "data": {"id": "p2", "title": "later"}})];
    batch.extend((0..40).map(|n| moderated(&created[n], "p1", status(n))));
    batch.push(moderated(&created[0], "p1", status(0)));
    let commits_before = store.commits();
    let (answer, body) = send(client.post(format!("{base}/events/batch")).json(&batch)).await;
    expect_status("POST /events/batch", answer, &body, 200);
    let commits = store.commits() - commits_before;

    let listed = list(&client, &base, "p1").await;
    for (n, comment) in created.iter().enumerate() {
        assert_eq!(
            (&listed[n]["id"], listed[n]["status"].as_str()),
            (&comment["id"], Some(status(n))),
            "every decision of the batch is stored once it is answered: {listed}"
        );
    }
    comment(&client, &base, "p2", "the batch's post is known").await;
    // One commit per event would be 42: the whole batch is one write.
    assert_eq!(
        commits,
        1,
        "{commits} commits for a batch of {} events: they should share one",
        batch.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn far_behind_on_the_bus_comments_pushes_back_new_comments_until_it_caught_up() {
    let data = tempfile::tempdir().unwrap();
    let server = start_comments(data.path(), Setup::default()).await;
    let client = client();
    let base = server.url();
    let batch = |backlog: u64| {
        client
            .post(format!("{base}/events/batch"))
            .header(comments::backlog::BACKLOG_HEADER, backlog)
            .json(&json!([{"type": "PostCreated", "data": {"id": "p1", "title": "a post"}}]))
    };
    let (status, body) = send(batch(comments::backlog::MAX_BACKLOG + 5_000)).await;
    expect_status("POST /events/batch", status, &body, 200);

    // The bus says comments is far behind: a new comment is not taken now.
    let (response, body) = {
        let response = client
            .post(format!("{base}/posts/p1/comments"))
            .json(&json!({"content": "too soon"}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        let status = response.status().as_u16();
        (
            (status, retry_after),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(response.0, 503, "{body}");
    assert!(response.1.is_some(), "a 503 says when to come back");
    assert!(body["error"].is_string(), "{body}");
    // Saying "not now" keeps the connection: a writer whose comment was
    // still on its way when the 503 came sends its next request on the
    // same connection (keep-alive), and that one is answered too.
    let (first, next) = slow_body_then_get(
        &base,
        "/posts/p1/comments",
        r#"{"content": "sent slowly"}"#,
        "/posts/p1/comments",
    )
    .await;
    assert!(first.contains(" 503 "), "{first}");
    assert!(
        next.as_deref().is_some_and(|line| line.contains(" 200 ")),
        "after a 503, the next request on the same connection got {next:?}: \
         the 503 was answered before the request's body was read, so the \
         server closed the connection without saying so"
    );
    assert_eq!(
        list(&client, &base, "p1").await,
        json!([]),
        "nothing stored"
    );

    // Caught up: the door opens again.
    let (status, body) = send(batch(0)).await;
    expect_status("POST /events/batch", status, &body, 200);
    let listed = comment(&client, &base, "p1", "now then").await;
    assert_eq!(listed[0]["content"], "now then");
    server.stop().await;
}

/// On one connection: `POST path` whose body is sent a moment after its
/// headers (as from a slow network), then, once that is answered,
/// `GET then`. The status lines of both answers; the second `None` when
/// the server had closed the connection.
async fn slow_body_then_get(
    base: &str,
    path: &str,
    body: &str,
    then: &str,
) -> (String, Option<String>) {
    use tokio::io::AsyncWriteExt;
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The server may have hung up already: what matters is what comes back.
    let _ = stream.write_all(body.as_bytes()).await;
    let first = read_answer(&mut stream)
        .await
        .expect("the POST is answered");
    let get = format!("GET {then} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let next = match stream.write_all(get.as_bytes()).await {
        Ok(()) => read_answer(&mut stream).await,
        Err(_) => None,
    };
    (first, next)
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body; its status
/// line, or `None` if the connection ends first.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let end_of_head = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&bytes[..end_of_head]).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while bytes.len() < end_of_head + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
    head.lines().next().map(str::to_string)
}
