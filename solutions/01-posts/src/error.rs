//! Every way a request to the posts service can fail, and how each is answered.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blog_runtime::error_response;

use crate::title::TitleError;

#[derive(Debug, thiserror::Error)]
pub enum PostsError {
    /// The caller sent a title we do not accept: they can fix it and retry.
    #[error(transparent)]
    InvalidTitle(#[from] TitleError),
    /// Our database failed: nothing the caller can fix. When the outbox is
    /// full ([`blog_events::outbox::is_full`]), only waiting helps.
    #[error("storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
}

// ANCHOR: into_response
impl IntoResponse for PostsError {
    fn into_response(self) -> Response {
        match &self {
            // The title's own message says what to fix.
            PostsError::InvalidTitle(_) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            // Not an error of ours or theirs: the bus is behind. Say so, and
            // when to come back, rather than accept a post nobody hears of.
            PostsError::Storage(error) if blog_events::outbox::is_full(error) => {
                blog_runtime::retry_later(StatusCode::SERVICE_UNAVAILABLE, self.to_string())
            }
            // The cause is for whoever runs the service, not for the caller:
            // it may name files and tables, and the caller can do nothing with it.
            PostsError::Storage(error) => {
                tracing::error!(%error, "storage failed");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage failed; nothing was saved",
                )
            }
        }
    }
}
// ANCHOR_END: into_response
