//! Delivery: getting every stored event to every subscriber (TODO 3 and TODO 4).
//!
//! Each subscriber has its own task and its own cursor (the last `seq` it
//! acknowledged, kept in the log's database). The task reads the log after
//! the cursor, POSTs each event to `{subscriber}/events` in order, and moves
//! the cursor only when the subscriber is done with the event. So:
//!
//! - **in order**: a task sends event N+1 only after N was accepted;
//! - **at least once**: a subscriber that is down or answers an error gets
//!   the same event again, after a pause that doubles up to two seconds
//!   (backoff: don't hammer a service that is struggling to start);
//! - **no poison**: a subscriber that answers "never" (a 4xx other than 408
//!   or 429, see [`DeliveryError::verdict`]) a few times in a row gets the
//!   event *parked*: set aside on disk ([`crate::parked`]), to be
//!   redelivered once it is fixed, while the events after it go on;
//! - **nothing lost on restart**: the cursor is on disk, so after a restart
//!   the task resumes where it was. It is written once a page of events,
//!   or [`SAVE_EVERY`], has gone by, rather than after every event, so a
//!   crash may re-send that much; that is allowed (consumers are
//!   idempotent), losing one is not;
//! - **isolation**: one task per subscriber, so a subscriber that is down
//!   only delays itself, never the others.
//!
//! A task that has caught up sleeps until the writer publishes a newer seq
//! on the `head` channel: new events go out at once, without polling.
//!
//! To a subscriber that takes them, the events of a page travel together,
//! in one request ([`crate::batches`]). The loop does not know: when it
//! sends an event, the batch from that event on goes, and the events after
//! it are then already taken.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blog_runtime::Backoff;
use rusqlite::Connection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::batches::Batches;
use crate::log::{self, StoredEvent, WireEvent};
use crate::parked;
use crate::subscribers::Subscriber;

/// How many events a task reads from the log at once; also how often (in
/// events) it saves its cursor.
pub const PAGE: usize = 500;
/// The longest a task keeps a moved cursor unwritten, unless a page of
/// events goes by first. Each write is a transaction on the log's file, and
/// while it holds SQLite's write lock the writer's commit must wait (and
/// the other way round: SQLite's busy handler then sleeps a millisecond or
/// more). A task that wrote its cursor every time it caught up did so
/// hundreds of times a second under load, and every new event paid for it.
pub const SAVE_EVERY: Duration = Duration::from_millis(250);
/// The first pause after a failed delivery ...
pub const FIRST_RETRY: Duration = Duration::from_millis(50);
/// ... about doubling up to this, so a subscriber that comes back is served
/// within about two seconds.
pub const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// A subscriber that has not answered by then counts as down for this try.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How many "never" answers park an event, unless `DEAD_LETTER_AFTER` says
/// otherwise. More than one, because a subscriber in the middle of a deploy
/// may answer a 404 or two that it does not mean; few enough that the events
/// behind a poison one wait only a second or two.
pub const DEFAULT_DEAD_LETTER_AFTER: u32 = 5;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No answer at all: refused connection, reset, or [`DELIVERY_TIMEOUT`].
    #[error("could not reach the subscriber: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// An answer, but not a 2xx. `reason` is the body the subscriber sent
    /// (usually `{"error": "..."}`), kept to show why.
    #[error("the subscriber answered {status}: {reason}")]
    Refused { status: u16, reason: String },
}

/// What a failed attempt says about the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The subscriber is down, slow, overloaded or broken for now: the same
    /// event may well be accepted later.
    TryAgain,
    /// The subscriber has looked at this event and will never accept it.
    Never,
}

