//! The plumbing the spec files share, so each spec file shows only what it
//! specifies. Every exercise's tests depend on it (as a dev-dependency).
//!
//! - [`send`], [`expect_status`] and [`expect_json_error`]: one HTTP
//!   request, its status and JSON body, and a failure that shows both.
//! - [`FakeService`]: a stand-in for whatever takes events at `POST /events`
//!   (the bus, when a service publishes; a subscriber, when the bus
//!   delivers). It records what it accepts and counts what it refuses, so a
//!   test can wait for "the bus has refused once" instead of sleeping.
//! - [`wait_until`] and [`eventually`]: wait for a condition, with a
//!   deadline, never for a fixed time.
//! - [`spawn_service`]: a service's binary as a child process on port 0; the
//!   child reports the address it bound.
//! - [`skip_unless_required`]: a test that needs a tool this machine lacks
//!   says `SKIPPED` loudly, or fails when CI requires the tool.
//! - [`nats_server_or_skip`] and [`NatsServer`]: a real `nats-server` for
//!   chapter 10's tests, or `SKIPPED` (a failure under `REQUIRE_NATS=1`).
//! - `docker` (feature `docker`): the Docker gate of chapters 7 and 8 (skips
//!   loudly without an engine, fails instead under `REQUIRE_DOCKER=1`), and
//!   the clean-up after their containers.

mod fake;
mod http;
mod nats;
mod process;
mod skip;
mod text;
mod wait;

#[cfg(feature = "docker")]
pub mod docker;

pub use fake::{Behaviour, FakeService};
pub use http::{expect_json_error, expect_status, send};
pub use nats::{NatsServer, nats_server_or_skip};
pub use process::{ServiceProcess, spawn_service};
pub use skip::skip_unless_required;
pub use text::without_colours;
pub use wait::{eventually, wait_until};
