//! The services on NATS JetStream (chapter 10), chosen by
//! `EVENT_BUS_URL=nats://...`: the same handlers, the same outbox, the same
//! routers; only what carries the events changes.
//!
//! Each service is put together from its crate's own parts (its store, its
//! `app`), as its `start` does, with [`JetStreamPublisher`] where `start`
//! puts the HTTP bus, and, for a service that consumes events, a durable
//! consumer that hands each one to the service's own `POST /events`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::bail;
use blog_catalogue::Service;
use blog_runtime::{Readiness, Server, Settings};
use jetstream::{
    BusConfig, ConsumerSettings, JetStreamPublisher, RouterTarget, connect, ensure_streams,
    spawn_consumer,
};

use crate::{comments, moderation, posts, query};

/// How long a service waits at start for the cluster to have the streams
/// (a cluster that has just started is still electing its leaders).
const STREAMS_PATIENCE: Duration = Duration::from_secs(60);

/// Starts `service` with its events on the JetStream cluster at `servers`
/// (comma-separated `nats://` URLs).
pub async fn start(service: Service, servers: &str) -> anyhow::Result<Server> {
    let settings = Settings::from_env();
    let bus = BusConfig::from_settings(servers, &settings)?;
    let js = connect(&bus).await?;
    ensure_streams(&js, bus.replicas, STREAMS_PATIENCE).await?;
    let publisher = Arc::new(JetStreamPublisher::new(js.clone(), service.name()));
    let consumer = |durable: &str| ConsumerSettings {
        dead_letter_after: bus.dead_letter_after,
        ack_wait: bus.ack_wait,
        ..ConsumerSettings::new(durable)
    };
    // Comments and query take up to 256 events unacknowledged, not one at a
    // time: it saves a round trip to the broker per event. The broker
    // still sends them in stream order and the consumer applies them one
    // after another; only an event that is retried (the handler answered
    // 5xx) comes back after later ones. Neither minds: query's model does
    // not depend on the order of a post's events (a comment may come
    // before its post, an update before its comment: chapter 4), and each
    // event comments takes (a post, a decision) is about one post or
    // comment, applied by setting, not by adding.
    let windowed = |durable: &str| ConsumerSettings {
        in_order: false,
        ..consumer(durable)
    };
    let database =
        |data_dir: &std::path::Path| data_dir.join(service.database().unwrap_or_default());
    let (mut server, router, consumer) = match service {
        Service::Posts => {
            let config = posts::Config::from_env()?;
            let store = posts::PostStore::open(&database(&config.data_dir))?;
            let router = posts::app(store.clone(), &config.page_origins);
            let mut server = Server::start(config.addr, router).await?;
            server.attach(event_bus::relay::spawn_relay(
                store.db(),
                publisher,
                server.stopping(),
            ));
            // Posts consumes nothing.
            return Ok(server);
        }
        Service::Comments => {
            let config = comments::Config::from_env()?;
            let store = comments::CommentStore::open(&database(&config.data_dir))?;
            let lookup = config
                .post_lookup
                .build(&store, &config.posts_url, config.posts_timeout);
            let router = comments::app(store.clone(), lookup, &config.page_origins);
            let mut server = Server::start(config.addr, router.clone()).await?;
            server.attach(event_bus::relay::spawn_relay(
                store.db(),
                publisher,
                server.stopping(),
            ));
            (server, router, windowed(service.name()))
        }
        Service::Query => {
            let config = query::Config::from_env()?;
            // The model is rebuilt from the stream, not from the HTTP bus's
            // log: the consumer starts from the first event at every start.
            // The handler takes events at once (the replay comes through
            // it), but `/readyz` says ready only once the consumer has
            // caught up with what the stream held at the start.
            let caught_up = Arc::new(AtomicBool::new(false));
            let replayed = caught_up.clone();
            let readiness =
                Readiness::ready().with_check(move || match replayed.load(Ordering::SeqCst) {
                    true => Ok(()),
                    false => Err("replaying the stream into the read model"),
                });
            let state = query::QueryState::new(readiness, &config.event_bus_url);
            let router = query::app(state, &config.page_origins);
            let server = Server::start(config.addr, router.clone()).await?;
            // Each replica its own consumer: each needs every event.
            let replica = settings.text("QUERY_REPLICA", "0");
            let settings = ConsumerSettings {
                replay_from_start: true,
                caught_up: Some(caught_up),
                ..windowed(&format!("query-{replica}"))
            };
            (server, router, settings)
        }
        Service::Moderation => {
            let config = moderation::Config::from_env()?;
            let router = moderation::app(publisher);
            let server = Server::start(config.addr, router.clone()).await?;
            // One consumer shared by every replica: a work queue, so each
            // comment is decided by one of them. Order does not matter.
            let settings = ConsumerSettings {
                in_order: false,
                ..consumer(service.name())
            };
            (server, router, settings)
        }
        Service::EventBus => {
            bail!("on NATS there is no event-bus process: the JetStream cluster is the bus")
        }
        Service::Client => unreachable!("the client sends no events: it starts as on any bus"),
    };
    let stopping = server.stopping();
    server.attach(spawn_consumer(
        js,
        consumer,
        Arc::new(RouterTarget(router)),
        stopping,
    ));
    Ok(server)
}
