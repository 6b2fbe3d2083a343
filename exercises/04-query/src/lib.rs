//! The query service (chapter 4).
//!
//! The client wants every post with its comments. Asking posts and then
//! comments for each post would tie the page to both services being up, and
//! cost one request per post. Instead the query service keeps its own copy,
//! shaped exactly for that page, and keeps it current from events alone: it
//! never calls another service's API.
//!
//! - `GET /posts` → 200 `{"<id>": {"id","title","comments":[{"id","content","status"}]}}`,
//!   posts oldest first
//! - `POST /events` ← the bus: consumes `PostCreated`, `CommentCreated` and
//!   `CommentUpdated`; every other type is acknowledged and ignored. It emits
//!   nothing.
//!
//! The copy lives in memory. At start the service replays the bus's log to
//! rebuild it and only then reports ready, so it can be thrown away and
//! rebuilt at any time.
//!
//! Modules: [`read_model`] (the data and its lookups), [`projection`] (how one
//! event changes it), [`rebuild`] (replaying the log at start), [`handlers`]
//! (the HTTP endpoints), [`error`] (how failures are answered).

pub mod error;
pub mod handlers;
pub mod projection;
pub mod read_model;
pub mod rebuild;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::routing::{get, post};
use blog_runtime::{PageOrigins, Readiness, Server, Service, Settings, SettingsError, locks, with_common_layers};

pub use error::QueryError;
pub use projection::{Outcome, apply, apply_delivery};
pub use read_model::{CommentView, PostView, PostsById, ReadModel};

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
            event_bus_url: settings.base_url("EVENT_BUS_URL", Service::EventBus)?,
            rebuild: !matches!(rebuild.as_str(), "off" | "false" | "no" | "0"),
            page_origins: settings.page_origins()?,
        })
    }
}

/// The read model and whether it is complete, shared by the handlers and
/// the rebuild task. Cheap to clone.
#[derive(Clone)]
pub struct QueryState {
    // A std lock, not tokio's: it is never held across an `.await`, and
    // every critical section is a few field updates. Taken through
    // `blog_runtime::locks`, so a panicking request (a `todo!()`) does not
    // poison it for every request after it.
    model: Arc<RwLock<ReadModel>>,
    readiness: Readiness,
}

impl QueryState {
    /// An empty model; `readiness` says whether it may take live events yet.
    pub fn new(readiness: Readiness) -> Self {
        QueryState {
            model: Arc::default(),
            readiness,
        }
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Runs `look` on the model while holding the read lock.
    pub fn read<T>(&self, look: impl FnOnce(&ReadModel) -> T) -> T {
        look(&locks::read(&self.model))
    }

    /// Runs `change` on the model while holding the write lock.
    pub fn update<T>(&self, change: impl FnOnce(&mut ReadModel) -> T) -> T {
        change(&mut locks::write(&self.model))
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
        .with_state(state);
    with_common_layers(routes, readiness)
}
// ANCHOR_END: app

/// Starts serving at once (so `/healthz` answers) and, unless
/// `config.rebuild` is off, replays the bus's log in the background before
/// turning ready.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let readiness = if config.rebuild {
        Readiness::not_ready()
    } else {
        Readiness::ready()
    };
    let state = QueryState::new(readiness);
    let mut server = Server::start(config.addr, app(state.clone(), &config.page_origins)).await?;
    if config.rebuild {
        let task = rebuild::spawn_rebuild(state, &config.event_bus_url, server.stopping());
        server.attach(task);
    }
    Ok(server)
}
