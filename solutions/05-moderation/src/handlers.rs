//! The HTTP endpoint of the moderation service.

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
    let event = match envelope.event() {
        Ok(event) => event,
        Err(EnvelopeError::UnknownType(_)) => return ignored(),
        Err(error) => return error_response(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
    };
    let Some(decision) = react(&event) else {
        return ignored();
    };
    // Publish first: only a decision safely with the bus may be answered 200.
    match publisher.publish(&decision).await {
        Ok(()) => Json(json!({ "status": "OK" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "could not publish a moderation decision; the bus will redeliver");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the decision could not be published, please deliver the event again later: {error}"
                ),
            )
        }
    }
}
// ANCHOR_END: receive_event

/// The answer to an event that is none of moderation's business.
fn ignored() -> Response {
    Json(json!({ "status": "ignored" })).into_response()
}
