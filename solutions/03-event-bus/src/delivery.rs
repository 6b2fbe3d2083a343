//! Delivery: getting every stored event to every subscriber.
//!
//! Each subscriber has its own task and its own cursor (the last `seq` it
//! acknowledged, kept in the log's database). The task reads the log after
//! the cursor, POSTs each event to `{subscriber}/events` in order, and moves
//! the cursor only when the subscriber answered 2xx. So:
//!
//! - **in order**: a task sends event N+1 only after N was accepted;
//! - **at least once**: a subscriber that is down or answers an error gets
//!   the same event again, after a pause that doubles up to two seconds
//!   (backoff: don't hammer a service that is struggling to start);
//! - **nothing lost on restart**: the cursor is on disk, so after a restart
//!   the task resumes where it was. It is saved once per page rather than
//!   after every event, so a crash may re-send up to a page of events; that
//!   is allowed (consumers are idempotent), losing one is not;
//! - **isolation**: one task per subscriber, so a subscriber that is down
//!   only delays itself, never the others.
//!
//! A task that has caught up sleeps until the writer publishes a newer seq
//! on the `head` channel: new events go out at once, without polling.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::log::{self, StoredEvent};

/// How many events a task reads from the log at once; also how often (in
/// events) it saves its cursor.
pub const PAGE: usize = 100;
/// The first pause after a failed delivery ...
pub const FIRST_RETRY: Duration = Duration::from_millis(50);
/// ... doubling up to this, so a subscriber that comes back is served within
/// about two seconds.
pub const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// A subscriber that has not answered by then counts as down for this try.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why one delivery attempt failed. Both mean "try again later".
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("could not reach the subscriber: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the subscriber answered {0}")]
    Refused(u16),
}

/// The HTTP client shared by all delivery tasks.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .expect("an HTTP client with a timeout always builds")
}

/// The pause after `previous`: twice as long, but never more than [`LONGEST_RETRY`].
pub fn next_retry(previous: Duration) -> Duration {
    (previous * 2).min(LONGEST_RETRY)
}

// ANCHOR: deliver
/// One attempt: `POST {events_url}` with the event (and its seq). Only a 2xx
/// answer means the subscriber has taken the event.
pub async fn deliver(
    client: &reqwest::Client,
    events_url: &str,
    event: &StoredEvent,
) -> Result<(), DeliveryError> {
    let response = client.post(events_url).json(event).send().await?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Refused(response.status().as_u16()))
    }
}
// ANCHOR_END: deliver

/// Starts the delivery task for one subscriber (a base URL such as
/// `http://localhost:4002`). It runs until `shutdown` turns true.
///
/// `conn` is the task's own connection to the log: reading and saving the
/// cursor never waits for another subscriber's task.
pub fn spawn_delivery(
    conn: Connection,
    subscriber: &str,
    client: reqwest::Client,
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let subscriber = subscriber.trim_end_matches('/').to_string();
    let delivery = Delivery {
        events_url: format!("{subscriber}/events"),
        subscriber,
        client,
        db: Arc::new(Mutex::new(conn)),
        head,
        shutdown,
        delivered: 0,
        saved: 0,
    };
    tokio::spawn(delivery.run())
}

/// The state of one subscriber's delivery task.
struct Delivery {
    /// The subscriber's base URL; also the key of its cursor.
    subscriber: String,
    events_url: String,
    client: reqwest::Client,
    db: Arc<Mutex<Connection>>,
    /// The newest seq in the log, published by the writer after each commit.
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    /// The last seq the subscriber acknowledged ...
    delivered: u64,
    /// ... and the last one written to disk (may lag by up to a page).
    saved: u64,
}

/// Told to the loop when the bus is stopping.
struct Stopping;

impl Delivery {
    async fn run(mut self) {
        // The loop only ends when the bus stops ...
        let _ = self.deliver_everything().await;
        // ... then keep what was achieved, so a restart resends nothing.
        self.save_progress().await;
    }

    // ANCHOR: deliver_everything
    /// The loop: read a page after the cursor, deliver it event by event,
    /// save the cursor, and sleep when there is nothing new.
    async fn deliver_everything(&mut self) -> Result<(), Stopping> {
        self.delivered = self.load_cursor().await?;
        self.saved = self.delivered;
        loop {
            let page = self.read_page().await?;
            if page.is_empty() {
                self.wait_for_newer_events().await?;
                continue;
            }
            for event in page {
                self.deliver_until_accepted(&event).await?;
                self.delivered = event.seq;
            }
            self.save_progress().await;
        }
    }
    // ANCHOR_END: deliver_everything

