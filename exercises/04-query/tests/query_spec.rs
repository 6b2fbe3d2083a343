//! The query service over HTTP: events in, `GET /posts` out, and the replay
//! of the bus's log at start.
//!
//! Every test starts the real service on `127.0.0.1:0`. Tests that replay a
//! log start a stand-in for the bus: a tiny server that answers
//! `GET /events?after=N&limit=L` from a list of events (behind the test
//! kit's `FakeService`, so it can also be down and come up on its address).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use blog_runtime::{Readiness, Server};
use blog_testkit::{Behaviour, FakeService, eventually, expect_json_error, send, wait_until};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A port where nothing listens: replaying from here never succeeds.
const NO_BUS: &str = "http://127.0.0.1:9";

async fn start_query(event_bus_url: &str, rebuild: bool) -> Server {
    let config = query::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        event_bus_url: event_bus_url.to_string(),
        rebuild,
        page_origins: Default::default(),
    };
    query::start(config)
        .await
        .expect("the query service should start")
}

async fn post_event(client: &reqwest::Client, base: &str, event: &Value) -> (u16, Value) {
    send(client.post(format!("{base}/events")).json(event)).await
}

/// Posts an event and insists that it was accepted.
async fn deliver(client: &reqwest::Client, base: &str, event: &Value) -> Value {
    let (status, body) = post_event(client, base, event).await;
    assert_eq!(
        status, 200,
        "POST /events with {event} should answer 200, got {status} {body}"
    );
    body
}

async fn list(client: &reqwest::Client, base: &str) -> Value {
    let (status, body) = send(client.get(format!("{base}/posts"))).await;
    assert_eq!(
        status, 200,
        "GET /posts should answer 200, got {status} {body}"
    );
    body
}

async fn wait_until_ready(client: &reqwest::Client, base: &str, within: Duration) {
    let mut status = 0;
    let ready = eventually(within, async || {
        status = send(client.get(format!("{base}/readyz"))).await.0;
        status == 200
    })
    .await;
    assert!(
        ready,
        "the query service did not become ready within {within:?} (/readyz still answers {status}): \
         the replay of the log did not finish; if a todo!() panicked during it, its message is printed above"
    );
}

fn post_created(id: &str, title: &str) -> Value {
    json!({"type": "PostCreated", "data": {"id": id, "title": title}})
}

fn comment_created(id: &str, post_id: &str, content: &str) -> Value {
    json!({"type": "CommentCreated", "data": {"id": id, "postId": post_id, "content": content, "status": "pending"}})
}

fn comment_updated(id: &str, post_id: &str, content: &str, status: &str) -> Value {
    json!({"type": "CommentUpdated", "data": {"id": id, "postId": post_id, "content": content, "status": status}})
}

fn numbered(seq: u64, mut event: Value) -> Value {
    event["seq"] = json!(seq);
    event
}

/// What `GET /posts` shows after [`a_short_history`].
fn after_the_short_history() -> Value {
    json!({
        "p1": {"id": "p1", "title": "First post", "comments": [
            {"id": "c1", "content": "nice", "status": "approved"},
            {"id": "c2", "content": "I hate oranges", "status": "rejected"},
        ]},
        "p2": {"id": "p2", "title": "Second post", "comments": [
            {"id": "c3", "content": "waiting", "status": "pending"},
        ]},
    })
}

fn a_short_history() -> Vec<Value> {
    vec![
        post_created("p1", "First post"),
        comment_created("c1", "p1", "nice"),
        comment_created("c2", "p1", "I hate oranges"),
        post_created("p2", "Second post"),
        comment_updated("c1", "p1", "nice", "approved"),
        comment_created("c3", "p2", "waiting"),
        comment_updated("c2", "p1", "I hate oranges", "rejected"),
    ]
}

// ---------------------------------------------------------------------------
// Events in, posts out (no replay at start)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn events_pushed_by_the_bus_show_up_in_get_posts() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    assert_eq!(
        list(&client, &server.url()).await,
        json!({}),
        "with no events, GET /posts is an empty object"
    );

    for event in a_short_history() {
        let answer = deliver(&client, &server.url(), &event).await;
        assert_eq!(answer, json!({"status": "OK"}));
    }

    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history()
    );
    let order: Vec<String> = list(&client, &server.url())
        .await
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        order,
        ["p1", "p2"],
        "posts are listed in the order they were created"
    );
    server.stop().await;
}

