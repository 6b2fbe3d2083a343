//! What the bus's test files share: starting the bus (in-process, or its
//! binary as a process), reading its log, what a subscriber has received,
//! and a subscriber that refuses the types it is told to.
//!
//! The plumbing every spec file of the workbook needs (sending a request,
//! a fake service that is up, failing or down, waiting for a condition)
//! comes from the test kit, `blog_testkit`.

#![allow(dead_code)] // each test file uses its own share of these

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use blog_runtime::Server;
use blog_testkit::{FakeService, ServiceProcess, eventually, send, spawn_service};
use serde_json::{Value, json};
use tokio::process::Command;

/// How long any "eventually" in these tests may take before it counts as a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How many "never" answers park an event in these tests.
pub const DEAD_LETTER_AFTER: u32 = 3;

pub async fn start_bus(data_dir: &Path, subscribers: &[String]) -> Server {
    let config = event_bus::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        subscribers: subscribers.to_vec(),
        dead_letter_after: DEAD_LETTER_AFTER,
    };
    event_bus::start(config)
        .await
        .expect("the event bus should start")
}

/// Stops the bus, and fails if it does not stop within [`PATIENCE`]: every
/// delivery task must end when the bus is asked to stop.
pub async fn stop_bus(bus: Server) {
    if tokio::time::timeout(PATIENCE, bus.stop()).await.is_err() {
        panic!(
            "the bus did not stop within {PATIENCE:?}: a delivery task must end when the bus \
             stops (its helpers then return `Err(Stopping)`; pass it on with `?`)"
        );
    }
}

/// What to add to a failure message when the bus answered an error, so the
/// reader knows where to look.
pub fn advice(status: u16, body: &Value) -> String {
    if body.to_string().contains("not yet implemented") {
        return format!("\nA `todo!()` is still in the way: {}", body["error"]);
    }
    match status {
        500 | 503 => "\nThe bus could not store or read its log: look at src/log.rs, and at any \
                      panic message printed above this one."
            .to_string(),
        _ => String::new(),
    }
}