impl DeliveryError {
    // ANCHOR: verdict
    /// Could sending the very same event again ever get another answer?
    ///
    /// HTTP says so in the status class. A 5xx is the server's fault (a
    /// crash, a restart, a dependency down): try again. A 4xx is the
    /// request's fault, and our request is the event itself, which will not
    /// change: never, except for the two 4xx that mean "not now": 408
    /// (request timeout) and 429 (too many requests). No answer at all is
    /// the network's or the server's fault: try again.
    pub fn verdict(&self) -> Verdict {
        // TODO 4a: no answer at all (`Unreachable`) is worth another try. So
        // are a 5xx, 408 and 429. Any other 4xx means the subscriber will
        // never take this event: `Verdict::Never`. (`(400..500).contains(..)`
        // and match guards, `Refused { status, .. } if ...`, help.)
        todo!(
            "TODO 4a in src/delivery.rs: verdict must tell \"try again\" from \"never\" for: {self}"
        )
    }
    // ANCHOR_END: verdict
}

/// How an event left a subscriber's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The subscriber answered 2xx.
    Delivered,
    /// The subscriber refused it for good; it waits in the `parked` table.
    Parked,
}

/// The HTTP client shared by all delivery tasks.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .expect("an HTTP client with a timeout always builds")
}

/// The pauses between tries of one event: from [`FIRST_RETRY`] up to
/// [`LONGEST_RETRY`], with jitter so that the tasks of many subscribers do
/// not all retry in the same millisecond.
pub fn retry_pauses() -> Backoff {
    Backoff::new(FIRST_RETRY, LONGEST_RETRY)
}

// ANCHOR: deliver
/// One attempt: `POST {events_url}` with the event (its seq and the log's
/// id included). Only a 2xx answer means the subscriber has taken the event.
pub async fn deliver(
    client: &reqwest::Client,
    events_url: &str,
    event: &WireEvent<'_>,
) -> Result<(), DeliveryError> {
    // TODO 3a: POST `event` as JSON to `events_url`. Failing to reach the
    // subscriber is an error already (`?` makes it `Unreachable`); an answer
    // is only a success when its status is 2xx. Any other status means the
    // subscriber did not take the event: `DeliveryError::Refused` with the
    // status and the text of the answer's body as the `reason`.
    let _ = (client, events_url);
    todo!(
        "TODO 3a in src/delivery.rs: deliver must POST the event with seq {} and check the answer",
        event.event.seq
    )
}
// ANCHOR_END: deliver

/// What every delivery task shares.
#[derive(Clone)]
pub struct DeliverySettings {
    pub client: reqwest::Client,
    /// The log's id, sent with every event as `logId`.
    pub log_id: Arc<str>,
    /// How many "never" answers park an event (at least 1).
    pub dead_letter_after: u32,
}

/// Starts the delivery task for one subscriber. It runs until `shutdown`
/// turns true.
///
/// `conn` is the task's own connection to the log: reading and saving the
/// cursor never waits for another subscriber's task.
pub fn spawn_delivery(
    conn: Connection,
    subscriber: Arc<Subscriber>,
    settings: DeliverySettings,
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let delivery = Delivery {
        events_url: format!("{}/events", subscriber.url),
        batches: Batches::new(&subscriber.url),
        redeliver: subscriber.redelivery_requests(),
        redelivery_asked: false,
        subscriber,
        client: settings.client,
        log_id: settings.log_id,
        dead_letter_after: settings.dead_letter_after.max(1),
        db: Arc::new(Mutex::new(conn)),
        head,
        shutdown,
        delivered: 0,
        saved: 0,
        saved_at: tokio::time::Instant::now(),
    };
    tokio::spawn(delivery.run())
}

/// The state of one subscriber's delivery task.
struct Delivery {
    /// Its name, URL (also the key of its cursor) and live status.
    subscriber: Arc<Subscriber>,
    events_url: String,
    /// The page being delivered, and whether the subscriber takes batches.
    batches: Batches,
    client: reqwest::Client,
    log_id: Arc<str>,
    dead_letter_after: u32,
    db: Arc<Mutex<Connection>>,
    /// The newest seq in the log, published by the writer after each commit.
    head: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    /// Changes when someone asks to redeliver the parked events ...
    redeliver: watch::Receiver<u64>,
    /// ... noted here when it woke the task up.
    redelivery_asked: bool,
    /// The last seq the subscriber acknowledged (or that was parked) ...
    delivered: u64,
    /// ... and the last one written to disk (may lag by up to a page, or
    /// [`SAVE_EVERY`]) ...
    saved: u64,
    /// ... at this moment.
    saved_at: tokio::time::Instant,
}

