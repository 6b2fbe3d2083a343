//! The HTTP endpoints of the comments service.

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
    // Cheap checks first, and all before touching the database: a comment we
    // would refuse anyway costs posts nothing, and is refused with the right
    // 422 even while posts is down.
    let content = CommentContent::parse(&new_comment.content)?;
    if !state.lookup.post_exists(&post_id).await? {
        return Err(CommentsError::UnknownPost(post_id.as_str().to_string()));
    }
    let comments = state.store.create(&post_id, content).await?;
    Ok((StatusCode::CREATED, comments))
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
