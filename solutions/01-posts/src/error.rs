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
    /// Our database failed: nothing the caller can fix.
    #[error("storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
}

impl IntoResponse for PostsError {
    fn into_response(self) -> Response {
        match &self {
            PostsError::InvalidTitle(_) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            PostsError::Storage(error) if blog_events::outbox::is_full(error) => {
                blog_runtime::retry_later(StatusCode::SERVICE_UNAVAILABLE, self.to_string())
            }
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
