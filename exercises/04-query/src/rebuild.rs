//! Reading the bus's log: to rebuild the read model at start, to rebuild it
//! again when the bus's log was replaced, and to check a delivery that does
//! not fit (TODO 3 and TODO 4).
//!
//! The read model lives only in memory, so a fresh process knows nothing.
//! The bus keeps every event it ever acknowledged, numbered, and lets us page
//! through them with `GET /events?after=N&limit=L`. Replaying them through the
//! very same [`apply_delivery`] as live events gives back the same model: that
//! is why the query service needs no database of its own.
//!
//! The log is also the one source of sequence numbers the service trusts,
//! because it asks for it itself. A number in a `POST /events` is only a
//! claim: when a delivery skips ahead, or names another log, the handler
//! calls [`catch_up`] and judges the delivery against what the log holds.

use std::sync::Arc;
use std::time::Duration;

use blog_events::Envelope;
use blog_events::event::EnvelopeError;
#[allow(unused_imports)] // you will need `Backoff` for TODO 4a
use blog_runtime::Backoff;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::projection::apply_delivery;
use crate::{QueryState, ReadModel};

/// How many events we ask the bus for at once.
pub const PAGE_SIZE: usize = 500;
/// The header in which the bus names its log, on every `GET /events`. A log
/// that was reset (a new, empty file) gets a new name, so its numbers can be
/// told from the old log's, which start at 1 too.
pub const LOG_ID_HEADER: &str = "x-event-log-id";

#[allow(dead_code)] // for TODO 4a
const FIRST_RETRY: Duration = Duration::from_millis(100);
#[allow(dead_code)] // for TODO 4a
const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// A bus that takes longer than this to answer one page is treated as down.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs for the life of the service: rebuilds the read model from the bus's
/// log (at once if `replay_first`), then again at every
/// [`QueryState::request_rebuild`], until `stopping` turns true. While the
/// bus cannot be reached a rebuild keeps trying; the service answers
/// `/healthz` all along, and `/readyz` only once a rebuild is done.
pub fn spawn_rebuild(
    state: QueryState,
    replay_first: bool,
    mut stopping: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rebuild_now = replay_first;
        loop {
            if rebuild_now {
                tokio::select! {
                    () = rebuild(&state) => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
            }
            tokio::select! {
                () = state.rebuild_requested() => {
                    tracing::warn!("the bus's log was replaced; rebuilding the read model from the new one");
                    rebuild_now = true;
                }
                _ = stopping.wait_for(|stop| *stop) => return,
            }
        }
    })
}

// ANCHOR: rebuild
/// The readiness gate: the service says it is not ready, throws its model
/// away, replays the whole log into a new one, and only then says it is
/// ready. Ready means "my answers include everything the bus had when I
/// started": a half-built model must never take traffic.
async fn rebuild(state: &QueryState) {
    // TODO 4b: the readiness gate. Say "not ready" (`state.readiness()`),
    // start from an empty model, `replay` the log into it, and say "ready"
    // only once the replay is complete. Checked by tests/query_spec.rs,
    // `at_start_the_log_is_replayed_` and `a_log_of_more_than_two_pages_`.
    let _ = state;
    todo!(
        "TODO 4b in src/rebuild.rs: rebuild must replay the whole log into an empty model before the service says it is ready"
    )
}
// ANCHOR_END: rebuild

// ANCHOR: replay
/// Reads the whole log into the model, until the bus has nothing more.
/// Returns how many events were read. Never gives up: while the bus cannot
/// be reached it tries again, each pause longer than the last. A log that
/// is replaced half-way is started again from nothing.
#[allow(dead_code)] // until TODO 4b calls it
async fn replay(state: &QueryState) -> usize {
    // TODO 4a: read the whole log (`read_log`, from the model's mark, until
    // it has nothing more) and answer how many events were read. A bus that
    // cannot be reached is no reason to give up: pause and try again, each
    // pause longer (a `Backoff` from FIRST_RETRY to LONGEST_RETRY). A log
    // replaced half-way (`LogRead::Replaced`) means starting again from an
    // empty model. Checked by `when_the_bus_is_down_at_start_` and
    // `a_replaced_log_`.
    let _ = state;
    todo!(
        "TODO 4a in src/rebuild.rs: replay must read the bus's whole log into the model, trying again while the bus cannot be reached"
    )
}
// ANCHOR_END: replay

/// How reading the log ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRead {
    /// Everything the log holds after the model's mark (or up to the number
    /// asked for) is in the model.
    CaughtUp,
    /// The bus now serves a log with another name than the one the model was
    /// built from: the model must be rebuilt from scratch.
    Replaced,
}

/// Reads the log after the model's mark into the model, at least up to
/// `seq` when given, so that a delivery that did not fit can be judged
/// against what the bus really holds. One attempt: an unreachable bus is an
/// error for the caller to answer.
pub async fn catch_up(state: &QueryState, seq: Option<u64>) -> Result<LogRead, String> {
    read_log(state, seq, &mut 0).await
}

