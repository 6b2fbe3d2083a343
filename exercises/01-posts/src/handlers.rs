//! The HTTP endpoints of the posts service (TODO 2).
//!
//! A handler is a plain async function: axum gives it what its arguments ask
//! for (the store, the parsed JSON body) and turns what it returns into a
//! response. `Result<_, PostsError>` lets you use `?`: every error already
//! knows its status code and JSON body (see src/error.rs).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use blog_events::Envelope;
use blog_runtime::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Post, PostStore, PostsById};
#[allow(unused_imports)] // you will need `Title` for TODO 2b
use crate::{PostsError, Title};

/// The body of `POST /posts`: `{"title": "..."}`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct NewPost {
    pub title: String,
}

// ANCHOR: list_posts
/// `GET /posts`: every post, keyed by id, oldest first.
pub async fn list_posts(State(store): State<PostStore>) -> Result<Json<PostsById>, PostsError> {
    // TODO 2a: read every post from the store (`store.all().await`) and
    // answer them as `PostsById`.
    let _ = store;
    todo!("TODO 2a in src/handlers.rs: list_posts must answer every stored post")
}
// ANCHOR_END: list_posts

// ANCHOR: create_post
/// `POST /posts` and `POST /posts/create`: check the title, store the post
/// (and its `PostCreated` event, in the same transaction), answer 201.
pub async fn create_post(
    State(store): State<PostStore>,
    JsonBody(new_post): JsonBody<NewPost>,
) -> Result<(StatusCode, Json<Post>), PostsError> {
    // TODO 2b: parse the title with `Title::parse` (the `?` operator turns a
    // `TitleError` into a `PostsError`), store it with `store.create(title).await`,
    // and answer `StatusCode::CREATED` with the post as JSON.
    let _ = (store, new_post);
    todo!("TODO 2b in src/handlers.rs: create_post must store the post and answer 201")
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
