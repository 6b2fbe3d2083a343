//! The HTTP endpoints of the query service.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blog_events::event::EnvelopeError;
use blog_events::{Envelope, Event};
use blog_runtime::{JsonBody, error_response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::projection::{Outcome, apply_delivery};
use crate::read_model::ReadModel;
use crate::rebuild::{self, LogRead};
use crate::{QueryError, QueryState};

// ANCHOR: list_posts
/// `GET /posts`: every post with its comments, keyed by id, oldest first.
///
/// While the model is being rebuilt this shows the part of history replayed
/// so far: an older but consistent view, which is what "eventually
/// consistent" means. `/readyz` keeps Kubernetes traffic away meanwhile.
///
/// The body is the model's encoded answer, shared by every read until the
/// next change (see [`ReadModel::posts_json`]): the same bytes as
/// `Json(PostsById(...))` would write, without encoding them each time.
pub async fn list_posts(State(state): State<QueryState>) -> Response {
    let body = state.read(ReadModel::posts_json);
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], body).into_response()
}
// ANCHOR_END: list_posts

/// `GET /posts/{id}`: one post with its comments (not in the Node app's
/// contract; handy for tools that follow a single post, like the benchmark).
pub async fn get_post(
    State(state): State<QueryState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    // Axum answers a path it cannot read (`%FF` is not UTF-8) in plain text;
    // ours is JSON, like every other error.
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => {
            let message = format!("the post id cannot be read: {}", rejection.body_text());
            return QueryError::BadPath(message).into_response();
        }
    };
    match state.read(|model| model.post(&id).cloned()) {
        Some(post) => Json(post).into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            format!("no post with id {id:?} (yet)"),
        ),
    }
}

/// An event as our bus delivers it: the envelope, and the bus's name for the
/// log its `seq` counts in. Other buses send neither.
#[derive(Debug, Deserialize)]
pub struct Delivery {
    #[serde(flatten)]
    pub envelope: Envelope,
    #[serde(rename = "logId", default)]
    pub log_id: Option<String>,
}

// ANCHOR: receive_event
/// `POST /events`: an event pushed by the bus.
pub async fn receive_event(
    State(state): State<QueryState>,
    JsonBody(delivery): JsonBody<Delivery>,
) -> Result<Json<Value>, QueryError> {
    // Until the history has been replayed we refuse live events. One pushed
    // now would be judged against a model that is not finished yet. A 503
    // makes the bus keep it and deliver it again later.
    if !state.readiness().is_ready() {
        return Err(QueryError::Rebuilding);
    }
    let event = match delivery.envelope.event() {
        Ok(event) => event,
        // Events we do not know are none of our business: acknowledge them,
        // or the bus would retry them forever.
        Err(EnvelopeError::UnknownType(_)) => return Ok(Json(json!({ "status": "ignored" }))),
        Err(invalid) => return Err(invalid.into()),
    };
    let (seq, log_id) = (delivery.envelope.seq, delivery.log_id.as_deref());
    let outcome = match state.update(|model| apply_if_same_log(model, log_id, seq, &event)) {
        Some(Outcome::Gap) | None => judge_against_the_log(&state, log_id, seq, &event).await?,
        Some(outcome) => outcome,
    };
    let status = match outcome {
        Outcome::Applied => "OK",
        // (A gap never gets here: it was judged against the log above.)
        Outcome::AlreadyApplied | Outcome::Gap => "already applied",
    };
    Ok(Json(json!({ "status": status })))
}
// ANCHOR_END: receive_event

/// `POST /events/batch`: several deliveries from our bus, each handled as
/// `POST /events` would, in order; the first that fails is the answer (the
/// bus sends them again, and those applied already are recognised by seq).
pub async fn receive_events(
    State(state): State<QueryState>,
    JsonBody(deliveries): JsonBody<Vec<Delivery>>,
) -> Result<Json<Value>, QueryError> {
    for delivery in deliveries {
        // Its answer says "OK" or "already applied"; only a failure matters here.
        let _handled = receive_event(State(state.clone()), JsonBody(delivery)).await?;
    }
    Ok(Json(json!({ "status": "OK" })))
}

/// [`apply_delivery`], for a delivery that names the model's log or none;
/// `None`, changing nothing, for one that names another log.
fn apply_if_same_log(
    model: &mut ReadModel,
    log_id: Option<&str>,
    seq: Option<u64>,
    event: &Event,
) -> Option<Outcome> {
    if log_id.is_some_and(|id| model.log_id() != Some(id)) {
        return None;
    }
    Some(apply_delivery(model, seq, event))
}

// ANCHOR: judge
/// A delivery that skipped ahead, or named another log. Its numbers are only
/// a claim, so we ask the bus's log, which we read ourselves, what really
/// came next, and then look at the delivery again:
///
/// - events were missing before it: now they are applied, and so is it;
/// - the bus has a new log (it was reset): throw the model away, rebuild it;
/// - its number is not in the log, or its log is not the bus's: refuse it,
///   without moving the model's mark, so it cannot hide the real events.
async fn judge_against_the_log(
    state: &QueryState,
    log_id: Option<&str>,
    seq: Option<u64>,
    event: &Event,
) -> Result<Outcome, QueryError> {
    match rebuild::catch_up(state, seq).await {
        Ok(LogRead::CaughtUp) => {}
        Ok(LogRead::Replaced) => {
            state.request_rebuild();
            return Err(QueryError::Rebuilding);
        }
        Err(error) => return Err(QueryError::LogUnreachable(error)),
    }
    state.update(|model| match apply_if_same_log(model, log_id, seq, event) {
        None => Err(QueryError::NotThisLog {
            theirs: log_id.unwrap_or_default().to_string(),
            ours: model.log_id().map(str::to_string),
        }),
        Some(Outcome::Gap) => Err(QueryError::NotInLog {
            seq: seq.unwrap_or_default(),
            last: model.last_seq().unwrap_or(0),
        }),
        Some(outcome) => Ok(outcome),
    })
}
// ANCHOR_END: judge
