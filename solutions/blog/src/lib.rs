//! The blog as a whole.
//!
//! - [`run_service`]: start one service by name, configured from the
//!   environment. The `blog` binary, and so every Docker image, runs this.
//!   With `EVENT_BUS_URL=nats://...` its events go through NATS JetStream.
//! - [`launcher`]: start several services as separate processes, wait until
//!   each is healthy, restart one that dies, stop them gracefully in order.
//!   `blog up`, `cargo workbook up`, the benchmark and the end-to-end tests
//!   use it.

pub mod launcher;
mod nats_bus;

// ANCHOR: mine
// Where each service's code comes from: the reference crate (solutions/)
// unless its `mine-*` feature is on; then the learner's crate (exercises/),
// which has the same library name, takes its place. `run_service` below
// reads the same either way.
#[cfg(feature = "mine-client")]
use client_mine as client;
#[cfg(feature = "mine-comments")]
use comments_mine as comments;
#[cfg(feature = "mine-event-bus")]
use event_bus_mine as event_bus;
#[cfg(feature = "mine-moderation")]
use moderation_mine as moderation;
#[cfg(feature = "mine-posts")]
use posts_mine as posts;
#[cfg(feature = "mine-query")]
use query_mine as query;
// ANCHOR_END: mine
// Without its feature, each name is the reference crate's, here too, so
// that `crate::posts` in the modules below means the same as `posts` here.
#[cfg(not(feature = "mine-comments"))]
use ::comments;
#[cfg(not(feature = "mine-moderation"))]
use ::moderation;
#[cfg(not(feature = "mine-posts"))]
use ::posts;
#[cfg(not(feature = "mine-query"))]
use ::query;

/// Runs one service until SIGTERM or Ctrl-C. A setting that cannot be used
/// is an error that names it, before anything starts.
///
/// `EVENT_BUS_URL=nats://...` puts the services' events on a NATS JetStream
/// cluster instead of the HTTP bus (chapter 10).
pub async fn run_service(name: &str) -> anyhow::Result<()> {
    let bus = blog_runtime::Settings::from_env().event_bus_url()?;
    let on_nats = bus.starts_with("nats://");
    let server = match name {
        "client" => client::start(client::Config::from_env()?).await?,
        _ if on_nats => {
            let Some(service) = blog_catalogue::Service::from_name(name) else {
                anyhow::bail!("there is no service called {name:?}")
            };
            nats_bus::start(service, &bus).await?
        }
        "posts" => posts::start(posts::Config::from_env()?).await?,
        "comments" => comments::start(comments::Config::from_env()?).await?,
        "query" => query::start(query::Config::from_env()?).await?,
        "moderation" => moderation::start(moderation::Config::from_env()?).await?,
        "event-bus" => event_bus::start(event_bus::Config::from_env()?).await?,
        other => anyhow::bail!("there is no service called {other:?}"),
    };
    server.run_until_signal().await;
    Ok(())
}
