//! The moderation service (chapter 5).
//!
//! It owns nothing: no database, no files. It is a pure reaction to events.
//!
//! - `POST /events`: on `CommentCreated` it decides with [`moderate`] and
//!   publishes `CommentModerated {id,postId,status,content}` to the bus
//!   *before* it answers 200; every other event type is answered 200
//!   `{"status": "ignored"}`.
//! - `POST /events/batch`: a JSON array of those events, each answered as
//!   `POST /events` would; the decisions are published together before
//!   the 200.
//!
//! Why no outbox, when posts and comments need one? Because the event we
//! react to is our to-do list. If publishing fails we answer 503, the bus
//! keeps the `CommentCreated` and delivers it again later, and we decide
//! again: [`moderate`] is a pure function, so the second decision is the
//! same as the first. Nothing is lost, and nothing needs to be stored here.
//! The price is that a retry can publish the same decision twice; comments
//! applies decisions idempotently, so a duplicate changes nothing.
//!
//! Modules: [`rule`] (the moderation rule), [`reaction`] (which event leads
//! to which), [`handlers`] (the HTTP endpoint), [`batch`] (many events in
//! one request, each answered by that endpoint).

pub mod batch;
pub mod handlers;
pub mod reaction;
pub mod rule;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use blog_events::{HttpBus, Publisher};
use blog_runtime::{Readiness, Server, Service, Settings, SettingsError, with_common_layers};

pub use reaction::react;
pub use rule::moderate;

/// Where the service listens and sends its decisions.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Base URL of the event bus, e.g. `http://localhost:4005`.
    pub event_bus_url: String,
}

impl Config {
    /// `HOST` (127.0.0.1), `PORT` (4003), `EVENT_BUS_URL` (http://localhost:4005).
    /// A value that cannot be used is an error that names it.
    pub fn from_env() -> Result<Self, SettingsError> {
        let settings = Settings::from_env();
        Ok(Config {
            addr: settings.listen_addr(Service::Moderation)?,
            event_bus_url: settings.event_bus_url()?,
        })
    }
}

// ANCHOR: app
/// The service's routes. The publisher is passed in, so tests can hand it a
/// fake and a real broker can replace the HTTP bus without touching a handler.
pub fn app(publisher: Arc<dyn Publisher>) -> Router {
    let routes = Router::new()
        .route("/events", post(handlers::receive_event))
        .route("/events/batch", post(batch::receive_events))
        .with_state(publisher);
    with_common_layers(routes, Readiness::ready())
}
// ANCHOR_END: app

/// Serves until stopped, publishing to the bus at `config.event_bus_url`.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let publisher = Arc::new(HttpBus::new(&config.event_bus_url));
    Ok(Server::start(config.addr, app(publisher)).await?)
}
