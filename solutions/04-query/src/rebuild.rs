//! Rebuilding the read model from the bus's log when the service starts.
//!
//! The read model lives only in memory, so a fresh process knows nothing.
//! The bus keeps every event it ever acknowledged, numbered, and lets us page
//! through them with `GET /events?after=N&limit=L`. Replaying them through the
//! very same [`apply_delivery`] as live events gives back the same model: that
//! is why the query service needs no database of its own.

use std::time::Duration;

use blog_events::Envelope;
use blog_events::event::EnvelopeError;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::QueryState;
use crate::projection::apply_delivery;

/// How many events we ask the bus for at once.
pub const PAGE_SIZE: usize = 500;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// A bus that takes longer than this to answer one page is treated as down.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts replaying the bus's log into `state` in the background, then marks
/// the service ready. While the bus cannot be reached it keeps trying, with a
/// growing pause, until `stopping` turns true; the service answers `/healthz`
/// all along, and `/readyz` only once the replay is done.
pub fn spawn_rebuild(
    state: QueryState,
    event_bus_url: &str,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let log = BusLog::new(event_bus_url);
    tokio::spawn(async move {
        tokio::select! {
            replayed = replay(&log, &state) => {
                tracing::info!(events = replayed, last_seq = ?state.read(|model| model.last_seq()), "read model rebuilt; ready");
                state.readiness().set(true);
            }
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    })
}

// ANCHOR: replay
/// Pages through the log until the bus answers an empty page. Returns how many
/// events were read. Never gives up: the caller decides when to stop waiting.
async fn replay(log: &BusLog, state: &QueryState) -> usize {
    let mut after = 0;
    let mut replayed = 0;
    let mut retry = FIRST_RETRY;
    loop {
        let page = match log.page(after).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?retry, "cannot read the event log yet; will retry");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LONGEST_RETRY);
                continue;
            }
        };
        retry = FIRST_RETRY;
        if page.is_empty() {
            return replayed;
        }
        replayed += page.len();
        let next = state.update(|model| apply_page(model, &page, after));
        if next <= after {
            // A bus that does not number its events (the Node.js one, say)
            // ignores `after` and sends its whole log every time. We have just
            // applied all of it; asking again would loop forever.
            tracing::warn!("the event log is not numbered; taking this page as the whole history");
            return replayed;
        }
        after = next;
    }
}
// ANCHOR_END: replay

/// Applies one page of the log and returns the cursor for the next request:
/// the highest sequence number seen (including events we could not use, so
/// they are not asked for again).
fn apply_page(model: &mut crate::ReadModel, page: &[Value], after: u64) -> u64 {
    let mut next = after;
    for item in page {
        if let Some(seq) = item.get("seq").and_then(Value::as_u64) {
            next = next.max(seq);
        }
        // One unreadable entry must not stop the replay of everything after it.
        let envelope: Envelope = match serde_json::from_value(item.clone()) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(%error, %item, "skipping an unreadable entry of the event log");
                continue;
            }
        };
        match envelope.event() {
            Ok(event) => {
                apply_delivery(model, envelope.seq, &event);
            }
            Err(EnvelopeError::UnknownType(_)) => {}
            Err(error) => {
                tracing::warn!(%error, seq = ?envelope.seq, "skipping an invalid event in the log")
            }
        }
    }
    next
}

/// The bus's log, read over HTTP.
struct BusLog {
    client: reqwest::Client,
    events_url: String,
}

impl BusLog {
    fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client with a timeout always builds");
        BusLog {
            client,
            events_url: format!("{}/events", base.trim_end_matches('/')),
        }
    }

    /// The events numbered after `after`, oldest first, at most [`PAGE_SIZE`].
    async fn page(&self, after: u64) -> Result<Vec<Value>, String> {
        let url = format!("{}?after={after}&limit={PAGE_SIZE}", self.events_url);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|error| format!("GET {url} failed: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        response
            .json()
            .await
            .map_err(|error| format!("GET {url} did not answer a JSON list of events: {error}"))
    }
}
