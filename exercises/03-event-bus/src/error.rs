//! Every way a request to the bus can fail, and how each is answered.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use blog_runtime::error_response;

use crate::event_type::EventTypeError;
use crate::writer::AppendError;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The event's `type` is blank or too long: the sender can fix it.
    #[error(transparent)]
    InvalidType(#[from] EventTypeError),
    /// A batch is empty, too big, or holds an event we refuse.
    #[error("{0}")]
    BadBatch(String),
    /// `after` or `limit` in the query is not a number we accept.
    #[error("{0}")]
    BadQuery(String),
    /// The bus is stopping and did not store the event: send it again later.
    #[error("the bus is shutting down; the event was not stored")]
    Stopping,
    /// Our database failed: nothing the caller can fix.
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<AppendError> for BusError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::Stopped => BusError::Stopping,
            AppendError::Storage(message) => BusError::Storage(message),
        }
    }
}

impl From<rusqlite::Error> for BusError {
    fn from(error: rusqlite::Error) -> Self {
        BusError::Storage(error.to_string())
    }
}

impl IntoResponse for BusError {
    fn into_response(self) -> Response {
        match &self {
            BusError::InvalidType(_) | BusError::BadBatch(_) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            BusError::BadQuery(_) => error_response(StatusCode::BAD_REQUEST, self.to_string()),
            BusError::Stopping => error_response(StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            BusError::Storage(error) => {
                tracing::error!(%error, "storage failed");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the event log failed; nothing was stored",
                )
            }
        }
    }
}