/// Told to the loop when the bus is stopping.
struct Stopping;

#[allow(dead_code, unused_mut)] // some helpers below are unused until you write TODO 3b and 4b
impl Delivery {
    async fn run(mut self) {
        // The loop only ends when the bus stops ...
        let _ = self.deliver_everything().await;
        // ... then keep what was achieved, so a restart resends nothing.
        self.save_now().await;
    }

    // ANCHOR: deliver_everything
    /// The loop: read a page after the cursor, deliver it event by event,
    /// save the cursor, and sleep when there is nothing new.
    async fn deliver_everything(&mut self) -> Result<(), Stopping> {
        // TODO 3b: start from the subscriber's cursor on disk (it is also
        // what is saved so far). Then, forever: get the next page after the
        // cursor. Empty? Wait for newer events. Otherwise deliver its events
        // one by one, in order, each until it is delivered or parked, and
        // move the cursor (`self.delivered`) past an event only then. Save
        // the progress after each page. The methods below do each step; they
        // only fail when the bus is stopping: pass that on with `?`.
        todo!(
            "TODO 3b in src/delivery.rs: deliver_everything must send every stored event to {}, in order",
            self.subscriber.name
        )
    }
    // ANCHOR_END: deliver_everything

    // ANCHOR: deliver_or_park
    /// Sends one event until the subscriber accepts it, with growing pauses,
    /// or until it has refused it for good often enough to be parked.
    async fn deliver_or_park(&mut self, event: &StoredEvent) -> Result<Settled, Stopping> {
        let mut pauses = retry_pauses();
        let mut refusals = 0u32;
        let mut attempts = 0u32;
        loop {
            let error = match self.attempt(event).await? {
                Ok(()) => return Ok(Settled::Delivered),
                Err(error) => error,
            };
            attempts += 1;
            self.note_failure(event, &error, attempts).await;
            if error.verdict() == Verdict::Never {
                // TODO 4b: the subscriber said "never". Count it in
                // `refusals`; once it has said so `self.dead_letter_after`
                // times, park the event (`self.park(event, attempts, &error)`,
                // which fails only when the bus stops) and answer
                // `Settled::Parked`, so the loop moves on. Until then, pause
                // and try again like after any failure.
                let _ = &mut refusals;
                todo!(
                    "TODO 4b in src/delivery.rs: deliver_or_park must park seq {} once {} has refused it {} times",
                    event.seq,
                    self.subscriber.name,
                    self.dead_letter_after
                )
            }
            self.pause(pauses.next_delay()).await?;
        }
    }
    // ANCHOR_END: deliver_or_park

    /// One try, abandoned if the bus stops meanwhile: in a batch with the
    /// events after it on the page when the subscriber takes batches, else
    /// alone. An event an earlier batch carried is already taken.
    async fn attempt(
        &mut self,
        event: &StoredEvent,
    ) -> Result<Result<(), DeliveryError>, Stopping> {
        if self.batches.taken(event.seq) {
            return Ok(Ok(()));
        }
        let head = *self.head.borrow();
        let Delivery {
            batches,
            client,
            events_url,
            log_id,
            shutdown,
            ..
        } = self;
        let wire = WireEvent { event, log_id };
        let outcome = async {
            match batches.deliver_from(client, event.seq, log_id, head).await {
                Some(outcome) => outcome,
                None => deliver(client, events_url, &wire).await,
            }
        };
        tokio::select! {
            outcome = outcome => Ok(outcome),
            _ = stopped(shutdown) => Err(Stopping),
        }
    }

