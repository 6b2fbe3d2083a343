//! The comments service (chapter 2).
//!
//! It owns the comments on each post and their moderation status, in its own
//! database (`$DATA_DIR/comments.db`); no other service reads that file.
//!
//! - `GET /posts/{id}/comments` → 200 `[{"id","content","status"}]`, oldest
//!   first (an empty list for a post without comments)
//! - `POST /posts/{id}/comments` with `{"content"}` → 201 with the post's
//!   whole comment list; the new comment starts `pending`
//! - `POST /events`: consumes `PostCreated` (to know which posts exist) and
//!   `CommentModerated` (to store moderation's decision); ignores the rest
//! - emits `CommentCreated` for every new comment and `CommentUpdated` for
//!   every decision that changed a status, through an outbox, so they reach
//!   the bus even if it is down at that moment.
//!
//! Modules: [`backlog`] (pushing back while behind on the bus),
//! [`content`] and [`post_id`] (what valid input is),
//! [`post_lookup`] (how we know a post exists: our own table, or asking posts),
//! [`events`] (what each event does), [`handlers`] (the HTTP endpoints),
//! [`store`] (the database), [`writer`] (its group commit), [`lists`] (the
//! answer to a new comment, kept ready), [`error`] (how failures are answered).

pub mod backlog;
pub mod content;
pub mod error;
pub mod events;
pub mod handlers;
pub mod lists;
pub mod post_id;
pub mod post_lookup;
pub mod store;
pub mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler;
use axum::middleware;
use axum::routing::{get, post};
use blog_events::HttpBus;
use blog_runtime::{PageOrigins, Server, Service, Settings, SettingsError, with_common_layers};

pub use backlog::Backlog;
pub use content::CommentContent;
pub use error::CommentsError;
pub use post_id::PostId;
pub use post_lookup::{PostLookup, PostLookupMode};
pub use store::{Comment, CommentStore};

/// Where the service listens, keeps its data, sends its events, and how it
/// checks that a post exists.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Holds `comments.db`. Each service has its own file: database per service.
    pub data_dir: PathBuf,
    /// Base URL of the event bus, e.g. `http://localhost:4005`.
    pub event_bus_url: String,
    /// How to check that a post exists before accepting a comment on it.
    pub post_lookup: PostLookupMode,
    /// Base URL of the posts service; only the `http` lookup calls it.
    pub posts_url: String,
    /// How long the `http` lookup waits for posts before answering 503.
    pub posts_timeout: Duration,
    /// The origins whose web page may call `/posts/{id}/comments` from a
    /// browser (CORS).
    pub page_origins: PageOrigins,
}

impl Config {
    /// `HOST` (127.0.0.1), `PORT` (4001), `DATA_DIR` (./data),
    /// `EVENT_BUS_URL` (http://localhost:4005), `POST_LOOKUP` (events | http | off;
    /// default events), `POSTS_URL` (http://localhost:4000), `POSTS_TIMEOUT_MS` (2000),
    /// `CORS_ORIGINS` (the client on this machine).
    /// A value that cannot be used is an error that names it.
    pub fn from_env() -> Result<Self, SettingsError> {
        let settings = Settings::from_env();
        let timeout_ms =
            settings.parse("POSTS_TIMEOUT_MS", 2000, "a whole number of milliseconds")?;
        Ok(Config {
            addr: settings.listen_addr(Service::Comments)?,
            data_dir: settings.data_dir(),
            event_bus_url: settings.event_bus_url()?,
            post_lookup: settings.parse(
                "POST_LOOKUP",
                PostLookupMode::Events,
                "events, http or off",
            )?,
            posts_url: settings.base_url("POSTS_URL", Service::Posts)?,
            posts_timeout: Duration::from_millis(timeout_ms),
            page_origins: settings.page_origins()?,
        })
    }
}

// ANCHOR: app
/// The service's routes.
pub fn app(store: CommentStore, lookup: Arc<dyn PostLookup>, page: &PageOrigins) -> Router {
    let readiness = store.db().readiness();
    // The route the blog's web page calls: only it answers CORS, and only
    // to the page's own origin (chapter 6 says why).
    // While comments is far behind on the bus's events, new comments wait
    // (503, `Retry-After`) and it catches up first (see [`backlog`]).
    let backlog = Backlog::default();
    let page_routes = page.with_cors(Router::new().route(
        "/posts/{id}/comments",
        get(handlers::list_comments).post(handlers::create_comment.layer(
            middleware::from_fn_with_state(backlog.clone(), backlog::refuse_while_behind),
        )),
    ));
    // Not a page route, so without CORS: only the bus sends events.
    let routes = page_routes
        .route("/events", post(handlers::receive_event))
        .route(
            "/events/batch",
            post(handlers::receive_events).layer(middleware::from_fn_with_state(
                backlog,
                backlog::note_backlog,
            )),
        )
        .with_state(handlers::AppState { store, lookup });
    with_common_layers(routes, readiness)
}
// ANCHOR_END: app

/// Opens the database, starts the outbox relay and serves until stopped.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let store = CommentStore::open(&config.data_dir.join("comments.db"))?;
    let lookup = config
        .post_lookup
        .build(&store, &config.posts_url, config.posts_timeout);
    let publisher = Arc::new(HttpBus::new(&config.event_bus_url));
    let mut server = Server::start(
        config.addr,
        app(store.clone(), lookup, &config.page_origins),
    )
    .await?;
    let relay = event_bus::relay::spawn_relay(store.db(), publisher, server.stopping());
    server.attach(relay);
    Ok(server)
}
