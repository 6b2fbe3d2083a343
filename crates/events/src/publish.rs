//! How a service hands an event to the rest of the system.
//!
//! Handlers never talk to the bus directly. They go through [`Publisher`], so
//! the home-made HTTP bus can be swapped for a real broker by configuration
//! without touching a single handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Event;

/// A boxed future, so publishers can be chosen at run time (`Arc<dyn Publisher>`).
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Sends one event to the rest of the system. `Ok` means the receiver has
/// taken responsibility for the event (our bus: it is on disk).
pub trait Publisher: Send + Sync + 'static {
    fn publish<'a>(&'a self, event: &'a Event) -> PublishFuture<'a>;

    /// Sends several events, in order. `Ok` means all were taken. The default
    /// sends them one by one; a publisher that can do better overrides it.
    fn publish_all<'a>(&'a self, events: &'a [Event]) -> PublishFuture<'a> {
        Box::pin(async move {
            for event in events {
                self.publish(event).await?;
            }
            Ok(())
        })
    }

    /// Sends the events the outbox relay read, in order, with the number of
    /// the outbox row each came from (`ids[i]` belongs to `events[i]`). A row
    /// keeps its number until it is deleted, so a relay that sends it again
    /// (it crashed before the delete) sends the same number: a broker that
    /// drops duplicates by id (JetStream) stores the event once. The default
    /// has no use for the numbers and calls [`Publisher::publish_all`].
    fn publish_outbox<'a>(&'a self, ids: &'a [i64], events: &'a [Event]) -> PublishFuture<'a> {
        let _ = ids;
        self.publish_all(events)
    }
}

/// The most events one `POST /events/batch` carries, to the bus or from it.
pub const MAX_BATCH_EVENTS: usize = 256;
/// The most bytes of events one batch carries: well under the services'
/// 64 KiB body limit.
pub const MAX_BATCH_BYTES: usize = 48 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the event bus could not be reached: {0}")]
    Unreachable(String),
    #[error("the event bus refused the event with status {status}: {body}")]
    Refused { status: u16, body: String },
}

/// Publishes to the blog's event bus with `POST {base}/events`.
#[derive(Clone)]
pub struct HttpBus {
    client: reqwest::Client,
    events_url: String,
    /// Whether the bus has `POST /events/batch` (ours does; the Node one
    /// does not). Assumed until a 404 or 405 says otherwise.
    batches: Arc<AtomicBool>,
}

impl HttpBus {
    /// `base` is the bus's address, for example `http://localhost:4005`.
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            // A bus that does not answer within this time is treated as down:
            // the outbox keeps the event and tries again.
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with a timeout always builds");
        HttpBus {
            client,
            events_url: format!("{}/events", base.trim_end_matches('/')),
            batches: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl HttpBus {
    async fn post(&self, url: &str, body: impl Into<reqwest::Body>) -> Result<(), PublishError> {
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| PublishError::Unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(PublishError::Refused {
                status: status.as_u16(),
                body,
            })
        }
    }
}

impl Publisher for HttpBus {
    fn publish<'a>(&'a self, event: &'a Event) -> PublishFuture<'a> {
        Box::pin(self.post(&self.events_url, event.to_json()))
    }

    fn publish_all<'a>(&'a self, events: &'a [Event]) -> PublishFuture<'a> {
        Box::pin(async move {
            let mut rest = events;
            while rest.len() > 1 && self.batches.load(Ordering::Relaxed) {
                // As many as one batch may carry; the rest in the next ones, in order.
                let (body, taken) = json_batch(rest);
                match self.post(&format!("{}/batch", self.events_url), body).await {
                    Ok(()) => rest = &rest[taken..],
                    Err(PublishError::Refused {
                        status: 404 | 405, ..
                    }) => {
                        // A bus without batches (the Node one): one by one from now on.
                        self.batches.store(false, Ordering::Relaxed);
                    }
                    Err(error) => return Err(error),
                }
            }
            for event in rest {
                self.publish(event).await?;
            }
            Ok(())
        })
    }
}

/// The JSON array of the first `items` that fit in one batch (at most
/// [`MAX_BATCH_EVENTS`] and [`MAX_BATCH_BYTES`], always at least one), and
/// how many it holds. For what the bus is sent and what it delivers alike.
pub fn json_batch<T: serde::Serialize>(items: impl IntoIterator<Item = T>) -> (Vec<u8>, usize) {
    let mut body = vec![b'['];
    let mut taken = 0;
    for item in items.into_iter().take(MAX_BATCH_EVENTS) {
        let one = serde_json::to_vec(&item).expect("events always serialise");
        if taken > 0 && body.len() + one.len() + 2 > MAX_BATCH_BYTES {
            break;
        }
        if taken > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&one);
        taken += 1;
    }
    body.push(b']');
    (body, taken)
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::PostCreated;

    fn post(n: usize, title_len: usize) -> Event {
        Event::PostCreated(PostCreated {
            id: format!("p{n}"),
            title: "t".repeat(title_len),
        })
    }

    #[test]
    fn a_batch_body_holds_at_most_the_events_and_bytes_the_bus_takes() {
        let many: Vec<Event> = (0..600).map(|n| post(n, 5)).collect();
        let (body, taken) = json_batch(&many);
        assert_eq!(taken, MAX_BATCH_EVENTS);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.len(), taken);
        assert_eq!(parsed[255]["data"]["id"], "p255");

        let big: Vec<Event> = (0..100).map(|n| post(n, 2000)).collect();
        let (body, taken) = json_batch(&big);
        assert!(body.len() <= MAX_BATCH_BYTES, "{} bytes", body.len());
        assert!((20..100).contains(&taken), "{taken}");

        let huge = [post(0, 100_000)];
        assert_eq!(
            json_batch(&huge).1,
            1,
            "one event always goes, whatever its size"
        );
    }
}
