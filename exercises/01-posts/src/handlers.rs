//! The HTTP endpoints of the posts service (TODO 4).
//!
//! A handler is a plain async function: axum gives it what its arguments ask
//! for (the store, the parsed JSON body) and turns what it returns into a
//! response. `Result<_, PostsError>` lets you use `?`: every error knows
//! its status code and JSON body once src/error.rs says it (TODO 5).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use blog_events::Envelope;
use blog_runtime::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Post, PostStore, PostsById};
#[allow(unused_imports)] // you will need `Title` for TODO 4b
use crate::{PostsError, Title};

/// The body of `POST /posts`: `{"title": "..."}`. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct NewPost {
    pub title: String,
}

// ANCHOR: list_posts
/// `GET /posts`: every post, keyed by id, oldest first.
pub async fn list_posts(State(store): State<PostStore>) -> Result<Json<PostsById>, PostsError> {
    // TODO 4a: the answer is every stored post, under its id, oldest first
    // (`listing_shows_every_post_keyed_by_id_oldest_first`).
    let _ = store;
    todo!("TODO 4a in src/handlers.rs: list_posts must answer every stored post")
}
// ANCHOR_END: list_posts

// ANCHOR: create_post
/// `POST /posts` and `POST /posts/create`: check the title, store the post
/// (and its `PostCreated` event, in the same transaction), answer 201.
pub async fn create_post(
    State(store): State<PostStore>,
    JsonBody(new_post): JsonBody<NewPost>,
) -> Result<(StatusCode, Json<Post>), PostsError> {
    // TODO 4b: a valid title is stored and answered 201 with the new post
    // (`creating_a_post_answers_201_with_its_id_and_title`); a title that is
    // not valid is refused before anything is stored
    // (`bad_input_gets_a_json_error_and_stores_nothing`).
    let _ = (store, new_post);
    todo!("TODO 4b in src/handlers.rs: create_post must store the post and answer 201")
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
