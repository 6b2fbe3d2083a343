//! Chapter 3: the event bus, the heart of the blog.
//!
//! Services never call each other; they tell the bus what happened, and the
//! bus tells everyone else, without losing an event. You write its core in
//! four places, and its client side, the relay, in a fifth; the HTTP side,
//! the writer thread, the retries and the storage of parked events are
//! given.
//!
//! TODO 1: `log::append_batch` in src/log.rs — store events, numbered, in one
//!         transaction (the bus answers "OK" only after this).
//! TODO 2: `log::read_page` in src/log.rs — read the log after a seq, for
//!         `GET /events?after=N&limit=M` and for delivery.
//! TODO 3: `deliver` and `deliver_everything` in src/delivery.rs — send
//!         every event to a subscriber, in order, moving its cursor only
//!         when it is done with the event.
//! TODO 4: `DeliveryError::verdict` and the parking decision in
//!         `deliver_or_park`, in src/delivery.rs — tell "try again" from
//!         "never", and set aside an event a subscriber refuses for good.
//! TODO 5: `relay_once` and `relay` in src/relay.rs — the task posts and
//!         comments run to empty their outboxes into the bus: delete an
//!         event only once the bus has it, and pause after a failure.
//!
//! Run `cargo test --no-fail-fast -p ex03-event-bus` until it is green;
//! `cargo workbook hint` helps.
//!
//! The bus owns one thing, the event log, in its own database
//! (`$DATA_DIR/event-bus.db`).
//!
//! - `POST /events` with `{"type","data"}` → 200 `{"status":"OK","seq":N}`,
//!   answered only once the event is on disk (`POST /events/batch` takes a
//!   list, all or nothing). The data of a type the contract knows
//!   (`blog_events::Event`) is checked, 422 if it does not fit; any other
//!   non-blank `type` is stored and forwarded as it is.
//! - `GET /events[?after=N][&limit=M]` → the stored events, oldest first,
//!   each `{"type","data","seq","logId"}`, with the header `x-event-log-id`;
//!   `after` and `limit` page through the log so a service can rebuild its
//!   state from it. Without `limit` the whole log is streamed.
//! - Every event goes to every subscriber (`SUBSCRIBERS`) as
//!   `POST {subscriber}/events`, in order and at least once, retried while
//!   the subscriber is down, from a cursor that survives restarts. An event
//!   a subscriber refuses for good (a 4xx other than 408 and 429,
//!   `DEAD_LETTER_AFTER` times) is parked for it, and delivery goes on.
//! - `GET /subscribers`, `GET /subscribers/{name}/parked` and
//!   `POST /subscribers/{name}/parked/redeliver` show where each subscriber
//!   is and give its parked events another chance.
//!
//! Unlike the Node.js bus this one is modelled on (which keeps events in
//! memory and posts each one once, shrugging at failures), it loses nothing
//! it acknowledged: not when a subscriber is down, not when the bus itself
//! is killed.
//!
//! Modules, in the order an event meets them:
//! [`handlers`] (the HTTP endpoints) and [`event_type`] (what a valid type
//! is) → [`writer`] (group commit: many events per disk flush) → [`log`]
//! (the SQLite tables: append, read a page, cursors) → [`delivery`] (one
//! task per subscriber) → [`parked`] (the dead letters) and
//! [`subscribers`] (names, status, and their endpoints). [`error`] says how
//! failures are answered.
//!
//! And the bus's client side, [`relay`]: the task that posts and comments
//! run to empty their outboxes into the bus, deleting an event only once
//! the bus has acknowledged it.

pub mod batches;
pub mod delivery;
pub mod error;
pub mod event_type;
pub mod handlers;
pub mod log;
pub mod parked;
pub mod relay;
pub mod subscribers;
pub mod writer;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use blog_runtime::{Readiness, Server, Service, Settings, SettingsError, db, with_common_layers};
use tokio::sync::watch;

pub use error::BusError;
pub use event_type::EventType;
pub use handlers::BusState;
pub use log::{NewEvent, StoredEvent, WireEvent};
pub use subscribers::Subscribers;
pub use writer::Appender;

