//! The blog as a whole.
//!
//! - [`run_service`]: start one service by name, configured from the
//!   environment. The `blog` binary, and so every Docker image, runs this.
//! - [`launcher`]: start several services as separate processes, wait until
//!   each is healthy, restart one that dies, stop them gracefully in order.
//!   `blog up`, `cargo workbook up`, the benchmark and the end-to-end tests
//!   use it.

pub mod launcher;

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
