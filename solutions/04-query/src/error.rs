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
    /// A delivery did not fit, and the bus's log, which would tell whether it
    /// is real, cannot be read right now.
    #[error("cannot check this event against the bus's log ({0}); try again shortly")]
    LogUnreachable(String),
    /// The delivery's number is further ahead than anything the bus's log holds.
    #[error(
        "seq {seq} is not in the bus's log, which ends at {last}: not applied (a number in a request is checked against the log, not believed)"
    )]
    NotInLog { seq: u64, last: u64 },
    /// The delivery names a log that is not the bus's.
    #[error("this event names the log {theirs:?}, but the bus's log is {ours:?}: not applied")]
    NotThisLog {
        theirs: String,
        ours: Option<String>,
    },
    /// A path parameter that cannot be read, such as an id that is not UTF-8.
    #[error("{0}")]
    BadPath(String),
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = match &self {
            QueryError::Rebuilding | QueryError::LogUnreachable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            QueryError::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // 409, a "never": a bus that parks what it can never deliver
            // parks these, and delivery goes on.
            QueryError::NotInLog { .. } | QueryError::NotThisLog { .. } => StatusCode::CONFLICT,
            QueryError::BadPath(_) => StatusCode::BAD_REQUEST,
        };
        let mut response = error_response(status, self.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