/// Five "never" answers park an event, unless `DEAD_LETTER_AFTER` says otherwise.
const DEAD_LETTER_AFTER: NonZeroU32 = NonZeroU32::new(5).unwrap();

/// Where the bus listens, keeps its log and sends events.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Holds `event-bus.db`: the events and the subscribers' cursors.
    pub data_dir: PathBuf,
    /// Base URLs that receive every event at `{base}/events`. A URL is also
    /// the name of its cursor: change it and that subscriber starts over
    /// from the first event.
    pub subscribers: Vec<String>,
    /// How many "never" answers (a 4xx other than 408 and 429) park an event.
    pub dead_letter_after: u32,
}

impl Config {
    /// `HOST` (127.0.0.1), `PORT` (4005), `DATA_DIR` (./data) and
    /// `SUBSCRIBERS` (comma-separated base URLs; default: every service the
    /// catalogue subscribes, on this machine: posts, comments, query,
    /// moderation) and `DEAD_LETTER_AFTER` (5). A value that cannot be used
    /// is an error that names it.
    pub fn from_env() -> Result<Self, SettingsError> {
        let settings = Settings::from_env();
        let dead_letter_after: NonZeroU32 = settings.parse(
            "DEAD_LETTER_AFTER",
            DEAD_LETTER_AFTER,
            "a whole number of 1 or more",
        )?;
        Ok(Config {
            addr: settings.listen_addr(Service::EventBus)?,
            data_dir: settings.data_dir(),
            subscribers: settings.base_urls("SUBSCRIBERS", Service::subscribers())?,
            dead_letter_after: dead_letter_after.get(),
        })
    }
}

// ANCHOR: app
/// The bus's routes.
pub fn app(state: BusState, readiness: Readiness) -> Router {
    let routes = Router::new()
        .route(
            "/events",
            get(handlers::list_events).post(handlers::publish_event),
        )
        .route("/events/batch", post(handlers::publish_events))
        .route("/subscribers", get(subscribers::list_subscribers))
        .route("/subscribers/{name}/parked", get(subscribers::list_parked))
        .route(
            "/subscribers/{name}/parked/redeliver",
            post(subscribers::redeliver_parked),
        )
        .with_state(state);
    with_common_layers(routes, readiness)
}
// ANCHOR_END: app

/// Opens the log, starts the writer and one delivery task per subscriber,
/// and serves until stopped. [`Server::stop`] ends them all.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let path = config.data_dir.join("event-bus.db");
    let writer_conn = log::open(&path)?;
    // Delivery tasks compare their cursor with this to know if there is more.
    let (head, head_watch) = watch::channel(log::last_seq(&writer_conn)?);
    let log_id: Arc<str> = log::log_id(&writer_conn)?.into();
    let (appender, writer) = writer::spawn_writer(writer_conn, head);
    let subscribers = Subscribers::from_urls(&config.subscribers);
    let state = BusState {
        appender,
        reader: Arc::new(Mutex::new(log::open(&path)?)),
        log_id: log_id.clone(),
        head: head_watch.clone(),
        subscribers: subscribers.clone(),
    };

    // Ready while the log can be written: a bus that cannot store events
    // would refuse every one of them.
    let writable = path.clone();
    let readiness = Readiness::ready().with_check(move || db::check_writable(&writable));
    let mut server = Server::start(config.addr, app(state, readiness)).await?;
    server.attach(writer);
    // ANCHOR: fan_out
    let settings = delivery::DeliverySettings {
        client: delivery::http_client(),
        log_id: log_id.clone(),
        dead_letter_after: config.dead_letter_after,
    };
    for subscriber in subscribers.iter() {
        let cursors = log::open(&path)?;
        // This connection only writes cursors. A cursor a little behind after
        // a power cut means some events are delivered twice, which consumers
        // handle; so its commits need not wait for the disk like the events'.
        cursors.pragma_update(None, "synchronous", "NORMAL")?;
        let task = delivery::spawn_delivery(
            cursors,
            subscriber.clone(),
            settings.clone(),
            head_watch.clone(),
            server.stopping(),
        );
        server.attach(task);
    }
    // ANCHOR_END: fan_out
    tracing::info!(subscribers = ?config.subscribers, log = %path.display(), %log_id, "event bus started");
    Ok(server)
}