/// Publishes one event and returns the seq the bus gave it.
pub async fn publish(client: &reqwest::Client, bus: &str, kind: &str, data: Value) -> u64 {
    let (status, body) = send(
        client
            .post(format!("{bus}/events"))
            .json(&json!({"type": kind, "data": data})),
    )
    .await;
    assert_eq!(
        status,
        200,
        "POST /events with a valid event should answer 200, got {status} {body}{}",
        advice(status, &body)
    );
    assert_eq!(
        body["status"], "OK",
        "the answer must carry `\"status\": \"OK\"` like the Node.js bus: {body}"
    );
    body["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("the answer must carry a numeric `seq`: {body}"))
}

/// `GET {bus}/events{query}`, which must answer 200 with a list.
pub async fn list(client: &reqwest::Client, bus: &str, query: &str) -> Vec<Value> {
    list_with_log_id(client, bus, query).await.0
}

/// `GET {bus}/events{query}`: the list, and the log's id from the header
/// `x-event-log-id`, which every event in the list must carry as `logId`.
pub async fn list_with_log_id(
    client: &reqwest::Client,
    bus: &str,
    query: &str,
) -> (Vec<Value>, String) {
    let response = client
        .get(format!("{bus}/events{query}"))
        .send()
        .await
        .expect("the bus should answer");
    let log_id = response
        .headers()
        .get("x-event-log-id")
        .and_then(|id| id.to_str().ok())
        .map(str::to_string);
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    assert_eq!(
        status,
        200,
        "GET /events{query} should answer 200, got {status} {body}{}",
        advice(status, &body)
    );
    let events = body
        .as_array()
        .unwrap_or_else(|| panic!("GET /events{query} should answer a JSON list, got {body}"))
        .clone();
    let log_id = log_id.unwrap_or_else(|| {
        panic!("GET /events{query} must name the log in the header `x-event-log-id`")
    });
    for event in &events {
        assert_eq!(
            event["logId"], log_id,
            "every event of GET /events{query} carries `logId`, the id in the header: {event}"
        );
    }
    (events, log_id)
}

/// The log's id, as `GET /events?limit=1` names it.
pub async fn log_id(client: &reqwest::Client, bus: &str) -> String {
    list_with_log_id(client, bus, "?limit=1").await.1
}

/// `GET {bus}{path}`, which must answer 200 with JSON.
pub async fn get_ok(client: &reqwest::Client, bus: &str, path: &str) -> Value {
    let (status, body) = send(client.get(format!("{bus}{path}"))).await;
    assert_eq!(
        status,
        200,
        "GET {path} should answer 200, got {status} {body}{}",
        advice(status, &body)
    );
    body
}

/// The line of `GET /subscribers` about the subscriber at `url`.
pub async fn subscriber_status(client: &reqwest::Client, bus: &str, url: &str) -> Value {
    let all = get_ok(client, bus, "/subscribers").await;
    all.as_array()
        .unwrap_or_else(|| panic!("GET /subscribers should answer a JSON list, got {all}"))
        .iter()
        .find(|line| line["url"] == url)
        .unwrap_or_else(|| panic!("GET /subscribers should list the subscriber {url}: {all}"))
        .clone()
}

pub fn seqs_of(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|event| {
            event["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("every event must carry a numeric `seq`: {event}"))
        })
        .collect()
}

/// What a subscriber has received, however it is faked: the test kit's
/// [`FakeService`], or the [`PickySubscriber`] of the dead-letter tests.
pub trait Subscriber {
    /// Everything it accepted so far, in arrival order.
    fn received(&self) -> Vec<Value>;

    fn received_seqs(&self) -> Vec<u64> {
        seqs_of(&self.received())
    }

    /// Waits until every seq in `1..=last` has arrived at least once.
    async fn wait_for_all(&self, name: &str, last: u64) {
        let missing = |seqs: &[u64]| (1..=last).find(|seq| !seqs.contains(seq));
        if eventually(PATIENCE, async || missing(&self.received_seqs()).is_none()).await {
            return;
        }
        let seqs = self.received_seqs();
        let missing = missing(&seqs).unwrap_or_default();
        panic!(
            "gave up after {PATIENCE:?} waiting until {name} has received every event up to \
             seq {last}: it has received {} event(s) {seqs:?}, and seq {missing} is missing.\n\
             Delivery is src/delivery.rs: each subscriber's task must send every stored event \
             to it, in order, again and again until it is accepted (answers 2xx). If a panic \
             message printed above names a TODO, that one is next.",
            seqs.len()
        );
    }
}

impl Subscriber for FakeService {
    fn received(&self) -> Vec<Value> {
        FakeService::received(self)
    }
}

/// A subscriber that can be told to refuse the events of one type, with a
/// status of its choosing, like a service that cannot read them. It counts
/// every attempt to deliver each seq, accepted or not.
pub struct PickySubscriber {
    server: Server,
    state: PickyState,
}

#[derive(Clone, Default)]
struct PickyState {
    received: Arc<Mutex<Vec<Value>>>,
    /// Event type → the status answered to it.
    refused: Arc<Mutex<HashMap<String, u16>>>,
    /// Seq → how many times it was sent to us, accepted or not.
    attempts: Arc<Mutex<HashMap<u64, usize>>>,
}

async fn receive(
    State(state): State<PickyState>,
    Json(event): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if let Some(seq) = event["seq"].as_u64() {
        *state.attempts.lock().unwrap().entry(seq).or_default() += 1;
    }
    let kind = event["type"].as_str().unwrap_or_default();
    if let Some(&status) = state.refused.lock().unwrap().get(kind) {
        let status = StatusCode::from_u16(status).unwrap();
        return (status, Json(json!({"error": format!("I refuse {kind}")})));
    }
    state.received.lock().unwrap().push(event);
    (StatusCode::OK, Json(json!({"status": "OK"})))
}

impl PickySubscriber {
    /// Starts it on `127.0.0.1:0`, accepting every event until told otherwise.
    pub async fn start() -> PickySubscriber {
        let state = PickyState::default();
        let router = Router::new()
            .route("/events", post(receive))
            .with_state(state.clone());
        let server = Server::start("127.0.0.1:0".parse().unwrap(), router)
            .await
            .expect("a fake subscriber can listen on 127.0.0.1:0");
        PickySubscriber { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// From now on, answer `status` to every event of type `kind`.
    pub fn refuse(&self, kind: &str, status: u16) {
        self.state
            .refused
            .lock()
            .unwrap()
            .insert(kind.to_string(), status);
    }

    /// From now on, accept events of every type (the subscriber was fixed).
    pub fn refuse_nothing(&self) {
        self.state.refused.lock().unwrap().clear();
    }

    /// How many times the event `seq` was sent here, accepted or not.
    pub fn attempts(&self, seq: u64) -> usize {
        self.state
            .attempts
            .lock()
            .unwrap()
            .get(&seq)
            .copied()
            .unwrap_or(0)
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

impl Subscriber for PickySubscriber {
    fn received(&self) -> Vec<Value> {
        self.state.received.lock().unwrap().clone()
    }
}

/// The bus binary of the package running this test. Cargo builds it before
/// the tests and tells us where it is, under the binary's name: `event-bus`
/// for the reference solution, `ex03-event-bus` for the exercise (the same
/// test file runs in both).
pub fn bus_binary() -> &'static str {
    option_env!("CARGO_BIN_EXE_event-bus")
        .or(option_env!("CARGO_BIN_EXE_ex03-event-bus"))
        .expect("cargo sets CARGO_BIN_EXE_<name> for the package's binary")
}

/// Starts the real bus binary on port 0, on `data_dir`, delivering to
/// `subscribers` (comma-separated), and returns once it has said where it
/// listens (the bus is ready as soon as it listens).
pub async fn spawn_bus(data_dir: &Path, subscribers: &str) -> ServiceProcess {
    spawn_service(
        Command::new(bus_binary())
            .env("DATA_DIR", data_dir)
            .env("SUBSCRIBERS", subscribers)
            .env("RUST_LOG", "error"),
    )
    .await
}

/// In one run of the bus with no failed deliveries, a subscriber sees each
/// event exactly once, oldest first.
pub fn assert_in_order(name: &str, seqs: &[u64], last: u64) {
    let expected: Vec<u64> = (1..=last).collect();
    assert_eq!(
        seqs,
        expected.as_slice(),
        "{name} must receive every event once, in order of seq"
    );
}