    // ANCHOR: deliver_until_accepted
    /// Sends one event again and again, with growing pauses, until the
    /// subscriber accepts it. Only stopping the bus ends the attempts.
    async fn deliver_until_accepted(&mut self, event: &StoredEvent) -> Result<(), Stopping> {
        let mut retry = FIRST_RETRY;
        let mut attempts = 0u32;
        loop {
            let attempt = deliver(&self.client, &self.events_url, event);
            let outcome = tokio::select! {
                outcome = attempt => outcome,
                _ = stopped(&mut self.shutdown) => return Err(Stopping),
            };
            let error = match outcome {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            attempts += 1;
            if attempts == 1 {
                tracing::warn!(subscriber = %self.subscriber, seq = event.seq, %error, "delivery failed; retrying with backoff");
                // The subscriber may stay away for long: keep what it has
                // already taken, so a crash meanwhile does not resend it.
                self.save_progress().await;
            } else {
                tracing::debug!(subscriber = %self.subscriber, seq = event.seq, %error, attempts, "delivery failed again");
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stopped(&mut self.shutdown) => return Err(Stopping),
            }
            retry = next_retry(retry);
        }
    }
    // ANCHOR_END: deliver_until_accepted

    /// Sleeps until the writer has committed an event after our cursor.
    async fn wait_for_newer_events(&mut self) -> Result<(), Stopping> {
        // Caught up: a good moment to save the cursor.
        self.save_progress().await;
        let delivered = self.delivered;
        tokio::select! {
            newer = self.head.wait_for(|&newest| newest > delivered) => {
                // An error means the writer is gone: the bus is stopping.
                newer.map(|_| ()).map_err(|_| Stopping)
            }
            _ = stopped(&mut self.shutdown) => Err(Stopping),
        }
    }

    /// The cursor on disk, retried while the database is unavailable.
    async fn load_cursor(&mut self) -> Result<u64, Stopping> {
        let subscriber = self.subscriber.clone();
        self.with_db_retrying("read the cursor", move |conn| {
            log::load_cursor(conn, &subscriber)
        })
        .await
    }

    async fn read_page(&mut self) -> Result<Vec<StoredEvent>, Stopping> {
        let after = self.delivered;
        self.with_db_retrying("read the log", move |conn| {
            log::read_page(conn, after, PAGE)
        })
        .await
    }

    /// Writes the cursor if it moved since the last save. A failure only
    /// means some events may be sent twice, so it is logged, not fatal.
    async fn save_progress(&mut self) {
        if self.delivered == self.saved {
            return;
        }
        let (subscriber, delivered) = (self.subscriber.clone(), self.delivered);
        match with_db(&self.db, move |conn| {
            log::save_cursor(conn, &subscriber, delivered)
        })
        .await
        {
            Ok(()) => self.saved = delivered,
            Err(error) => {
                tracing::error!(subscriber = %self.subscriber, %error, "could not save the cursor")
            }
        }
    }

    async fn with_db_retrying<T: Send + 'static>(
        &mut self,
        what: &str,
        work: impl Fn(&Connection) -> rusqlite::Result<T> + Send + Sync + 'static,
    ) -> Result<T, Stopping> {
        let work = Arc::new(work);
        let mut retry = FIRST_RETRY;
        loop {
            let attempt = work.clone();
            match with_db(&self.db, move |conn| attempt(conn)).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::error!(subscriber = %self.subscriber, %error, "could not {what}; retrying")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stopped(&mut self.shutdown) => return Err(Stopping),
            }
            retry = next_retry(retry);
        }
    }
}

/// Runs blocking SQLite work off the async threads.
async fn with_db<T: Send + 'static>(
    db: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> rusqlite::Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = db
            .lock()
            .expect("a panic never happens while the lock is held");
        work(&conn)
    })
    .await
    .expect("database work does not panic")
}

/// Resolves once the bus is asked to stop (or the switch itself is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stop| stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_a_limit() {
        assert_eq!(next_retry(FIRST_RETRY), Duration::from_millis(100));
        let mut pause = FIRST_RETRY;
        for _ in 0..20 {
            pause = next_retry(pause);
        }
        assert_eq!(pause, LONGEST_RETRY);
    }
}
