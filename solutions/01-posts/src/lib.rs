//! The posts service (chapter 1).
//!
//! It owns one thing, the blog's posts, in its own database
//! (`$DATA_DIR/posts.db`); no other service reads that file.
//!
//! - `GET /posts` → 200 `{"<id>": {"id","title"}}`, oldest first
//! - `POST /posts` and `POST /posts/create` with `{"title"}` → 201 `{"id","title"}`
//! - emits `PostCreated {id,title}` for every new post, through an outbox, so
//!   the event reaches the bus even if the bus is down when the post is made.
//!
//! Modules: [`title`] (what a valid title is), [`handlers`] (the HTTP
//! endpoints), [`store`] (the database), [`error`] (how failures are answered).

pub mod error;
pub mod handlers;
pub mod store;
pub mod title;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use blog_events::HttpBus;
use blog_runtime::{PageOrigins, Server, Service, Settings, SettingsError, with_common_layers};

pub use error::PostsError;
pub use store::{Post, PostStore};
pub use title::Title;

/// Where the service listens, keeps its data and sends its events.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Holds `posts.db`. Each service has its own file: database per service.
    pub data_dir: PathBuf,
    /// Base URL of the event bus, e.g. `http://localhost:4005`.
    pub event_bus_url: String,
    /// The origins whose web page may call `/posts` from a browser (CORS).
    pub page_origins: PageOrigins,
}

// ANCHOR: config
impl Config {
    /// `HOST` (127.0.0.1), `PORT` (4000), `DATA_DIR` (./data), `EVENT_BUS_URL`
    /// (http://localhost:4005), `CORS_ORIGINS` (the client on this machine).
    /// A value that cannot be used is an error that names it.
    pub fn from_env() -> Result<Self, SettingsError> {
        let settings = Settings::from_env();
        Ok(Config {
            addr: settings.listen_addr(Service::Posts)?,
            data_dir: settings.data_dir(),
            event_bus_url: settings.event_bus_url()?,
            page_origins: settings.page_origins()?,
        })
    }
}
// ANCHOR_END: config

// ANCHOR: app
/// The service's routes. The wire contract says both `POST /posts` and
/// `POST /posts/create` create a post: the second exists because an ingress
/// routes by path, not by method (chapter 9).
pub fn app(store: PostStore, page: &PageOrigins) -> Router {
    // The routes the blog's web page calls: only they answer CORS, and
    // only to the page's own origin (chapter 6 says why).
    let page_routes = page.with_cors(
        Router::new()
            .route(
                "/posts",
                get(handlers::list_posts).post(handlers::create_post),
            )
            .route("/posts/create", post(handlers::create_post)),
    );
    // Not a page route, so without CORS: only the bus sends events.
    let routes = page_routes
        .route("/events", post(handlers::receive_event))
        .route("/events/batch", post(handlers::receive_events))
        .with_state(store.clone());
    with_common_layers(routes, store.db().readiness())
}
// ANCHOR_END: app

/// Opens the database, starts the outbox relay and serves until stopped.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let store = PostStore::open(&config.data_dir.join("posts.db"))?;
    let publisher = Arc::new(HttpBus::new(&config.event_bus_url));
    let mut server = Server::start(config.addr, app(store.clone(), &config.page_origins)).await?;
    let relay = event_bus::relay::spawn_relay(store.db(), publisher, server.stopping());
    server.attach(relay);
    Ok(server)
}
