//! The specification of the relay (TODO 5): the task that empties a
//! service's outbox into the bus.
//!
//! A real outbox (a service database in a temp dir) and a fake bus on
//! `127.0.0.1:0` that can take events, refuse them with 503, or hold its
//! answer until the test lets it go, so the test can look at the outbox
//! while the bus has a request but has not acknowledged it yet.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use blog_events::outbox::{self, ServiceDb};
use blog_events::publish::PublishFuture;
use blog_events::{Event, HttpBus, PostCreated, PublishError, Publisher};
use blog_testkit::eventually;
use event_bus::relay::{self, Pass};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any "eventually" here may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// How the fake bus answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// 200 `{"status":"OK"}`, and the events are recorded.
    Take,
    /// 503, like a bus that is up but cannot store anything.
    Refuse,
    /// Waits, without answering, until the mode changes.
    Hold,
}

#[derive(Clone)]
struct FakeBus {
    mode: Arc<watch::Sender<Mode>>,
    /// Every event the bus took, in the order it took them.
    taken: Arc<Mutex<Vec<Value>>>,
    /// Every request it was sent, whatever it answered.
    requests: Arc<AtomicUsize>,
}

impl FakeBus {
    async fn start(mode: Mode) -> (FakeBus, String) {
        let bus = FakeBus {
            mode: Arc::new(watch::channel(mode).0),
            taken: Arc::default(),
            requests: Arc::default(),
        };
        let app = Router::new()
            .route("/events", post(take_one))
            .route("/events/batch", post(take_batch))
            .with_state(bus.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (bus, url)
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The ids of the posts the bus took, in order.
    fn taken_ids(&self) -> Vec<String> {
        let taken = self.taken.lock().unwrap();
        taken
            .iter()
            .map(|event| event["data"]["id"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    async fn answer(&self, events: Vec<Value>) -> Response {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut mode = self.mode.subscribe();
        let mode = *mode.wait_for(|mode| *mode != Mode::Hold).await.unwrap();
        match mode {
            Mode::Take => {
                self.taken.lock().unwrap().extend(events);
                Json(json!({"status": "OK"})).into_response()
            }
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "the fake bus refuses on purpose"})),
            )
                .into_response(),
        }
    }
}

async fn take_one(State(bus): State<FakeBus>, Json(event): Json<Value>) -> Response {
    bus.answer(vec![event]).await
}

async fn take_batch(State(bus): State<FakeBus>, Json(events): Json<Vec<Value>>) -> Response {
    bus.answer(events).await
}

fn post_created(id: &str) -> Event {
    Event::PostCreated(PostCreated {
        id: id.into(),
        title: format!("Post {id}"),
    })
}

/// A service database whose outbox holds posts `ids`, in that order.
async fn outbox_with(dir: &std::path::Path, ids: &[&str]) -> ServiceDb {
    let db = ServiceDb::open(&dir.join("service.db"), "").unwrap();
    enqueue(&db, ids).await;
    db
}

/// Adds posts `ids` to the outbox in one transaction, and rings the doorbell.
async fn enqueue(db: &ServiceDb, ids: &[&str]) {
    let events: Vec<Event> = ids.iter().map(|id| post_created(id)).collect();
    db.with_conn(move |conn| {
        let tx = conn.transaction()?;
        for event in &events {
            outbox::enqueue(&tx, event)?;
        }
        tx.commit()
    })
    .await
    .unwrap();
    db.ring();
}

async fn outbox_len(db: &ServiceDb) -> i64 {
    db.with_conn(|conn| conn.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0)))
        .await
        .unwrap()
}

/// Waits until `condition`, failing with `what` after [`PATIENCE`]; if the
/// relay task ended first (a `todo!()`, a panic, a `return`), fails with why.
async fn wait_for(
    relay: &mut JoinHandle<()>,
    what: &str,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let mut ended = false;
    let came = eventually(PATIENCE, async || {
        ended = relay.is_finished();
        ended || condition().await
    })
    .await;
    if ended && !condition().await {
        match relay.await {
            Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
            _ => panic!("the relay task ended before {what}: it must run until the service stops"),
        }
    }
    assert!(came, "gave up after {PATIENCE:?} waiting until {what}");
}

// ANCHOR: ack_test
#[tokio::test]
async fn one_pass_publishes_the_oldest_events_in_order_and_deletes_them_only_after_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let db = outbox_with(dir.path(), &["p1", "p2", "p3"]).await;
    let (bus, url) = FakeBus::start(Mode::Hold).await;
    let publisher = HttpBus::new(&url);

    let pass = tokio::spawn({
        let db = db.clone();
        async move { relay::relay_once(&db, &publisher).await }
    });
    let mut pass = pass;
    let arrived = eventually(PATIENCE, async || pass.is_finished() || bus.requests() > 0).await;
    if pass.is_finished() && bus.requests() == 0 {
        match (&mut pass).await {
            Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
            other => {
                panic!("relay_once answered {other:?} without publishing the outbox's 3 events")
            }
        }
    }
    assert!(
        arrived,
        "relay_once should send the outbox's events to the bus"
    );
    // The bus has the request, but has not answered.
    assert_eq!(
        outbox_len(&db).await,
        3,
        "while the bus has not acknowledged the events, they must stay in the outbox: \
         a relay that deletes first loses them if the bus then fails"
    );

    bus.set(Mode::Take);
    let pass = pass.await.unwrap();
    assert_eq!(pass, Pass::Sent, "the bus took the events");
    assert_eq!(
        bus.taken_ids(),
        ["p1", "p2", "p3"],
        "oldest first, all of them"
    );
    assert_eq!(
        outbox_len(&db).await,
        0,
        "acknowledged events leave the outbox"
    );
    assert_eq!(bus.requests(), 1, "the whole batch goes in one request");

    let publisher = HttpBus::new(&url);
    assert_eq!(
        relay::relay_once(&db, &publisher).await,
        Pass::Idle,
        "an empty outbox is `Idle`, and sends nothing"
    );
    assert_eq!(bus.requests(), 1, "an empty outbox sends nothing");
}
// ANCHOR_END: ack_test

