//! The contract between the blog's services.
//!
//! Services never call into each other's code: they exchange events over HTTP
//! through the event bus. This crate is the one thing they all share:
//!
//! - [`event`]: the event types and their JSON wire form (`{"type","data"}`),
//!   compatible with the Node.js course app the blog is modelled on.
//! - [`publish`]: the [`Publisher`](publish::Publisher) interface a service
//!   sends events through, and its HTTP implementation for our bus. A real
//!   broker can replace it without touching any handler.
//! - [`outbox`]: the transactional outbox. A service writes its data and the
//!   event that announces it in one database transaction; a background relay
//!   (the bus's client side, `event_bus::relay`) delivers the event later,
//!   retrying until the bus has it. That is how a
//!   service can say "201 Created" and be sure the rest of the system will hear
//!   about it even if the bus is down at that moment.

pub mod event;
pub mod outbox;
pub mod publish;

pub use event::{
    CommentCreated, CommentModerated, CommentStatus, CommentUpdated, Envelope, Event, PostCreated,
};
pub use publish::{HttpBus, PublishError, Publisher};
