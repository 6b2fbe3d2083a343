//! The HTTP endpoint of the moderation service (TODO 3).
//!
//! The bus delivers every event here and reads the answer as an order:
//! a 2xx means "done, forget this delivery", anything else "keep it, and
//! deliver it again later". You decide which answer each event gets.

#![allow(unused_imports)] // the stub does not use them all yet; your code will

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blog_events::event::EnvelopeError;
use blog_events::{Envelope, Publisher};
use blog_runtime::{JsonBody, error_response};
use serde_json::json;

use crate::react;

// ANCHOR: receive_event
/// `POST /events`: react to one event from the bus.
///
/// The decision is published *before* we answer 200. A 200 tells the bus
/// "done, you may forget this delivery"; if we said it first and publishing
/// then failed, the decision would be lost for good. When publishing fails we
/// answer 503 instead, and the bus delivers the `CommentCreated` again later.
pub async fn receive_event(
    State(publisher): State<Arc<dyn Publisher>>,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Response {
    // TODO 3: make these true (the tests of steps 3 and 4 in
    // tests/moderation_spec.rs check them, first
    // `no_decision_is_lost_when_the_bus_fails_just_as_it_is_published`):
    // - a `CommentCreated` is answered 200 {"status": "OK"}, and only once
    //   the decision `react` gives for it is published;
    // - if that publish fails, the answer is a 503 JSON error, so that the
    //   bus delivers the event again (and a redelivery is answered like a
    //   first delivery: this handler keeps nothing between two requests);
    // - every other event type, one of ours or not, publishes nothing and is
    //   answered 200 {"status": "ignored"};
    // - one of our types whose data does not fit it is refused with a 422
    //   JSON error.
    let _ = (publisher, envelope);
    todo!("TODO 3 in src/handlers.rs: publish the decision, then answer the bus")
}
// ANCHOR_END: receive_event

/// The answer to an event that is none of moderation's business.
#[allow(dead_code)] // your `receive_event` will use it
fn ignored() -> Response {
    Json(json!({ "status": "ignored" })).into_response()
}
