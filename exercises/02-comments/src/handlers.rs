//! The HTTP endpoints of the comments service (TODO 5: creating a comment).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use blog_events::Envelope;
use blog_events::event::EnvelopeError;
use blog_runtime::{JsonBody, error_response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::events::{Handled, handle_event, handle_events};
use crate::lists::CommentList;
use crate::post_lookup::PostLookup;
use crate::store::Comment;
#[allow(unused_imports)] // you will need `CommentContent` for TODO 5
use crate::{CommentContent, CommentStore, CommentsError, PostId};

/// What every handler needs: our database and the way we check posts.
#[derive(Clone)]
pub struct AppState {
    pub store: CommentStore,
    pub lookup: Arc<dyn PostLookup>,
}

/// The body of `POST /posts/{id}/comments`: `{"content": "..."}`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct NewComment {
    pub content: String,
}

/// The `{id}` in `/posts/{id}/comments`, already checked: a handler that
/// takes one never sees an id it should refuse. A bad one is a JSON 400.
pub struct PostIdInPath(pub PostId);

impl<S: Send + Sync> FromRequestParts<S> for PostIdInPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| error_response(rejection.status(), rejection.body_text()))?;
        let post_id =
            PostId::parse(&raw).map_err(|error| CommentsError::from(error).into_response())?;
        Ok(PostIdInPath(post_id))
    }
}

/// `GET /posts/{id}/comments`: the post's comments, oldest first.
pub async fn list_comments(
    State(state): State<AppState>,
    PostIdInPath(post_id): PostIdInPath,
) -> Result<Json<Vec<Comment>>, CommentsError> {
    Ok(Json(state.store.for_post(&post_id).await?))
}

// ANCHOR: create_comment
/// `POST /posts/{id}/comments`: check the input, check the post exists, store
/// the comment (and its `CommentCreated` event, in the same transaction) and
/// answer 201 with all of the post's comments.
pub async fn create_comment(
    State(state): State<AppState>,
    PostIdInPath(post_id): PostIdInPath,
    JsonBody(new_comment): JsonBody<NewComment>,
) -> Result<(StatusCode, CommentList), CommentsError> {
    // TODO 5: a comment is stored (as `pending`, with its event) only on a
    // post that `state.lookup` says exists, and the answer is 201 with the
    // post's comments (`comments_asks_posts_whether_the_post_exists`). A post
    // that does not exist is a 404, posts unreachable a 503, and nothing is
    // stored (`the_cascade_while_posts_is_down_nobody_can_comment`). A comment
    // that is not valid is refused without asking posts at all: posts being
    // down is no reason to refuse it with a 503
    // (`bad_input_is_refused_before_comments_asks_posts`).
    let _ = (state, post_id, new_comment);
    todo!(
        "TODO 5 in src/handlers.rs: create_comment must store a comment on a post that exists and answer 201"
    )
}
// ANCHOR_END: create_comment

/// `POST /events`: an event from the bus. Unknown types are answered 200
/// `{"status": "ignored"}`, so a newer service can add event types without
/// breaking us; a known type with unreadable data is a 422.
pub async fn receive_event(
    State(state): State<AppState>,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Result<Json<Value>, CommentsError> {
    let event = match envelope.event() {
        Ok(event) => event,
        Err(EnvelopeError::UnknownType(_)) => return Ok(Json(json!({ "status": "ignored" }))),
        Err(error) => return Err(CommentsError::InvalidEvent(error)),
    };
    let status = match handle_event(&state.store, &event).await? {
        Handled::Applied => "OK",
        Handled::Ignored => "ignored",
    };
    Ok(Json(json!({ "status": status })))
}

/// `POST /events/batch`: several events from our bus, handled as
/// `POST /events` would handle each, in order, but in one transaction (one
/// disk flush for the batch). An event we cannot read is the answer (422),
/// once the events before it are applied: the bus then finds it by sending
/// the events one by one, and those before it change nothing the second time.
pub async fn receive_events(
    State(state): State<AppState>,
    JsonBody(envelopes): JsonBody<Vec<Envelope>>,
) -> Result<Json<Value>, CommentsError> {
    let mut events = Vec::with_capacity(envelopes.len());
    let mut unreadable = None;
    for envelope in &envelopes {
        match envelope.event() {
            Ok(event) => events.push(event),
            Err(EnvelopeError::UnknownType(_)) => {}
            Err(error) => {
                unreadable = Some(CommentsError::InvalidEvent(error));
                break;
            }
        }
    }
    handle_events(&state.store, events).await?;
    match unreadable {
        Some(error) => Err(error),
        None => Ok(Json(json!({ "status": "OK" }))),
    }
}
