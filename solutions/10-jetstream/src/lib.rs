//! Chapter 10: the blog's events on a NATS JetStream cluster.
//!
//! The home-made bus of chapter 3 is one process with one file on one disk.
//! JetStream keeps the same log on three machines, and a write counts once
//! a majority has it: any one node can die and nothing acknowledged is
//! lost. The services do not change. Their handlers publish through the
//! same [`blog_events::Publisher`] seam, their outbox relay is the same,
//! and the events they consume reach the same `POST /events` handler.
//!
//! - [`streams`]: where the cluster is ([`BusConfig`]), the `BLOG_EVENTS`
//!   and `BLOG_PARKED` streams, their subjects.
//! - [`publisher`]: [`JetStreamPublisher`], a `Publisher` that returns only
//!   once the stream has the event, with a stable message id so that a
//!   republished event is stored once.
//! - [`target`]: hands an event to a service's own router ([`RouterTarget`])
//!   and reads its answer as a [`Verdict`].
//! - [`consumer`]: the durable pull consumer loop: ack after the handler
//!   applied the event, nak with backoff and jitter when it may work later,
//!   the dead-letter stream when it never will.

pub mod consumer;
pub mod publisher;
pub mod streams;
pub mod target;

pub use consumer::{ConsumerSettings, Settled, park, retry_delay, settle, spawn_consumer};
pub use publisher::JetStreamPublisher;
pub use streams::{BusConfig, connect, ensure_streams, parked_subject, subject_for};
pub use target::{EventTarget, RouterTarget, Verdict};
