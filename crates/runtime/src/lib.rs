//! What every blog service does the same way, so each service's own crate is
//! only about its feature.
//!
//! - [`Settings`]: configuration read from environment variables into typed
//!   values, with defaults from the service catalogue that work on
//!   localhost; a bad value is a [`SettingsError`], not a panic.
//! - [`serve_from_env`]: what a service's `main` does: settings, start,
//!   serve until a signal; a bad setting is one line on stderr and exit 2.
//! - [`Server`]: bind, serve, and stop gracefully (on SIGTERM/SIGINT, or when
//!   a test or the launcher asks), finishing requests already in flight.
//! - [`with_common_layers`]: `/healthz` and `/readyz` for Kubernetes probes
//!   ([`Readiness`], which can check that the database is writable), a
//!   64 KiB body limit, and a panic turned into a JSON 500 instead of a
//!   dropped connection.
//! - [`PageOrigins`]: CORS for the blog's own page, on the routes it calls.
//! - [`JsonBody`] and [`error_response`]: bad input always gets a 4xx answer
//!   with a JSON body `{"error": "..."}`; [`retry_later`] adds `Retry-After`
//!   to a 503 that means "not now".
//! - [`Backoff`]: retry with exponential backoff and jitter.
//! - [`db::open_durable`]: a service's own SQLite file, opened so that a
//!   commit is on disk before the service acknowledges anything;
//!   [`db::check_writable`] for readiness.
//! - [`locks`]: locks that a panicking request does not poison.
//! - [`service_runtime`]: the async runtime, with a small allocator
//!   footprint ([`memory::limit_malloc_arenas`],
//!   [`memory::limit_sqlite_preallocation`]).

mod backoff;
pub mod db;
mod http;
pub mod locks;
pub mod memory;
mod server;
mod settings;

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

pub use backoff::Backoff;

/// The service catalogue, whose defaults [`Settings`] reads.
pub use blog_catalogue::Service;
pub use http::{
    JsonBody, MAX_BODY_BYTES, PageOrigins, READINESS_CHECK_TIMEOUT, RETRY_AFTER_SECONDS, Readiness,
    error_response, retry_later, with_common_layers,
};
pub use server::{DEFAULT_SHUTDOWN_TIMEOUT, SHUTDOWN_TIMEOUT_VAR};
pub use server::{LISTENING_PREFIX, Server, init_tracing, shutdown_signal};
pub use settings::{EnvLookup, Settings, SettingsError};

// ANCHOR: serve_from_env
/// Runs one service as its own process: reads its settings with
/// `from_env`, starts it with `start`, and serves until SIGTERM or Ctrl-C.
///
/// A setting that cannot be used is one line on stderr and exit code 2; a
/// service that cannot start (a port in use, a database it cannot open) is
/// one line and exit code 1. Never a panic with a backtrace: the person who
/// reads it is fixing a configuration, not debugging our code.
pub fn serve_from_env<C, E, F>(
    from_env: impl FnOnce() -> Result<C, SettingsError>,
    start: impl FnOnce(C) -> F,
) -> ExitCode
where
    F: Future<Output = Result<Server, E>>,
    E: Display,
{
    init_tracing();
    let config = match from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match service_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match start(config).await {
            Ok(server) => {
                server.run_until_signal().await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                // `{:#}` puts an error's causes on the same line.
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        }
    })
}
// ANCHOR_END: serve_from_env

/// The async runtime a service process runs on: tokio's, with a thread per
/// core, started after [`memory::limit_malloc_arenas`] (which must come
/// before any thread) and [`memory::limit_sqlite_preallocation`] (before
/// any connection). Call it once, in `main`.
pub fn service_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    memory::limit_malloc_arenas();
    memory::limit_sqlite_preallocation();
    tokio::runtime::Runtime::new()
}

/// Reads an environment variable as text, falling back to a default that
/// works on localhost. For a value that must be parsed, use [`Settings`],
/// which says what is wrong with a bad one.
pub fn env_or(name: &str, default: &str) -> String {
    Settings::from_env().text(name, default)
}