    /// Logs a failed try and shows it in `GET /subscribers`.
    async fn note_failure(&mut self, event: &StoredEvent, error: &DeliveryError, attempts: u32) {
        self.subscriber.record_error(event.seq, error);
        let name = &self.subscriber.name;
        if attempts == 1 {
            tracing::warn!(subscriber = %name, seq = event.seq, %error, "delivery failed; retrying with backoff");
            // The subscriber may stay away for long: keep what it has
            // already taken, so a crash meanwhile does not resend it.
            self.save_now().await;
        } else {
            tracing::debug!(subscriber = %name, seq = event.seq, %error, attempts, "delivery failed again");
        }
    }

    /// Sets `event` aside for this subscriber, on disk, before the cursor
    /// moves past it: a parked event is never lost, only postponed.
    async fn park(
        &mut self,
        event: &StoredEvent,
        attempts: u32,
        error: &DeliveryError,
    ) -> Result<(), Stopping> {
        tracing::warn!(subscriber = %self.subscriber.name, seq = event.seq, kind = %event.kind, %error, attempts,
            "the subscriber refused this event for good; parked it and moving on");
        let (url, seq, message) = (self.subscriber.url.clone(), event.seq, short(error));
        self.with_db_retrying("park an event", move |conn| {
            parked::park(conn, &url, seq, attempts, &message)
        })
        .await?;
        // The event that made a batch fail is found and set aside: the
        // events after it may travel together again.
        self.batches.found_refused();
        Ok(())
    }

    /// The page after the cursor. First, if someone asked for it, the
    /// parked events get another chance: oldest first, before any newer
    /// event, so a fixed subscriber catches up on what it missed first.
    async fn next_page(&mut self) -> Result<Vec<StoredEvent>, Stopping> {
        self.batches.forget_page();
        let asked = self.redelivery_asked || self.redeliver.has_changed().unwrap_or(false);
        if asked {
            self.redeliver.borrow_and_update();
            self.redelivery_asked = false;
            self.redeliver_parked().await?;
        }
        let after = self.delivered;
        let page = self
            .with_db_retrying("read the log", move |conn| {
                log::read_page(conn, after, PAGE)
            })
            .await?;
        self.batches.remember_page(&page);
        Ok(page)
    }

    /// Delivers every parked event once more, with the same rules as any
    /// event: accepted, it is no longer parked; refused for good again, it
    /// stays parked with the new answer.
    async fn redeliver_parked(&mut self) -> Result<(), Stopping> {
        let mut after = 0;
        loop {
            let url = self.subscriber.url.clone();
            let parked = self
                .with_db_retrying("read the parked events", move |conn| {
                    parked::list(conn, &url, after, PAGE)
                })
                .await?;
            if parked.is_empty() {
                return Ok(());
            }
            for parked in parked {
                let event = parked.event;
                after = event.seq;
                if self.deliver_or_park(&event).await? == Settled::Delivered {
                    tracing::info!(subscriber = %self.subscriber.name, seq = event.seq, "a parked event was redelivered");
                    let url = self.subscriber.url.clone();
                    self.with_db_retrying("release a parked event", move |conn| {
                        parked::release(conn, &url, event.seq)
                    })
                    .await?;
                }
            }
        }
    }

    /// Sleeps until the writer has committed an event after our cursor, or
    /// someone asks to redeliver the parked events.
    async fn wait_for_newer_events(&mut self) -> Result<(), Stopping> {
        let delivered = self.delivered;
        loop {
            // Caught up: the cursor is written once the task has been idle
            // for the rest of `SAVE_EVERY`, unless newer events come first.
            let unsaved = self.delivered != self.saved;
            let save_at = self.saved_at + SAVE_EVERY;
            tokio::select! {
                newer = self.head.wait_for(|&newest| newest > delivered) => {
                    // An error means the writer is gone: the bus is stopping.
                    return newer.map(|_| ()).map_err(|_| Stopping);
                }
                asked = self.redeliver.changed() => {
                    self.redelivery_asked = true;
                    return asked.map_err(|_| Stopping);
                }
                _ = stopped(&mut self.shutdown) => return Err(Stopping),
                _ = tokio::time::sleep_until(save_at), if unsaved => {}
            }
            self.save_now().await;
        }
    }

