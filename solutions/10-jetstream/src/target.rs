//! Where a consumer hands each event: the service's own `POST /events`.
//!
//! On the HTTP bus, the bus calls `POST /events` on each service. On NATS
//! nobody pushes: each service pulls its events from the stream. We hand
//! each one to the very handler the HTTP bus calls, in-process, through the
//! service's own router, so no handler changes and what it answers means
//! the same on both buses: 2xx applied, 5xx try again, 4xx never.

use std::future::Future;
use std::pin::Pin;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use tower::ServiceExt;

/// What the service said about one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Applied (2xx): acknowledge it, it is done.
    Applied,
    /// Not now (5xx, 408, 429, no answer): it may work later.
    TryAgain(String),
    /// Never (any other 4xx): the event itself is wrong for this service.
    Never(String),
}

// ANCHOR: verdict
impl Verdict {
    /// The verdict an HTTP status means, as the HTTP bus reads it.
    pub fn from_status(status: StatusCode, body: &str) -> Verdict {
        if status.is_success() {
            Verdict::Applied
        } else if status.is_client_error()
            && status != StatusCode::REQUEST_TIMEOUT
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            Verdict::Never(format!("{status}: {body}"))
        } else {
            Verdict::TryAgain(format!("{status}: {body}"))
        }
    }
}
// ANCHOR_END: verdict

/// A boxed future, so targets can be chosen at run time.
pub type VerdictFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Something that takes one event (its JSON, `{"type","data"}`).
pub trait EventTarget: Send + Sync + 'static {
    fn deliver<'a>(&'a self, event: Bytes) -> VerdictFuture<'a>;
}

// ANCHOR: router_target
/// A service's router: each event goes to its `POST /events` handler.
#[derive(Clone)]
pub struct RouterTarget(pub Router);

impl EventTarget for RouterTarget {
    fn deliver<'a>(&'a self, event: Bytes) -> VerdictFuture<'a> {
        Box::pin(async move {
            let request = Request::post("/events")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(event))
                .expect("a request with a fixed path and header always builds");
            // A router never fails (its error type is `Infallible`).
            let Ok(response) = self.0.clone().oneshot(request).await;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            Verdict::from_status(status, &String::from_utf8_lossy(&body))
        })
    }
}
// ANCHOR_END: router_target
