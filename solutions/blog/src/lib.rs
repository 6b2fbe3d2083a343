//! The blog as a whole.
//!
//! - [`run_service`]: start one service by name, configured from the
//!   environment. The `blog` binary, and so every Docker image, runs this.
//! - [`launcher`]: start several services as separate processes, wait until
//!   each is healthy, restart one that dies, stop them gracefully in order.
//!   `blog up`, `cargo workbook up`, the benchmark and the end-to-end tests
//!   use it.

pub mod launcher;

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

/// Runs one service until SIGTERM or Ctrl-C. A setting that cannot be used
/// is an error that names it, before anything starts.
pub async fn run_service(name: &str) -> anyhow::Result<()> {
    let server = match name {
        "posts" => posts::start(posts::Config::from_env()?).await?,
        "comments" => comments::start(comments::Config::from_env()?).await?,
        "query" => query::start(query::Config::from_env()?).await?,
        "moderation" => moderation::start(moderation::Config::from_env()?).await?,
        "event-bus" => event_bus::start(event_bus::Config::from_env()?).await?,
        "client" => client::start(client::Config::from_env()?).await?,
        other => anyhow::bail!("there is no service called {other:?}"),
    };
    server.run_until_signal().await;
    Ok(())
}