    /// Waits `pause`, or less if the bus stops.
    async fn pause(&mut self, pause: Duration) -> Result<(), Stopping> {
        tokio::select! {
            _ = tokio::time::sleep(pause) => Ok(()),
            _ = stopped(&mut self.shutdown) => Err(Stopping),
        }
    }

    /// The cursor on disk, retried while the database is unavailable.
    async fn load_cursor(&mut self) -> Result<u64, Stopping> {
        let url = self.subscriber.url.clone();
        let cursor = self
            .with_db_retrying("read the cursor", move |conn| log::load_cursor(conn, &url))
            .await?;
        self.subscriber.record_cursor(cursor);
        Ok(cursor)
    }

    /// Writes the cursor once it is a page of events, or [`SAVE_EVERY`],
    /// ahead of what is on disk; until then only `GET /subscribers` shows
    /// it. An idle task writes it a moment later (`wait_for_newer_events`),
    /// a stopping one at once.
    async fn save_progress(&mut self) {
        let ahead = self.delivered.saturating_sub(self.saved);
        if ahead >= PAGE as u64 || self.saved_at.elapsed() >= SAVE_EVERY {
            self.save_now().await;
        } else {
            self.subscriber.record_cursor(self.delivered);
        }
    }

    /// Writes the cursor if it moved since the last save. A failure only
    /// means some events may be sent twice, so it is logged, not fatal.
    async fn save_now(&mut self) {
        self.subscriber.record_cursor(self.delivered);
        if self.delivered == self.saved {
            return;
        }
        let (url, delivered) = (self.subscriber.url.clone(), self.delivered);
        // Failed or not, the next try is `SAVE_EVERY` away.
        self.saved_at = tokio::time::Instant::now();
        match with_db(&self.db, move |conn| {
            log::save_cursor(conn, &url, delivered)
        })
        .await
        {
            Ok(()) => self.saved = delivered,
            Err(error) => {
                tracing::error!(subscriber = %self.subscriber.name, %error, "could not save the cursor")
            }
        }
    }

    async fn with_db_retrying<T: Send + 'static>(
        &mut self,
        what: &str,
        work: impl Fn(&Connection) -> rusqlite::Result<T> + Send + Sync + 'static,
    ) -> Result<T, Stopping> {
        let work = Arc::new(work);
        let mut pauses = retry_pauses();
        loop {
            let attempt = work.clone();
            match with_db(&self.db, move |conn| attempt(conn)).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::error!(subscriber = %self.subscriber.name, %error, "could not {what}; retrying")
                }
            }
            self.pause(pauses.next_delay()).await?;
        }
    }
}

/// An error as `GET /subscribers` and the parked table keep it: short
/// enough to read, even when a subscriber answers with a whole web page.
pub(crate) fn short(error: &DeliveryError) -> String {
    const MAX_CHARS: usize = 300;
    let text = error.to_string();
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Runs blocking SQLite work off the async threads.
async fn with_db<T: Send + 'static>(
    db: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> rusqlite::Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        // A panic elsewhere cannot leave a connection half-used: use it anyway.
        let conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
        let mut pauses = retry_pauses();
        assert!(pauses.next_delay() <= FIRST_RETRY);
        for _ in 0..20 {
            assert!(pauses.next_delay() <= LONGEST_RETRY);
        }
        assert_eq!(pauses.ceiling(), LONGEST_RETRY);
    }

    #[test]
    fn a_short_error_keeps_short_messages_and_cuts_long_ones() {
        let refused = |reason: String| DeliveryError::Refused {
            status: 422,
            reason,
        };
        assert_eq!(
            short(&refused("no".into())),
            "the subscriber answered 422: no"
        );
        assert!(short(&refused("é".repeat(1000))).chars().count() <= 303);
    }
}
