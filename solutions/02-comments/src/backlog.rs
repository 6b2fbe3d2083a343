//! Saying "not now" while comments catches up with the bus.
//!
//! Comments is two things at once: the door where new comments come in, and
//! a subscriber that must hear moderation's decisions to finish them. Both
//! share its CPU. Under a load heavy enough (hundreds of writers at once),
//! the door wins: every writer is a request of its own, while all the
//! decisions arrive on one connection, one batch after the other. The
//! decisions then fall behind, and every comment waits longer and longer
//! for its final status, for as long as the load lasts.
//!
//! The bus says, on every batch it delivers, how many events still wait
//! after it (`x-bus-backlog`). While that number is above [`MAX_BACKLOG`],
//! a new comment is answered 503 with `Retry-After`: not stored, nothing
//! lost, and the writer told when to come back. Comments spends the time
//! catching up, and the door opens again as soon as a batch says it has.
//! The bus down, or a bus without the header (the Node one), says nothing,
//! and a report older than [`FRESH_FOR`] counts for nothing: pushing back
//! is only ever for a backlog we know is there now.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use blog_runtime::{MAX_BODY_BYTES, retry_later};

/// The most events comments may be behind on and still take new comments:
/// a handful of batches, well under a second of work.
pub const MAX_BACKLOG: u64 = 2_000;

/// How long a backlog the bus reported counts.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// The header the bus sets on every batch.
pub use event_bus::batches::BACKLOG_HEADER;

/// The last backlog the bus reported, and when (none yet: `None`). Cheap
/// to clone.
#[derive(Clone, Default)]
pub struct Backlog(Arc<Mutex<Option<(u64, Instant)>>>);

impl Backlog {
    /// The bus says `events` wait after the batch comments has just applied.
    pub fn report(&self, events: u64) {
        *blog_runtime::locks::lock(&self.0) = Some((events, Instant::now()));
    }

    /// Whether comments is too far behind, by a fresh report, to take more.
    pub fn too_far_behind(&self) -> bool {
        matches!(*blog_runtime::locks::lock(&self.0),
            Some((events, at)) if events > MAX_BACKLOG && at.elapsed() <= FRESH_FOR)
    }
}

/// Around `POST /events/batch`: once a batch is applied, remember what the
/// bus said about the events after it.
pub async fn note_backlog(
    State(backlog): State<Backlog>,
    request: Request,
    next: Next,
) -> Response {
    let reported = request
        .headers()
        .get(BACKLOG_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let response = next.run(request).await;
    if let Some(events) = reported.filter(|_| response.status().is_success()) {
        backlog.report(events);
    }
    response
}

/// Around `POST /posts/{id}/comments`: 503 with `Retry-After` while
/// comments is too far behind on the bus's events.
pub async fn refuse_while_behind(
    State(backlog): State<Backlog>,
    request: Request,
    next: Next,
) -> Response {
    if backlog.too_far_behind() {
        // Read the comment first, and drop it. An answer sent while the
        // request's body is still arriving makes the server close the
        // connection afterwards, without saying so: the writer's next
        // request on it (keep-alive) would fail instead of being answered.
        let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await;
        let mut refused = retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "comments is catching up with the event bus; try again in a moment",
        );
        if read.is_err() {
            // Too big or cut off: this connection is done, and we say so.
            refused
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return refused;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_report_of_a_long_backlog_pushes_back() {
        let backlog = Backlog::default();
        assert!(!backlog.too_far_behind(), "no report: nothing is known");
        backlog.report(MAX_BACKLOG);
        assert!(!backlog.too_far_behind(), "at the limit is still fine");
        backlog.report(MAX_BACKLOG + 1);
        assert!(backlog.too_far_behind());
        backlog.report(0);
        assert!(!backlog.too_far_behind(), "caught up");
    }

    #[test]
    fn a_stale_report_counts_for_nothing() {
        // A report made three seconds ago.
        let old = Backlog(Arc::new(Mutex::new(Some((
            1_000_000,
            Instant::now() - FRESH_FOR - Duration::from_secs(1),
        )))));
        assert!(!old.too_far_behind());
        old.report(1_000_000);
        assert!(old.too_far_behind(), "the same backlog, reported now");
    }
}
