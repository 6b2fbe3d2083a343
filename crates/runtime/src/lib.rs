//! What every blog service does the same way, so each service's own crate is
//! only about its feature.
//!
//! - [`Server`]: bind, serve, and stop gracefully (on SIGTERM/SIGINT, or when
//!   a test or the launcher asks), finishing requests already in flight.
//! - [`with_common_layers`]: `/healthz` and `/readyz` for Kubernetes probes,
//!   CORS for the web client, a 64 KiB body limit, and a panic turned into a
//!   JSON 500 instead of a dropped connection.
//! - [`JsonBody`] and [`error_response`]: bad input always gets a 4xx answer
//!   with a JSON body `{"error": "..."}`.
//! - [`Backoff`]: retry with exponential backoff and jitter.
//! - [`db::open_durable`]: a service's own SQLite file, opened so that a
//!   commit is on disk before the service acknowledges anything.
//! - [`env_or`]: configuration from environment variables with defaults that
//!   work on localhost.

mod backoff;
pub mod db;
mod http;
mod server;

pub use backoff::Backoff;

pub use http::{JsonBody, MAX_BODY_BYTES, Readiness, error_response, with_common_layers};
pub use server::{DEFAULT_SHUTDOWN_TIMEOUT, SHUTDOWN_TIMEOUT_VAR};
pub use server::{LISTENING_PREFIX, Server, init_tracing, shutdown_signal};

/// Reads an environment variable, falling back to a default that works on localhost.
pub fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => default.to_string(),
    }
}