#[tokio::test]
async fn one_pass_the_bus_refuses_or_cannot_be_reached_keeps_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = outbox_with(dir.path(), &["p1", "p2"]).await;
    let (bus, url) = FakeBus::start(Mode::Refuse).await;

    let pass = relay::relay_once(&db, &HttpBus::new(&url)).await;
    assert_eq!(pass, Pass::Failed, "a 503 from the bus is a failed pass");
    assert_eq!(bus.requests(), 1, "the relay asked the bus");
    assert_eq!(
        outbox_len(&db).await,
        2,
        "refused events stay in the outbox"
    );

    // A port nobody listens on (bound, then let go).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let pass = relay::relay_once(&db, &HttpBus::new(&nobody)).await;
    assert_eq!(
        pass,
        Pass::Failed,
        "a bus that cannot be reached is a failed pass"
    );
    assert_eq!(outbox_len(&db).await, 2, "unsent events stay in the outbox");

    bus.set(Mode::Take);
    assert_eq!(
        relay::relay_once(&db, &HttpBus::new(&url)).await,
        Pass::Sent
    );
    assert_eq!(bus.taken_ids(), ["p1", "p2"]);
}

// ANCHOR: backoff_test
#[tokio::test]
async fn the_relay_pauses_while_the_bus_refuses_then_delivers_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = outbox_with(dir.path(), &["p1", "p2", "p3"]).await;
    let (bus, url) = FakeBus::start(Mode::Refuse).await;
    let (stop, shutdown) = watch::channel(false);
    let mut task = relay::spawn_relay(&db, Arc::new(HttpBus::new(&url)), shutdown);

    wait_for(&mut task, "the relay has tried 3 times", async || {
        bus.requests() >= 3
    })
    .await;
    // Pauses from 50 ms, doubling up to 2 s: a handful of tries in 1.5 s.
    // A relay that does not pause makes thousands.
    let (before, watched) = (bus.requests(), Duration::from_millis(1500));
    let started = Instant::now();
    while started.elapsed() < watched {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tries = bus.requests() - before;
    assert!(
        tries <= 10,
        "the relay asked a refusing bus {tries} times in {watched:?}: after a failure it must \
         pause, longer after each failure in a row"
    );
    assert_eq!(
        outbox_len(&db).await,
        3,
        "nothing leaves the outbox while the bus refuses"
    );

    bus.set(Mode::Take);
    wait_for(&mut task, "the outbox is empty", async || {
        outbox_len(&db).await == 0
    })
    .await;
    assert_eq!(
        bus.taken_ids(),
        ["p1", "p2", "p3"],
        "every event, once, in order"
    );

    // Idle now: a new event rings the doorbell and goes at once.
    enqueue(&db, &["p4"]).await;
    wait_for(&mut task, "the bus has p4", async || {
        bus.taken_ids().len() == 4
    })
    .await;
    assert_eq!(bus.taken_ids(), ["p1", "p2", "p3", "p4"]);

    stop.send_replace(true);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the relay must end when the service stops")
        .unwrap();
}
// ANCHOR_END: backoff_test

/// A bus that takes everything and counts how many times it was asked.
#[derive(Default)]
struct CountingBus(AtomicUsize);

impl Publisher for CountingBus {
    fn publish<'a>(&'a self, _event: &'a Event) -> PublishFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        // A real bus takes a moment to answer; this lets the test run too.
        Box::pin(async {
            tokio::task::yield_now().await;
            Ok::<(), PublishError>(())
        })
    }
}

#[tokio::test]
async fn the_relay_does_not_republish_events_it_cannot_delete_in_a_tight_loop() {
    let dir = tempfile::tempdir().unwrap();
    let db = outbox_with(dir.path(), &["p1"]).await;
    // Fail at once when the file is locked, as a read-only or full disk
    // would, instead of waiting for the lock.
    db.with_conn(|conn| conn.busy_timeout(Duration::ZERO))
        .await
        .unwrap();
    // Someone else holds the write lock: reading works, deleting cannot.
    let holder = rusqlite::Connection::open(dir.path().join("service.db")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let bus = Arc::new(CountingBus::default());
    let (stop, shutdown) = watch::channel(false);
    let mut task = relay::spawn_relay(&db, bus.clone(), shutdown);

    wait_for(&mut task, "the relay has published twice", async || {
        bus.0.load(Ordering::SeqCst) >= 2
    })
    .await;
    let (before, watched) = (bus.0.load(Ordering::SeqCst), Duration::from_millis(1500));
    let started = Instant::now();
    while started.elapsed() < watched {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let publishes = bus.0.load(Ordering::SeqCst) - before;
    assert!(
        publishes <= 10,
        "the relay republished the same event {publishes} times in {watched:?}: a failed \
         delete is a failure too, and must pause like one"
    );

    // The lock is released: the event is deleted, and publishing stops.
    holder.execute_batch("COMMIT").unwrap();
    wait_for(&mut task, "the event is deleted", async || {
        outbox_len(&db).await == 0
    })
    .await;
    let after = bus.0.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bus.0.load(Ordering::SeqCst),
        after,
        "once deleted, it is not sent again"
    );
    stop.send_replace(true);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the relay must end when the service stops")
        .unwrap();
}
