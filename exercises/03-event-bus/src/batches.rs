//! Delivery in batches: many events, one request.
//!
//! Sent one by one, every event costs each subscriber a whole HTTP request
//! (a comment makes three events, for four subscribers: twelve requests).
//! Our own services also take `POST /events/batch` with a JSON array of the
//! very bodies `POST /events` takes, and apply them in order. So when a
//! delivery task has a page of events waiting, it sends them together, and
//! the more a subscriber has fallen behind, the bigger the batch and the
//! cheaper each event: delivery speeds up exactly when it must catch up.
//!
//! None of the delivery loop's promises change, because a batch only ever
//! *starts* at the event the loop is trying to deliver:
//!
//! - **in order**: the batch holds the page from that event on, in order,
//!   and the subscriber applies it in order;
//! - **at least once**: only a 2xx for the whole batch counts as taken; a
//!   subscriber that applied part of it before failing gets those events
//!   again (it is idempotent);
//! - **dead letters one by one**: a batch refused with a 4xx holds some
//!   event the subscriber will never take, but which? Its events then go
//!   one by one, so the loop's verdicts and parking apply to each, until
//!   the refused one is parked; after it, batches go on;
//! - **foreign subscribers** (the Node services) answer 404 or 405 to
//!   `/events/batch`: from then on they get every event alone, as before.

use crate::delivery::DeliveryError;
use crate::log::{StoredEvent, WireEvent};

// Batches stay well under the subscribers' 64 KiB body limit, and no
// longer than the bus itself takes: a subscriber may publish one event for
// each it was sent (moderation does), in one batch.
use blog_events::publish::json_batch;
#[cfg(test)]
use blog_events::publish::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

/// On every batch: how many events of the log come after it, that is, how
/// far the subscriber is behind once it has taken the batch. A subscriber
/// may use it to slow down its own intake while it catches up (comments
/// does, chapter 3); others ignore it.
pub const BACKLOG_HEADER: &str = "x-bus-backlog";

/// What a delivery task knows about batching to its subscriber.
pub struct Batches {
    batch_url: String,
    /// Whether the subscriber has `POST /events/batch`: assumed until it
    /// answers 404 or 405.
    accepted: bool,
    /// The page the delivery loop is working through.
    page: Vec<StoredEvent>,
    /// The subscriber has taken every event of `page` up to this seq.
    taken_through: u64,
    /// A batch with events up to this seq was refused for good: they go
    /// one by one, so that only the event really refused is parked.
    alone_through: u64,
}

impl Batches {
    pub fn new(subscriber_url: &str) -> Batches {
        Batches {
            batch_url: format!("{subscriber_url}/events/batch"),
            accepted: true,
            page: Vec::new(),
            taken_through: 0,
            alone_through: 0,
        }
    }

    /// The loop moves on to a new page (or to the parked events): what was
    /// taken from the last one no longer says anything.
    pub fn forget_page(&mut self) {
        self.page.clear();
        self.taken_through = 0;
        self.alone_through = 0;
    }

    /// The page the loop is about to deliver.
    pub fn remember_page(&mut self, page: &[StoredEvent]) {
        self.page = page.to_vec();
    }

    /// An event was parked: if a refused batch held it, that was the event
    /// it was refused for (a subscriber applies a batch in order and stops
    /// at the first it cannot take), so the events after it may go in
    /// batches again. If it was not the only one, the next batch finds out.
    pub fn found_refused(&mut self) {
        self.alone_through = 0;
    }

    /// Whether the subscriber already took this event of the page in a batch.
    pub fn taken(&self, seq: u64) -> bool {
        seq <= self.taken_through && self.page.first().is_some_and(|first| first.seq <= seq)
    }

