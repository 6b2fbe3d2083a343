//! Every way a request to the bus can fail, and how each is answered.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blog_runtime::error_response;

use crate::event_type::EventTypeError;
use crate::writer::AppendError;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The event's `type` is blank or too long: the sender can fix it.
    #[error(transparent)]
    InvalidType(#[from] EventTypeError),
    /// An event of a type the contract knows, whose data does not match it.
    #[error(transparent)]
    InvalidData(#[from] blog_events::event::EnvelopeError),
    /// A batch is empty, too big, or holds an event we refuse.
    #[error("{0}")]
    BadBatch(String),
    /// `after` or `limit` in the query is not a number we accept.
    #[error("{0}")]
    BadQuery(String),
    /// No subscriber has this name.
    #[error("there is no subscriber called {0:?}; `GET /subscribers` lists them")]
    UnknownSubscriber(String),
    /// The writer's queue is full: send it again in a moment.
    #[error("the bus is busy; the event was not stored, send it again in a moment")]
    Busy,
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
            AppendError::Full => BusError::Busy,
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
            BusError::InvalidType(_) | BusError::InvalidData(_) | BusError::BadBatch(_) => {
                error_response(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            BusError::BadQuery(_) => error_response(StatusCode::BAD_REQUEST, self.to_string()),
            BusError::UnknownSubscriber(_) => {
                error_response(StatusCode::NOT_FOUND, self.to_string())
            }
            BusError::Busy => {
                let mut response =
                    error_response(StatusCode::SERVICE_UNAVAILABLE, self.to_string());
                // Outbox relays back off by themselves; this tells others how long.
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
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
