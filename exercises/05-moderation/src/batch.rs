//! `POST /events/batch`: many events in one request, answered by the very
//! handler that answers `POST /events`.
//!
//! Our bus sends a subscriber that has fallen behind its waiting events
//! together (chapter 3, "Keeping up"). Moderation hears of every event, so
//! one request per event was most of what it cost. This route takes the
//! batch, and for each event calls [`receive_event`], which you wrote for
//! one event at a time. Only the publisher it hands it is different: one
//! that keeps the decisions instead of sending them. Once every event of
//! the batch has been answered 2xx, the decisions go to the bus together,
//! in order (one request, one commit at the bus), and only then is the
//! batch answered 200. The promise of chapter 5 holds for the batch: no
//! "OK" before its decisions are safely with the bus.
//!
//! The first event whose answer is not 2xx is the answer for the whole
//! batch, and nothing is published. The bus then delivers the batch again
//! (a 5xx), or its events one by one (a 4xx), and moderation decides each
//! again: the rule is pure, so the decisions are the same.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blog_events::publish::PublishFuture;
use blog_events::{Envelope, Event, Publisher};
use blog_runtime::{JsonBody, error_response};
use serde_json::json;

use crate::handlers::receive_event;

// ANCHOR: receive_events
/// `POST /events/batch`: a JSON array of what `POST /events` takes.
pub async fn receive_events(
    State(publisher): State<Arc<dyn Publisher>>,
    JsonBody(envelopes): JsonBody<Vec<Envelope>>,
) -> Response {
    let decisions = Arc::new(Decisions::default());
    for envelope in envelopes {
        let kept: Arc<dyn Publisher> = decisions.clone();
        let answer = receive_event(State(kept), JsonBody(envelope)).await;
        if !answer.status().is_success() {
            return answer;
        }
    }
    let decisions = decisions.take();
    match publisher.publish_all(&decisions).await {
        Ok(()) => Json(json!({ "status": "OK" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "could not publish a batch's decisions; the bus will redeliver");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the decisions could not be published, please deliver the events again later: {error}"
                ),
            )
        }
    }
}
// ANCHOR_END: receive_events

/// A publisher that keeps what it is given, in order, for the batch to send.
#[derive(Default)]
struct Decisions(Mutex<Vec<Event>>);

impl Decisions {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *blog_runtime::locks::lock(&self.0))
    }
}

impl Publisher for Decisions {
    fn publish<'a>(&'a self, event: &'a Event) -> PublishFuture<'a> {
        blog_runtime::locks::lock(&self.0).push(event.clone());
        Box::pin(async { Ok(()) })
    }
}