// ANCHOR: redelivery
#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    let history: Vec<Value> = (1..)
        .zip(a_short_history())
        .map(|(seq, event)| numbered(seq, event))
        .collect();
    for event in &history {
        deliver(&client, &server.url(), event).await;
    }

    // The bus retries after a lost answer: same events, same numbers.
    for event in &history {
        let answer = deliver(&client, &server.url(), event).await;
        assert_eq!(
            answer,
            json!({"status": "already applied"}),
            "a redelivery of {event} is recognised by its seq"
        );
    }
    // Another bus numbers nothing; its duplicates must be harmless too.
    deliver(&client, &server.url(), &comment_created("c1", "p1", "nice")).await;
    deliver(&client, &server.url(), &post_created("p2", "Second post")).await;

    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history()
    );
    server.stop().await;
}

// ANCHOR_END: redelivery

#[tokio::test]
async fn an_unknown_event_type_is_acknowledged_and_ignored() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    deliver(&client, &server.url(), &post_created("p1", "t")).await;
    let before = list(&client, &server.url()).await;

    for event in [
        json!({"type": "PostDeleted", "data": {"id": "p1"}}),
        json!({"type": "SomethingNew", "data": 42, "seq": 99}),
        json!({"type": "CommentModerated", "data": {"id": "c1", "postId": "p1", "status": "approved", "content": "x"}}),
    ] {
        let (status, body) = post_event(&client, &server.url(), &event).await;
        assert_eq!(
            status, 200,
            "{event} must be acknowledged, or the bus would retry it forever; got {status} {body}"
        );
    }
    let (_, body) = post_event(
        &client,
        &server.url(),
        &json!({"type": "PostDeleted", "data": {}}),
    )
    .await;
    assert_eq!(body, json!({"status": "ignored"}));

    assert_eq!(
        list(&client, &server.url()).await,
        before,
        "ignored events change nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    let url = format!("{}/events", server.url());
    deliver(&client, &server.url(), &post_created("p1", "t")).await;
    let before = list(&client, &server.url()).await;

    let huge = format!(
        r#"{{"type":"PostCreated","data":{{"id":"x","title":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("a PostCreated without a title", client.post(&url).json(&json!({"type": "PostCreated", "data": {"id": "p9"}})), 422),
        ("a CommentCreated with a number for postId", client.post(&url).json(&json!({"type": "CommentCreated", "data": {"id": "c1", "postId": 1, "content": "x", "status": "pending"}})), 422),
        ("a CommentUpdated with an unknown status", client.post(&url).json(&comment_updated("c1", "p1", "x", "maybe")), 422),
        ("an event without a type", client.post(&url).json(&json!({"data": {"id": "p9", "title": "t"}})), 422),
        ("a body that is not JSON", client.post(&url).header("content-type", "application/json").body("{type:"), 400),
        ("a wrong content type", client.post(&url).header("content-type", "text/plain").body(r#"{"type":"PostCreated"}"#), 415),
        ("a body over 64 KiB", client.post(&url).header("content-type", "application/json").body(huge), 413),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        assert_eq!(
            status, expected,
            "POST /events with {what} should answer {expected}, got {status} {body}"
        );
        expect_json_error(what, &body);
    }

    assert_eq!(
        list(&client, &server.url()).await,
        before,
        "refused events must change nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_replay_the_service_is_ready_at_once() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    let (status, body) = send(client.get(format!("{}/readyz", server.url()))).await;
    assert_eq!(
        status, 200,
        "with rebuild off, /readyz answers 200 at once; got {status} {body}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Rebuilding from the bus's log at start
// ---------------------------------------------------------------------------

/// A stand-in for the bus's log.
#[derive(Clone)]
struct FakeLog {
    events: Arc<Mutex<Vec<Value>>>,
    /// The log's name: when set, sent as the `x-event-log-id` header and as
    /// `logId` on every event listed, like our bus does.
    log_id: Arc<Mutex<Option<String>>>,
    /// Answers at most this many events per page, whatever `limit` asks: a
    /// real bus may, too, so the service must page until an empty answer.
    page_cap: usize,
    /// Whether the log reads the `after` parameter (the Node.js bus does not).
    honours_after: bool,
    /// Requests wait until this turns true, to hold the replay half-way.
    open: watch::Receiver<bool>,
    /// Every `(after, limit)` asked for, in order.
    requests: Arc<Mutex<Vec<(u64, usize)>>>,
    /// How many requests came in, counted before they wait for `open`.
    asked: Arc<AtomicUsize>,
}

async fn serve_log(
    State(log): State<FakeLog>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    log.asked.fetch_add(1, Ordering::SeqCst);
    let mut open = log.open.clone();
    let _ = open.wait_for(|open| *open).await;
    let after: u64 = params
        .get("after")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let limit: usize = params
        .get("limit")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    log.requests.lock().unwrap().push((after, limit));
    let events = log.events.lock().unwrap().clone();
    let log_id = log.log_id.lock().unwrap().clone();
    let mut page: Vec<Value> = if log.honours_after {
        events
            .into_iter()
            .filter(|event| event["seq"].as_u64().is_some_and(|seq| seq > after))
            .take(limit.min(log.page_cap))
            .collect()
    } else {
        events
    };
    let Some(log_id) = log_id else {
        return Json(Value::Array(page)).into_response();
    };
    for event in &mut page {
        event["logId"] = json!(log_id);
    }
    ([("x-event-log-id", log_id)], Json(Value::Array(page))).into_response()
}

struct Bus {
    /// Serves the log while up; down, it hangs up on everyone.
    server: FakeService,
    open: watch::Sender<bool>,
    requests: Arc<Mutex<Vec<(u64, usize)>>>,
    asked: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<Value>>>,
    log_id: Arc<Mutex<Option<String>>>,
}

impl Bus {
    /// Stores one more event, numbered after the last.
    fn append(&self, event: Value) -> Value {
        let mut events = self.events.lock().unwrap();
        let event = numbered(events.len() as u64 + 1, event);
        events.push(event.clone());
        event
    }

    /// Throws the log away and starts a new one, under a new name, as a bus
    /// whose data directory was wiped does.
    fn replace_log(&self, log_id: &str, events: Vec<Value>) {
        *self.events.lock().unwrap() = events;
        *self.log_id.lock().unwrap() = Some(log_id.to_string());
    }

    /// The `after` of every page asked for, in order.
    fn afters(&self) -> Vec<u64> {
        let requests = self.requests.lock().unwrap();
        requests.iter().map(|(after, _)| *after).collect()
    }

    /// `event` as this bus delivers it: with its `seq` and the log's name.
    fn as_delivered(&self, event: &Value) -> Value {
        let mut event = event.clone();
        if let Some(log_id) = self.log_id.lock().unwrap().clone() {
            event["logId"] = json!(log_id);
        }
        event
    }
}

/// A stand-in for the bus, up and serving `events` as its log.
async fn fake_bus(events: Vec<Value>, page_cap: usize, honours_after: bool, open: bool) -> Bus {
    let bus = down_bus(events, page_cap, honours_after, open).await;
    bus.server.set(Behaviour::Up);
    bus
}

/// The same bus, but down: its address is known, but it hangs up on
/// everyone until `bus.server.set(Behaviour::Up)`.
async fn down_bus(events: Vec<Value>, page_cap: usize, honours_after: bool, open: bool) -> Bus {
    let (open_sender, open_receiver) = watch::channel(open);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let asked = Arc::new(AtomicUsize::new(0));
    let log = FakeLog {
        events: Arc::new(Mutex::new(events)),
        log_id: Arc::default(),
        page_cap,
        honours_after,
        open: open_receiver,
        requests: requests.clone(),
        asked: asked.clone(),
    };
    let (events, log_id) = (log.events.clone(), log.log_id.clone());
    let app = Router::new()
        .route("/events", get(serve_log))
        .with_state(log);
    Bus {
        server: FakeService::start_down_serving("the bus", app).await,
        open: open_sender,
        requests,
        asked,
        events,
        log_id,
    }
}

/// A bus like ours: its log is named `log_id`, every page answers at once.
async fn named_bus(log_id: &str, events: Vec<Value>) -> Bus {
    let bus = fake_bus(Vec::new(), 500, true, true).await;
    bus.replace_log(log_id, events);
    bus
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The short history as our bus stores it, with an unknown type and an
/// unreadable entry mixed in (the replay must step over both).
fn numbered_log() -> Vec<Value> {
    let mut log: Vec<Value> = a_short_history();
    log.insert(3, json!({"type": "PostDeleted", "data": {"id": "gone"}}));
    log.insert(5, json!({"type": "PostCreated", "data": {"id": 7}}));
    (1..)
        .zip(log)
        .map(|(seq, event)| numbered(seq, event))
        .collect()
}

#[tokio::test]
async fn at_start_the_log_is_replayed_before_the_service_turns_ready() {
    let log = numbered_log();
    let last_seq = log.len() as u64;
    let bus = fake_bus(log, 2, true, false).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();

    // The bus is holding its answer: the replay has not finished.
    let (status, body) = send(client.get(format!("{}/healthz", server.url()))).await;
    assert_eq!(
        status, 200,
        "/healthz answers while rebuilding (the process is alive); got {status} {body}"
    );
    let (status, body) = send(client.get(format!("{}/readyz", server.url()))).await;
    assert_eq!(
        status, 503,
        "/readyz must answer 503 until the log is replayed; got {status} {body}"
    );
    let (status, body) = post_event(
        &client,
        &server.url(),
        &numbered(last_seq + 1, post_created("p3", "live")),
    )
    .await;
    assert_eq!(
        status, 503,
        "a live event during the replay must be refused so the bus retries it; got {status} {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "the 503 is a JSON error, got {body}"
    );

    bus.open.send(true).unwrap();
    wait_until_ready(&client, &server.url(), Duration::from_secs(10)).await;

    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history(),
        "the replay rebuilt the whole history"
    );
    let requests = bus.requests.lock().unwrap().clone();
    let afters: Vec<u64> = requests.iter().map(|(after, _)| *after).collect();
    assert_eq!(
        afters,
        [0, 2, 4, 6, 8, 9],
        "the log is read page after page, from the last seq seen, until an empty page"
    );
    assert!(
        requests
            .iter()
            .all(|(_, limit)| *limit == query::rebuild::PAGE_SIZE),
        "each page asks for limit={}",
        query::rebuild::PAGE_SIZE
    );

    // Now live events flow; one the replay already covered is recognised.
    let (status, body) = post_event(
        &client,
        &server.url(),
        &numbered(2, comment_created("c1", "p1", "nice")),
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": "already applied"})));
    deliver(
        &client,
        &server.url(),
        &numbered(last_seq + 1, post_created("p3", "live")),
    )
    .await;
    let posts = list(&client, &server.url()).await;
    assert_eq!(
        posts["p3"],
        json!({"id": "p3", "title": "live", "comments": []})
    );
    assert_eq!(
        posts["p1"],
        after_the_short_history()["p1"],
        "nothing else changed"
    );

    server.stop().await;
    bus.server.stop().await;
}

/// `count` posts, numbered from 1, as our bus stores them.
fn numbered_posts(count: u64) -> Vec<Value> {
    (1..=count)
        .map(|seq| {
            numbered(
                seq,
                post_created(&format!("p{seq}"), &format!("Post {seq}")),
            )
        })
        .collect()
}

// ANCHOR: pages_test
#[tokio::test]
async fn a_log_of_more_than_two_pages_is_replayed_in_full_before_the_service_is_ready() {
    let page = query::rebuild::PAGE_SIZE as u64;
    let count = 2 * page + 1;
    let bus = fake_bus(numbered_posts(count), usize::MAX, true, false).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();

    wait_until(
        "query has asked the bus for the first page",
        Duration::from_secs(10),
        async || bus.asked.load(Ordering::SeqCst) > 0,
    )
    .await;
    let (status, body) = send(client.get(format!("{}/readyz", server.url()))).await;
    assert_eq!(
        status, 503,
        "the replay has not read one page yet: /readyz must answer 503 until it is complete; got {status} {body}"
    );

    bus.open.send(true).unwrap();
    wait_until_ready(&client, &server.url(), Duration::from_secs(20)).await;
    let posts = list(&client, &server.url()).await;
    let shown = posts.as_object().map_or(0, |posts| posts.len());
    assert_eq!(
        shown as u64, count,
        "once ready, GET /posts shows every post of the log's {count} events, not {shown}: \
         the replay reads page after page until the log has nothing more"
    );
    assert_eq!(
        bus.afters(),
        [0, page, 2 * page, count],
        "pages of {page}, each after the last seq seen, until an empty page"
    );
    server.stop().await;
    bus.server.stop().await;
}
// ANCHOR_END: pages_test

// ANCHOR: gap_test
#[tokio::test]
async fn a_gap_is_filled_from_the_log_page_by_page() {
    // No replay at start: the first delivery is seq 5, four events early.
    let bus = fake_bus(numbered_posts(5), 2, true, true).await;
    let server = start_query(&bus.server.url(), false).await;
    let client = reqwest::Client::new();

    let (status, body) = post_event(&client, &server.url(), &numbered_posts(5)[4]).await;
    assert_eq!(
        status, 200,
        "seq 5 came before 1 to 4: query must read them from the log, then take it; got {status} {body}"
    );
    let posts = list(&client, &server.url()).await;
    let ids: Vec<&String> = posts.as_object().unwrap().keys().collect();
    assert_eq!(
        ids,
        ["p1", "p2", "p3", "p4", "p5"],
        "the events the delivery skipped were read from the log, a page of 2 at a time"
    );
    assert_eq!(
        bus.afters(),
        [0, 2, 4],
        "page after page from the model's mark, until the mark reaches the delivery"
    );
    server.stop().await;
    bus.server.stop().await;
}
// ANCHOR_END: gap_test

#[tokio::test]
async fn an_empty_log_makes_the_service_ready_with_no_posts() {
    let bus = fake_bus(Vec::new(), 500, true, true).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();
    wait_until_ready(&client, &server.url(), Duration::from_secs(10)).await;
    assert_eq!(list(&client, &server.url()).await, json!({}));
    server.stop().await;
    bus.server.stop().await;
}

#[tokio::test]
async fn when_the_bus_is_down_at_start_the_replay_waits_for_it() {
    // The bus is "down": its address is known, but it hangs up on everyone.
    let bus = down_bus(numbered_log(), 500, true, true).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();

    wait_until(
        "query has tried to read the log",
        Duration::from_secs(10),
        async || bus.server.refusals() > 0,
    )
    .await;
    let (status, _) = send(client.get(format!("{}/healthz", server.url()))).await;
    assert_eq!(status, 200, "/healthz answers even though the bus is down");
    let (status, _) = send(client.get(format!("{}/readyz", server.url()))).await;
    assert_eq!(
        status, 503,
        "/readyz answers 503 while the log cannot be read"
    );

    bus.server.set(Behaviour::Up);
    wait_until_ready(&client, &server.url(), Duration::from_secs(20)).await;
    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history()
    );
    server.stop().await;
    bus.server.stop().await;
}

#[tokio::test]
async fn a_log_without_numbers_is_replayed_once() {
    // The Node.js bus answers its whole log to every GET /events, unnumbered.
    let bus = fake_bus(a_short_history(), usize::MAX, false, true).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();
    wait_until_ready(&client, &server.url(), Duration::from_secs(10)).await;
    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history()
    );
    server.stop().await;
    bus.server.stop().await;
}

#[test]
fn config_reads_the_environment_with_localhost_defaults() {
    let defaults = query::Config::from_lookup(|_| None).unwrap();
    assert_eq!(defaults.addr, "127.0.0.1:4002".parse().unwrap());
    assert_eq!(defaults.event_bus_url, "http://localhost:4005");
    assert!(
        defaults.rebuild,
        "the log is replayed unless told otherwise"
    );

    let env: HashMap<&str, &str> = HashMap::from([
        ("HOST", "0.0.0.0"),
        ("PORT", "8080"),
        ("EVENT_BUS_URL", "http://event-bus-srv:4005"),
        ("REBUILD", "off"),
    ]);
    let set =
        query::Config::from_lookup(|name| env.get(name).map(|value| value.to_string())).unwrap();
    assert_eq!(set.addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(set.event_bus_url, "http://event-bus-srv:4005");
    assert!(!set.rebuild, "REBUILD=off skips the replay");

    for off in ["off", "OFF", "false", "no", "0"] {
        assert!(
            !query::Config::from_lookup(|name| (name == "REBUILD").then(|| off.to_string()))
                .unwrap()
                .rebuild,
            "REBUILD={off}"
        );
    }
    for on in ["on", "true", "1", ""] {
        assert!(
            query::Config::from_lookup(|name| (name == "REBUILD").then(|| on.to_string()))
                .unwrap()
                .rebuild,
            "REBUILD={on:?}"
        );
    }
}

#[tokio::test]
async fn one_post_can_be_read_on_its_own() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    for event in a_short_history() {
        deliver(&client, &server.url(), &event).await;
    }

    let (status, post) = send(client.get(format!("{}/posts/p1", server.url()))).await;
    assert_eq!(status, 200, "GET /posts/p1 answered {status}: {post}");
    assert_eq!(
        post,
        after_the_short_history()["p1"],
        "the same post as in GET /posts"
    );

    let (status, body) = send(client.get(format!("{}/posts/nope", server.url()))).await;
    assert_eq!(status, 404, "an unknown post is a 404: {body}");
    assert!(body["error"].is_string(), "with a JSON error: {body}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Comments that overtake their post
// ---------------------------------------------------------------------------

/// The short history as it can reach the bus after an outage: posts and
/// comments publish separately, so comments (and even verdicts) come first.
fn comments_before_their_posts() -> Vec<Value> {
    vec![
        comment_created("c1", "p1", "nice"),
        // The verdict on c2 overtook c2 itself.
        comment_updated("c2", "p1", "I hate oranges", "rejected"),
        comment_created("c3", "p2", "waiting"),
        post_created("p1", "First post"),
        comment_updated("c1", "p1", "nice", "approved"),
        // c2's creation, late: it must not set the rejected comment back to pending.
        comment_created("c2", "p1", "I hate oranges"),
        post_created("p2", "Second post"),
    ]
}

#[tokio::test]
async fn comments_that_arrive_before_their_post_show_up_with_it() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    let history: Vec<Value> = (1..)
        .zip(comments_before_their_posts())
        .map(|(seq, event)| numbered(seq, event))
        .collect();
    for event in &history[..3] {
        deliver(&client, &server.url(), event).await;
    }
    assert_eq!(
        list(&client, &server.url()).await,
        json!({}),
        "a comment is not shown before its post is known"
    );
    for event in &history[3..] {
        deliver(&client, &server.url(), event).await;
    }
    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history(),
        "comments that came before their post must appear with it, each with its latest status"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_log_where_comments_come_first_shows_them_too() {
    let log: Vec<Value> = (1..)
        .zip(comments_before_their_posts())
        .map(|(seq, event)| numbered(seq, event))
        .collect();
    let bus = fake_bus(log, 3, true, true).await;
    let server = start_query(&bus.server.url(), true).await;
    let client = reqwest::Client::new();
    wait_until_ready(&client, &server.url(), Duration::from_secs(10)).await;
    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history(),
        "a rebuild from a log where comments come before their posts must show them all"
    );
    server.stop().await;
    bus.server.stop().await;
}

// ---------------------------------------------------------------------------
// Numbers in a request are checked against the bus's log
// ---------------------------------------------------------------------------

const LOG_A: &str = "0123456789abcdef0123456789abcdef";
const LOG_B: &str = "fedcba9876543210fedcba9876543210";

/// Query, replayed from a bus whose log `LOG_A` holds `events`, and ready.
async fn query_on(bus: &Bus) -> Server {
    let server = start_query(&bus.server.url(), true).await;
    wait_until_ready(
        &reqwest::Client::new(),
        &server.url(),
        Duration::from_secs(10),
    )
    .await;
    server
}

fn first_post_log() -> Vec<Value> {
    vec![numbered(1, post_created("p1", "First post"))]
}

#[tokio::test]
async fn a_forged_far_future_seq_is_refused_and_hides_no_real_event() {
    let bus = named_bus(LOG_A, first_post_log()).await;
    let server = query_on(&bus).await;
    let client = reqwest::Client::new();

    let forged = numbered(
        9_000_000_000_000_000_000,
        post_created("forged", "not in the log"),
    );
    for forged in [forged.clone(), bus.as_delivered(&forged)] {
        let (status, body) = post_event(&client, &server.url(), &forged).await;
        assert_eq!(
            status, 409,
            "{forged} has a seq the bus's log does not hold: it must be refused with 409, got {status} {body}"
        );
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "a JSON error: {body}"
        );
    }

    // The bus's real next event must still be taken.
    let real = bus.append(post_created("p2", "Second post"));
    let answer = deliver(&client, &server.url(), &bus.as_delivered(&real)).await;
    assert_eq!(
        answer,
        json!({"status": "OK"}),
        "after a forged seq, the real seq 2 must still be applied"
    );
    let posts = list(&client, &server.url()).await;
    assert!(posts.get("p2").is_some(), "the real post is shown: {posts}");
    assert!(
        posts.get("forged").is_none(),
        "the forged one is not: {posts}"
    );
    server.stop().await;
    bus.server.stop().await;
}

#[tokio::test]
async fn events_missing_before_a_delivery_are_read_from_the_log() {
    let bus = named_bus(LOG_A, first_post_log()).await;
    let server = query_on(&bus).await;
    let client = reqwest::Client::new();

    bus.append(comment_created("c1", "p1", "nice"));
    bus.append(comment_created("c2", "p1", "I hate oranges"));
    let verdict = bus.append(comment_updated("c1", "p1", "nice", "approved"));
    // Seq 2 and 3 never reached query (say, a bus that parked them); seq 4 does.
    let (status, body) = post_event(&client, &server.url(), &bus.as_delivered(&verdict)).await;
    assert_eq!(
        status, 200,
        "seq 4 after seq 1 must be accepted once the gap is filled: {body}"
    );

    let posts = list(&client, &server.url()).await;
    assert_eq!(
        posts["p1"]["comments"],
        json!([
            {"id": "c1", "content": "nice", "status": "approved"},
            {"id": "c2", "content": "I hate oranges", "status": "pending"},
        ]),
        "the events between seq 1 and seq 4 are fetched from GET /events?after=1: {posts}"
    );
    assert!(
        bus.requests
            .lock()
            .unwrap()
            .iter()
            .any(|(after, _)| *after == 1),
        "query asks the bus for the events after the last one it applied"
    );
    server.stop().await;
    bus.server.stop().await;
}

#[tokio::test]
async fn a_replaced_log_makes_query_rebuild_from_the_new_one() {
    let log: Vec<Value> = (1..)
        .zip(a_short_history())
        .map(|(seq, event)| numbered(seq, event))
        .collect();
    let bus = named_bus(LOG_A, log).await;
    let server = query_on(&bus).await;
    let client = reqwest::Client::new();
    assert_eq!(
        list(&client, &server.url()).await,
        after_the_short_history()
    );

    // The bus's data was wiped: a new log, numbered from 1 again, under a new name.
    let fresh = numbered(1, post_created("p9", "After the reset"));
    bus.replace_log(LOG_B, vec![fresh.clone()]);
    let (status, body) = post_event(&client, &server.url(), &bus.as_delivered(&fresh)).await;
    assert_eq!(
        status, 503,
        "seq 1 of a log with a new logId is not 'already applied': query must rebuild (and answer 503 meanwhile), got {status} {body}"
    );
    wait_until_ready(&client, &server.url(), Duration::from_secs(10)).await;
    assert_eq!(
        list(&client, &server.url()).await,
        json!({"p9": {"id": "p9", "title": "After the reset", "comments": []}}),
        "the model is rebuilt from the new log alone"
    );
    let answer = deliver(&client, &server.url(), &bus.as_delivered(&fresh)).await;
    assert_eq!(answer, json!({"status": "already applied"}));
    server.stop().await;
    bus.server.stop().await;
}

#[tokio::test]
async fn an_event_naming_another_log_is_refused_without_a_rebuild() {
    let bus = named_bus(LOG_A, first_post_log()).await;
    let server = query_on(&bus).await;
    let client = reqwest::Client::new();

    let mut forged = numbered(2, post_created("forged", "from nowhere"));
    forged["logId"] = json!(LOG_B);
    let (status, body) = post_event(&client, &server.url(), &forged).await;
    assert_eq!(
        status, 409,
        "the bus's log is still {LOG_A}, so an event naming {LOG_B} must be refused, got {status} {body}"
    );
    let (status, _) = send(client.get(format!("{}/readyz", server.url()))).await;
    assert_eq!(status, 200, "a forged logId does not throw the model away");

    let real = bus.append(post_created("p2", "Second post"));
    let answer = deliver(&client, &server.url(), &bus.as_delivered(&real)).await;
    assert_eq!(
        answer,
        json!({"status": "OK"}),
        "the real seq 2 is still applied"
    );
    let posts = list(&client, &server.url()).await;
    assert!(
        posts.get("forged").is_none() && posts.get("p2").is_some(),
        "{posts}"
    );
    server.stop().await;
    bus.server.stop().await;
}

// ---------------------------------------------------------------------------
// Errors stay JSON, and a panic does not break later requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_post_id_gets_a_json_error() {
    let server = start_query(NO_BUS, false).await;
    let client = reqwest::Client::new();
    let (status, body) = send(client.get(format!("{}/posts/%FF", server.url()))).await;
    assert_eq!(
        status, 400,
        "an id that is not UTF-8 is a bad request: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "the answer must be JSON like {{\"error\": \"...\"}}, got {body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_panic_while_the_model_is_locked_does_not_break_later_requests() {
    let state = query::QueryState::new(Readiness::ready(), NO_BUS);
    let server = Server::start(any_port(), query::app(state.clone(), &Default::default()))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    deliver(&client, &server.url(), &post_created("p1", "t")).await;

    // What an unwritten `todo!()` does: panic half-way through a change.
    let panicked = std::thread::spawn(move || {
        state.update(|_| panic!("TODO in src/projection.rs: a stand-in panic"))
    })
    .join();
    assert!(panicked.is_err());

    let (status, body) = send(client.get(format!("{}/posts", server.url()))).await;
    assert_eq!(
        status, 200,
        "after a panic while the model was locked, GET /posts must still answer (no PoisonError), got {status} {body}"
    );
    assert_eq!(body["p1"]["title"], "t");
    let answer = deliver(&client, &server.url(), &post_created("p2", "u")).await;
    assert_eq!(answer, json!({"status": "OK"}));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// The encoded answer is shared until the model changes
// ---------------------------------------------------------------------------

/// `GET /posts` as the raw bytes the service sends.
async fn list_text(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/posts")).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET /posts should answer 200");
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "GET /posts is JSON"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn every_change_shows_in_the_next_get_posts() {
    let server = start_query(NO_BUS, false).await;
    let (client, base) = (reqwest::Client::new(), server.url());
    assert_eq!(list_text(&client, &base).await, "{}");

    // Each event lands on a model whose answer was just read (twice, so it
    // was encoded and then shared): a new post, a comment, an update, a
    // comment that waits for its post, and that post.
    let mut history = a_short_history();
    history.push(comment_created("c4", "p3", "early"));
    history.push(post_created("p3", "Third post"));
    for event in &history {
        list_text(&client, &base).await;
        let before = list(&client, &base).await;
        deliver(&client, &base, event).await;
        let after = list(&client, &base).await;
        let id = event["data"]["postId"].as_str();
        let id = id.or(event["data"]["id"].as_str()).unwrap();
        let (status, post) = send(client.get(format!("{base}/posts/{id}"))).await;
        if status == 404 {
            assert_eq!(
                after, before,
                "{event} is held for its post: nothing to show yet"
            );
            continue;
        }
        assert_eq!(
            after[id], post,
            "GET /posts must show the change {event} made at once, as GET /posts/{id} does"
        );
        assert_ne!(
            after, before,
            "GET /posts must not answer as before {event}"
        );
    }

    // The bytes themselves: posts in the order they came, each post's
    // fields in the contract's order, as before the answer was kept.
    assert_eq!(
        list_text(&client, &base).await,
        concat!(
            r#"{"p1":{"id":"p1","title":"First post","comments":["#,
            r#"{"id":"c1","content":"nice","status":"approved"},"#,
            r#"{"id":"c2","content":"I hate oranges","status":"rejected"}]},"#,
            r#""p2":{"id":"p2","title":"Second post","comments":["#,
            r#"{"id":"c3","content":"waiting","status":"pending"}]},"#,
            r#""p3":{"id":"p3","title":"Third post","comments":["#,
            r#"{"id":"c4","content":"early","status":"pending"}]}}"#,
        )
    );
    server.stop().await;
}
