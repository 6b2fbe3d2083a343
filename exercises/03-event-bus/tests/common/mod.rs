//! Helpers shared by the bus's test files: talking to the bus, and fake
//! subscribers that record what the bus delivers to them.

#![allow(dead_code)] // each test file uses its own share of these

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use blog_runtime::Server;
use serde_json::{Value, json};

/// How long any "eventually" in these tests may take before it counts as a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub async fn start_bus(data_dir: &Path, subscribers: &[String]) -> Server {
    let config = event_bus::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        subscribers: subscribers.to_vec(),
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

/// Sends a request and returns the status and the JSON body (or the text
/// wrapped in a string when it is not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the bus should answer");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
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
    let (status, body) = send(client.get(format!("{bus}/events{query}"))).await;
    assert_eq!(
        status,
        200,
        "GET /events{query} should answer 200, got {status} {body}{}",
        advice(status, &body)
    );
    body.as_array()
        .unwrap_or_else(|| panic!("GET /events{query} should answer a JSON list, got {body}"))
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

/// Polls `check` until it returns true; fails with `what` after [`PATIENCE`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An address on which nothing listens (for now): bind port 0, note the
/// port, let it go.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A stand-in for a service: accepts `POST /events` and records each event,
/// or answers 503 while it is switched to unhealthy.
pub struct FakeSubscriber {
    server: Server,
    received: Arc<Mutex<Vec<Value>>>,
    healthy: Arc<AtomicBool>,
}

#[derive(Clone)]
struct FakeState {
    received: Arc<Mutex<Vec<Value>>>,
    healthy: Arc<AtomicBool>,
}

async fn receive(
    State(state): State<FakeState>,
    Json(event): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !state.healthy.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "not now"})),
        );
    }
    state.received.lock().unwrap().push(event);
    (StatusCode::OK, Json(json!({"status": "OK"})))
}

impl FakeSubscriber {
    pub async fn start(healthy: bool) -> FakeSubscriber {
        Self::start_on("127.0.0.1:0".parse().unwrap(), healthy).await
    }

    /// Starts on a given address (retrying briefly if the port is not free yet).
    pub async fn start_on(addr: SocketAddr, healthy: bool) -> FakeSubscriber {
        let state = FakeState {
            received: Arc::default(),
            healthy: Arc::new(AtomicBool::new(healthy)),
        };
        let router = Router::new()
            .route("/events", post(receive))
            .with_state(state.clone());
        let mut tries = 0;
        let server = loop {
            match Server::start(addr, router.clone()).await {
                Ok(server) => break server,
                Err(error) if tries < 50 => {
                    tries += 1;
                    eprintln!("fake subscriber could not bind {addr} yet: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("fake subscriber could not bind {addr}: {error}"),
            }
        };
        FakeSubscriber {
            server,
            received: state.received,
            healthy: state.healthy,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    pub fn received_seqs(&self) -> Vec<u64> {
        seqs_of(&self.received())
    }

    pub fn forget(&self) {
        self.received.lock().unwrap().clear();
    }

    /// Waits until every seq in `1..=last` has arrived at least once.
    pub async fn wait_for_all(&self, name: &str, last: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seqs = self.received_seqs();
            let Some(missing) = (1..=last).find(|seq| !seqs.contains(seq)) else {
                return;
            };
            assert!(
                Instant::now() < deadline,
                "gave up after {PATIENCE:?} waiting until {name} has received every event up to \
                 seq {last}: it has received {} event(s) {seqs:?}, and seq {missing} is missing.\n\
                 Delivery is src/delivery.rs: each subscriber's task must send every stored event \
                 to it, in order, again and again until it is accepted (answers 2xx).",
                seqs.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
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
