//! The HTTP endpoints of the posts service.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use blog_events::Envelope;
use blog_runtime::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Post, PostStore, PostsById};
use crate::{PostsError, Title};

/// The body of `POST /posts`: `{"title": "..."}`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct NewPost {
    pub title: String,
}

// ANCHOR: list_posts
/// `GET /posts`: every post, keyed by id, oldest first.
pub async fn list_posts(State(store): State<PostStore>) -> Result<Json<PostsById>, PostsError> {
    let posts = store.all().await?;
    Ok(Json(PostsById(posts)))
}
// ANCHOR_END: list_posts

// ANCHOR: create_post
/// `POST /posts` and `POST /posts/create`: check the title, store the post
/// (and its `PostCreated` event, in the same transaction), answer 201.
pub async fn create_post(
    State(store): State<PostStore>,
    JsonBody(new_post): JsonBody<NewPost>,
) -> Result<(StatusCode, Json<Post>), PostsError> {
    // Parse before touching the database: bad input must change nothing.
    let title = Title::parse(&new_post.title)?;
    let post = store.create(title).await?;
    Ok((StatusCode::CREATED, Json(post)))
}
// ANCHOR_END: create_post

// ANCHOR: receive_event
/// `POST /events`: the bus sends every event to every subscriber, posts
/// included. Posts reacts to none of them (it owns posts and nothing else),
/// but it must still say "got it", or the bus would keep trying forever.
pub async fn receive_event(JsonBody(envelope): JsonBody<Envelope>) -> Json<Value> {
    tracing::debug!(kind = %envelope.kind, seq = ?envelope.seq, "event received; posts has nothing to do");
    Json(json!({ "status": "ignored" }))
}
// ANCHOR_END: receive_event

/// `POST /events/batch`: several events at once from our bus, all as
/// uninteresting to posts as one; one request instead of one per event.
pub async fn receive_events(JsonBody(envelopes): JsonBody<Vec<Envelope>>) -> Json<Value> {
    tracing::debug!(
        events = envelopes.len(),
        "events received; posts has nothing to do"
    );
    Json(json!({ "status": "ignored" }))
}
