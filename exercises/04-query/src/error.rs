//! Every way a request to the query service can fail, and how each is answered.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blog_events::event::EnvelopeError;
use blog_runtime::error_response;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The history is still being replayed: the sender should try again soon
    /// (our bus does so by itself).
    #[error("the read model is still being rebuilt from the event log; try again shortly")]
    Rebuilding,
    /// An event of a type we know, whose data does not fit that type.
    #[error(transparent)]
    InvalidEvent(#[from] EnvelopeError),
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        match &self {
            QueryError::Rebuilding => {
                let mut response =
                    error_response(StatusCode::SERVICE_UNAVAILABLE, self.to_string());
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            QueryError::InvalidEvent(_) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
        }
    }
}
