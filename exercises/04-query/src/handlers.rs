//! The HTTP endpoints of the query service.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blog_events::Envelope;
use blog_events::event::EnvelopeError;
use blog_runtime::{JsonBody, error_response};
use serde_json::{Value, json};

use crate::projection::{Outcome, apply_delivery};
use crate::read_model::PostsById;
use crate::{QueryError, QueryState};

// ANCHOR: list_posts
/// `GET /posts`: every post with its comments, keyed by id, oldest first.
///
/// While the model is being rebuilt this shows the part of history replayed
/// so far: an older but consistent view, which is what "eventually
/// consistent" means. `/readyz` keeps Kubernetes traffic away meanwhile.
pub async fn list_posts(State(state): State<QueryState>) -> Json<PostsById> {
    Json(PostsById(state.read(|model| model.posts().to_vec())))
}
// ANCHOR_END: list_posts

/// `GET /posts/{id}`: one post with its comments (not in the Node app's
/// contract; handy for tools that follow a single post, like the benchmark).
pub async fn get_post(State(state): State<QueryState>, Path(id): Path<String>) -> Response {
    match state.read(|model| model.post(&id).cloned()) {
        Some(post) => Json(post).into_response(),
        None => error_response(StatusCode::NOT_FOUND, format!("no post with id {id:?} (yet)")),
    }
}

// ANCHOR: receive_event
/// `POST /events`: an event pushed by the bus.
pub async fn receive_event(
    State(state): State<QueryState>,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Result<Json<Value>, QueryError> {
    // Until the history has been replayed we refuse live events. One pushed
    // now could arrive before the history it depends on (a `CommentCreated`
    // before its `PostCreated`) and be dropped as a comment on an unknown
    // post; worse, its sequence number would make the replay skip every
    // older event. A 503 makes the bus keep it and deliver it again later.
    if !state.readiness().is_ready() {
        return Err(QueryError::Rebuilding);
    }
    let event = match envelope.event() {
        Ok(event) => event,
        // Events we do not know are none of our business: acknowledge them,
        // or the bus would retry them forever.
        Err(EnvelopeError::UnknownType(_)) => return Ok(Json(json!({ "status": "ignored" }))),
        Err(invalid) => return Err(invalid.into()),
    };
    let outcome = state.update(|model| apply_delivery(model, envelope.seq, &event));
    let status = match outcome {
        Outcome::Applied => "OK",
        Outcome::AlreadyApplied => "already applied",
    };
    Ok(Json(json!({ "status": status })))
}
// ANCHOR_END: receive_event
