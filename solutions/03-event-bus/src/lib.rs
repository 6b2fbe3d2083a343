//! The event bus (chapter 3): the heart of the blog.
//!
//! Services never call each other; they tell the bus what happened, and the
//! bus tells everyone else. It owns one thing, the event log, in its own
//! database (`$DATA_DIR/event-bus.db`).
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

pub mod delivery;
pub mod error;
pub mod event_type;
pub mod handlers;
pub mod log;
pub mod parked;
pub mod subscribers;
pub mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use blog_runtime::{Readiness, Server, env_or, with_common_layers};
use tokio::sync::watch;

pub use error::BusError;
pub use event_type::EventType;
pub use handlers::BusState;
pub use log::{NewEvent, StoredEvent, WireEvent};
pub use subscribers::Subscribers;
pub use writer::Appender;

/// The subscribers of the blog system: posts, comments, query, moderation.
pub const DEFAULT_SUBSCRIBERS: &str =
    "http://localhost:4000,http://localhost:4001,http://localhost:4002,http://localhost:4003";

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
    /// `SUBSCRIBERS` (comma-separated base URLs; default: the four services)
    /// and `DEAD_LETTER_AFTER` (5).
    pub fn from_env() -> Self {
        let host = env_or("HOST", "127.0.0.1");
        let port = env_or("PORT", "4005");
        Config {
            addr: format!("{host}:{port}")
                .parse()
                .expect("HOST and PORT must form an address such as 127.0.0.1:4005"),
            data_dir: env_or("DATA_DIR", "./data").into(),
            subscribers: parse_subscribers(&env_or("SUBSCRIBERS", DEFAULT_SUBSCRIBERS)),
            dead_letter_after: env_or("DEAD_LETTER_AFTER", "5")
                .parse()
                .ok()
                .filter(|&tries| tries >= 1)
                .expect("DEAD_LETTER_AFTER must be a whole number of 1 or more"),
        }
    }
}

/// Splits a comma-separated list of URLs, dropping blanks and trailing slashes.
pub fn parse_subscribers(list: &str) -> Vec<String> {
    list.split(',')
        .map(|url| url.trim().trim_end_matches('/'))
        .filter(|url| !url.is_empty())
        .map(str::to_string)
        .collect()
}

// ANCHOR: app
/// The bus's routes.
pub fn app(state: BusState) -> Router {
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
    with_common_layers(routes, Readiness::ready())
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

    let mut server = Server::start(config.addr, app(state)).await?;
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
