//! The query service (chapter 4).
//!
//! The client wants every post with its comments. Asking posts and then
//! comments for each post would tie the page to both services being up, and
//! cost one request per post. Instead the query service keeps its own copy,
//! shaped exactly for that page, and keeps it current from events alone: it
//! never calls another service's API.
//!
//! - `GET /posts` → 200 `{"<id>": {"id","title","comments":[{"id","content","status"}]}}`,
//!   posts oldest first; `GET /posts/{id}` → one of them
//! - `POST /events` ← the bus: consumes `PostCreated`, `CommentCreated` and
//!   `CommentUpdated`; every other type is acknowledged and ignored. It emits
//!   nothing.
//!
//! The copy lives in memory. At start the service replays the bus's log to
//! rebuild it and only then reports ready, so it can be thrown away and
//! rebuilt at any time. The only other call it makes is to that log, too:
//! when a delivery skips numbers or names another log, it reads the log to
//! see what really came next, and rebuilds when the bus's log was replaced.
//!
//! Modules: [`read_model`] (the data and its lookups), [`projection`] (how one
//! event changes it), [`rebuild`] (reading the bus's log), [`handlers`]
//! (the HTTP endpoints), [`error`] (how failures are answered).

pub mod error;
pub mod handlers;
pub mod projection;
pub mod read_model;
pub mod rebuild;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::routing::{get, post};
use blog_runtime::{
    PageOrigins, Readiness, Server, Service, Settings, SettingsError, with_common_layers,
};
use tokio::sync::Notify;

pub use error::QueryError;
pub use projection::{Outcome, apply, apply_delivery};
pub use read_model::{CommentView, PostView, PostsById, ReadModel};
pub use rebuild::BusLog;

/// Where the service listens and where it finds the event log.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Base URL of the event bus, e.g. `http://localhost:4005`: the log is
    /// replayed from `{event_bus_url}/events` at start.
    pub event_bus_url: String,
    /// Replay the bus's log at start. Off for tests that feed events by hand,
    /// and for a bus that keeps no log (the Node.js one): the service is then
    /// ready at once, with an empty model.
    pub rebuild: bool,
    /// The origins whose web page may call `GET /posts` from a browser (CORS).
    pub page_origins: PageOrigins,
}

impl Config {
    /// `HOST` (127.0.0.1), `PORT` (4002), `EVENT_BUS_URL` (http://localhost:4005),
    /// `REBUILD` (on; `off`, `false`, `no` or `0` turn it off), `CORS_ORIGINS`
    /// (the client on this machine). A value that cannot be used is an error
    /// that names it.
    pub fn from_env() -> Result<Self, SettingsError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup`, so tests
    /// can try settings without changing the process's environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let settings = Settings::from_lookup(lookup);
        let rebuild = settings.text("REBUILD", "on").to_ascii_lowercase();
        Ok(Config {
            addr: settings.listen_addr(Service::Query)?,
            event_bus_url: settings.event_bus_url()?,
            rebuild: !matches!(rebuild.as_str(), "off" | "false" | "no" | "0"),
            page_origins: settings.page_origins()?,
        })
    }
}

/// The read model and whether it is complete, shared by the handlers and
/// the rebuild task, and the bus's log they both read. Cheap to clone.
#[derive(Clone)]
pub struct QueryState {
    // A std lock, not tokio's: it is never held across an `.await`, and
    // every critical section is a few field updates.
    model: Arc<RwLock<ReadModel>>,
    readiness: Readiness,
    log: Arc<BusLog>,
    /// Wakes the rebuild task when the bus's log was replaced.
    rebuild: Arc<Notify>,
}

impl QueryState {
    /// An empty model; `readiness` says whether it may take live events yet.
    /// `event_bus_url` is where the bus's log is read.
    pub fn new(readiness: Readiness, event_bus_url: &str) -> Self {
        QueryState {
            model: Arc::default(),
            readiness,
            log: BusLog::new(event_bus_url),
            rebuild: Arc::default(),
        }
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn log(&self) -> &BusLog {
        &self.log
    }

    // ANCHOR: lock
    /// Runs `look` on the model while holding the read lock.
    pub fn read<T>(&self, look: impl FnOnce(&ReadModel) -> T) -> T {
        look(&self.model.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `change` on the model while holding the write lock.
    ///
    /// A panic while the lock is held (in an exercise, an unwritten
    /// `todo!()`) marks a std lock "poisoned", and every later request
    /// would fail with a `PoisonError` instead of the panic's own message.
    /// We take the model as it is instead: at worst it holds half of one
    /// event's change, and the model can always be rebuilt from the log.
    pub fn update<T>(&self, change: impl FnOnce(&mut ReadModel) -> T) -> T {
        change(&mut self.model.write().unwrap_or_else(PoisonError::into_inner))
    }
    // ANCHOR_END: lock

    /// Marks the service not ready and asks the rebuild task to throw the
    /// model away and replay the bus's log again.
    pub fn request_rebuild(&self) {
        self.readiness.set(false);
        self.rebuild.notify_one();
    }

    /// Resolves at the next [`QueryState::request_rebuild`] (or at once, if
    /// one came while nobody waited).
    pub async fn rebuild_requested(&self) {
        self.rebuild.notified().await;
    }
}

// ANCHOR: app
/// The service's routes.
pub fn app(state: QueryState, page: &PageOrigins) -> Router {
    let readiness = state.readiness().clone();
    // The routes the blog's web page calls: only they answer CORS, and only
    // to the page's own origin (chapter 6 says why).
    let page_routes = page.with_cors(
        Router::new()
            .route("/posts", get(handlers::list_posts))
            .route("/posts/{id}", get(handlers::get_post)),
    );
    // Not a page route, so without CORS: only the bus sends events.
    let routes = page_routes
        .route("/events", post(handlers::receive_event))
        .route("/events/batch", post(handlers::receive_events))
        .with_state(state);
    with_common_layers(routes, readiness)
}
// ANCHOR_END: app

/// Starts serving at once (so `/healthz` answers) and, unless
/// `config.rebuild` is off, replays the bus's log in the background before
/// turning ready. Either way the log is read again whenever a delivery does
/// not fit, and replayed from scratch when the bus's log was replaced.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let readiness = if config.rebuild {
        Readiness::not_ready()
    } else {
        Readiness::ready()
    };
    let state = QueryState::new(readiness, &config.event_bus_url);
    let mut server = Server::start(config.addr, app(state.clone(), &config.page_origins)).await?;
    let task = rebuild::spawn_rebuild(state, config.rebuild, server.stopping());
    server.attach(task);
    Ok(server)
}