/// [`read_pages`], one reader at a time: a flood of forged deliveries makes
/// at most one request to the bus at once, and two readers never fetch the
/// same page.
async fn read_log(
    state: &QueryState,
    until: Option<u64>,
    read: &mut usize,
) -> Result<LogRead, String> {
    let _reading = state.log().reading.lock().await;
    read_pages(state, until, read).await
}

// ANCHOR: read_pages
/// Applies page after page of the log, from the model's mark, until the
/// log has nothing more (the mark no longer moves) or the mark reaches
/// `until`; stops at once if the page comes from another log than the
/// model's. Counts the events read in `read`.
async fn read_pages(
    state: &QueryState,
    until: Option<u64>,
    read: &mut usize,
) -> Result<LogRead, String> {
    // TODO 3: page after page: ask the bus for the page after the model's
    // mark (`state.log().page`), apply it to the model (`Page::apply_to`,
    // under the write lock: `state.update`) and count its events in `read`.
    // A page from another log is `LogRead::Replaced`. Stop with `CaughtUp`
    // once a page leaves the mark where it was (the log has nothing more),
    // or the mark has reached `until`. Checked by tests/query_spec.rs,
    // `a_gap_is_filled_from_the_log_page_by_page`.
    let _ = (state, until, read);
    todo!(
        "TODO 3 in src/rebuild.rs: read_pages must apply the bus's log page after page until it has nothing more"
    )
}
// ANCHOR_END: read_pages

/// Applies one page of the log, in order, moving the model's mark over every
/// entry, including those we could not use, so they are not asked for again.
fn apply_page(model: &mut ReadModel, page: &[Value]) {
    for item in page {
        let seq = item.get("seq").and_then(Value::as_u64);
        if let Some(seq) = seq {
            // These numbers come from the log itself, not from a request: a
            // hole in them is real (nothing was stored there), so step over it.
            model.skip_missing_before(seq);
        }
        // One unreadable entry must not stop the replay of everything after it.
        let applied = match serde_json::from_value::<Envelope>(item.clone()) {
            Ok(envelope) => match envelope.event() {
                Ok(event) => {
                    apply_delivery(model, envelope.seq, &event);
                    true
                }
                Err(EnvelopeError::UnknownType(_)) => false,
                Err(error) => {
                    tracing::warn!(%error, seq = ?envelope.seq, "skipping an invalid event in the log");
                    false
                }
            },
            Err(error) => {
                tracing::warn!(%error, %item, "skipping an unreadable entry of the event log");
                false
            }
        };
        if !applied && let Some(seq) = seq {
            model.record_seq(seq);
        }
    }
}

// ANCHOR: page
/// One page of the log, and the bus's name for the log it came from.
pub struct Page {
    /// The events, oldest first, as the bus sent them.
    pub events: Vec<Value>,
    pub log_id: Option<String>,
}

impl Page {
    /// Applies the page to `model`, in order, and answers the model's mark
    /// after it (its last seq, 0 for none), or `None`, changing nothing, if
    /// the page comes from another log than the one the model was built
    /// from. A model that knows no log yet takes this page's.
    pub fn apply_to(&self, model: &mut ReadModel) -> Option<u64> {
        if let (Some(ours), Some(theirs)) = (model.log_id(), self.log_id.as_deref())
            && ours != theirs
        {
            return None;
        }
        if let Some(theirs) = self.log_id.as_deref()
            && model.log_id().is_none()
        {
            model.set_log_id(theirs);
        }
        apply_page(model, &self.events);
        Some(model.last_seq().unwrap_or(0))
    }
}
// ANCHOR_END: page

/// The bus's log, read over HTTP.
pub struct BusLog {
    client: reqwest::Client,
    events_url: String,
    /// Held while the log is being read into the model.
    reading: tokio::sync::Mutex<()>,
}

impl BusLog {
    /// The log of the bus at `base`, e.g. `http://localhost:4005`.
    pub fn new(base: &str) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client with a timeout always builds");
        Arc::new(BusLog {
            client,
            events_url: format!("{}/events", base.trim_end_matches('/')),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// The events numbered after `after`, oldest first, at most
    /// [`PAGE_SIZE`]: `GET /events?after=N&limit=PAGE_SIZE`.
    pub async fn page(&self, after: u64) -> Result<Page, String> {
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
        let header = response
            .headers()
            .get(LOG_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let events: Vec<Value> = response
            .json()
            .await
            .map_err(|error| format!("GET {url} did not answer a JSON list of events: {error}"))?;
        // Every listed event names its log too; the header also covers an
        // empty page.
        let log_id = header.or_else(|| {
            events
                .first()
                .and_then(|event| event.get("logId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        Ok(Page { events, log_id })
    }
}