    /// Tries to deliver the page from `seq` on in one request. `None` when
    /// the event must go alone: nothing after it on the page, a subscriber
    /// without batches, or a batch with it was refused for good. `head` is
    /// the newest seq in the log: the batch tells the subscriber how many
    /// events still wait for it after this one ([`BACKLOG_HEADER`]).
    pub async fn deliver_from(
        &mut self,
        client: &reqwest::Client,
        seq: u64,
        log_id: &str,
        head: u64,
    ) -> Option<Result<(), DeliveryError>> {
        if !self.accepted || seq <= self.alone_through {
            return None;
        }
        let start = self.page.iter().position(|event| event.seq == seq)?;
        let (body, last) = encode(&self.page[start..], log_id);
        if last == seq {
            return None;
        }
        let outcome = post(client, &self.batch_url, body, head.saturating_sub(last)).await;
        match &outcome {
            Ok(()) => self.taken_through = last,
            Err(DeliveryError::Refused {
                status: 404 | 405, ..
            }) => {
                tracing::info!(url = %self.batch_url, "no batches here; delivering one by one");
                self.accepted = false;
                return None;
            }
            Err(error) if error.verdict() == crate::delivery::Verdict::Never => {
                self.alone_through = last;
                return None;
            }
            // Down, overloaded or failing for now: the loop tries again later.
            Err(_) => {}
        }
        Some(outcome)
    }
}

/// The JSON array of as many of `events` as fit in one batch (at least
/// one, see [`json_batch`]), and the seq of the last one in it.
fn encode(events: &[StoredEvent], log_id: &str) -> (Vec<u8>, u64) {
    let (body, taken) = json_batch(events.iter().map(|event| WireEvent { event, log_id }));
    (
        body,
        taken.checked_sub(1).map_or(0, |last| events[last].seq),
    )
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    backlog: u64,
) -> Result<(), DeliveryError> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(BACKLOG_HEADER, backlog)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(DeliveryError::Refused {
        status: status.as_u16(),
        reason: response.text().await.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, text: &str) -> StoredEvent {
        StoredEvent {
            kind: "PostCreated".into(),
            data: serde_json::json!({ "id": seq.to_string(), "title": text }),
            seq,
        }
    }

    #[test]
    fn a_batch_is_a_json_array_of_what_post_events_takes_cut_to_the_size_limit() {
        let (body, last) = encode(&[event(3, "a"), event(4, "b")], "log-1");
        let batch: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(last, 4);
        assert_eq!(batch[1]["seq"], 4);
        assert_eq!(batch[1]["logId"], "log-1");
        assert_eq!(batch[0]["data"]["title"], "a");

        let big: Vec<StoredEvent> = (1..=100).map(|n| event(n, &"x".repeat(1000))).collect();
        let (body, last) = encode(&big, "log-1");
        assert!(body.len() <= MAX_BATCH_BYTES, "{} bytes", body.len());
        assert!(last > 10 && last < 100, "{last}");
        // One event is always sent, however big.
        let (_, last) = encode(&[event(7, &"x".repeat(100_000))], "log-1");
        assert_eq!(last, 7);
        // Small events: no more than the bus itself would take in one batch.
        let small: Vec<StoredEvent> = (1..=500).map(|n| event(n, "x")).collect();
        let (body, last) = encode(&small, "log-1");
        let batch: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (batch.len(), last),
            (MAX_BATCH_EVENTS, MAX_BATCH_EVENTS as u64)
        );
    }

    #[tokio::test]
    async fn a_batch_tells_the_subscriber_how_many_events_wait_after_it() {
        use axum::http::HeaderMap;
        let (seen, mut told) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
        let app = axum::Router::new().route(
            "/events/batch",
            axum::routing::post(move |headers: HeaderMap| {
                let backlog = headers
                    .get(BACKLOG_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                let _ = seen.send(backlog);
                async { "{\"status\":\"OK\"}" }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut batches = Batches::new(&url);
        batches.remember_page(&[event(5, "a"), event(6, "b"), event(7, "c")]);
        let outcome = batches
            .deliver_from(&reqwest::Client::new(), 5, "log-1", 10)
            .await;
        assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
        // The batch held 5 to 7; the log goes up to 10.
        assert_eq!(told.recv().await.unwrap().as_deref(), Some("3"));
        server.abort();
    }

    #[test]
    fn only_events_of_the_current_page_count_as_taken() {
        let mut batches = Batches::new("http://x");
        batches.remember_page(&[event(5, "a"), event(6, "b")]);
        batches.taken_through = 6;
        assert!(batches.taken(6) && batches.taken(5));
        // A parked event, older than the page, was not in the batch.
        assert!(!batches.taken(2));
        batches.forget_page();
        assert!(!batches.taken(6));
    }
}
