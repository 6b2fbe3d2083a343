//! The relay: the bus's client side, run inside every service that has an
//! outbox (posts, comments). TODO 5a and TODO 5b.
//!
//! A service writes its data and the event that announces it in one
//! transaction, into its own outbox table (`blog_events::outbox`). This task
//! then empties that table into the bus: it reads the oldest events,
//! publishes them, and deletes them only once the bus has said it has them.
//! Lives here, beside the bus, because "has them" is the bus's promise (on
//! disk, numbered); a broker ships its client library for the same reason.
//!
//! Delivery is at-least-once: a relay that crashes between "published" and
//! "deleted" sends the same events again after a restart, and consumers
//! are idempotent. What the relay must never do is delete first (an event
//! the bus did not take would be gone) or retry without a pause (a bus that
//! is down would get thousands of requests a second, and so would a disk
//! that cannot delete).

use std::sync::Arc;
use std::time::Duration;

use blog_events::outbox::ServiceDb;
use blog_events::{Event, Publisher};
#[allow(unused_imports)] // you will need `Backoff` for TODO 5b
use blog_runtime::Backoff;
use rusqlite::{Connection, params};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The most events one request carries: as many as the bus takes at once.
const BATCH: usize = crate::handlers::MAX_BATCH_EVENTS;
/// Keeps each request well under the services' 64 KiB body limit.
const MAX_BATCH_BYTES: usize = 48 * 1024;
/// An empty outbox is looked at again after this long even if nobody rang:
/// a safety net, since every commit that enqueues rings the doorbell.
const POLL: Duration = Duration::from_secs(1);
/// The first pause after a failure, doubled after each failure in a row...
pub const FIRST_RETRY: Duration = Duration::from_millis(50);
/// ...up to this.
pub const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// Starts the relay of `db`'s outbox: publishes it through `publisher`, in
/// order, until `shutdown` turns true.
pub fn spawn_relay(
    db: &ServiceDb,
    publisher: Arc<dyn Publisher>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(relay(db.clone(), publisher, shutdown))
}

/// What one pass of the relay achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The outbox is empty: wait for the doorbell.
    Idle,
    /// Events were published and deleted: go on at once.
    Sent,
    /// Something failed; the events are still in the outbox. Pause first.
    Failed,
}

// ANCHOR: relay
/// The relay's life: pass after pass until the service stops. A failed pass
/// pauses, longer after each failure in a row; any other pass starts the
/// pauses over. Never a pass straight after a failure: that is a spin.
pub async fn relay(
    db: ServiceDb,
    publisher: Arc<dyn Publisher>,
    mut shutdown: watch::Receiver<bool>,
) {
    // TODO 5b: pass after pass (`relay_once`) until the service is
    // `stopping`. After an empty outbox, wait for the doorbell; after a
    // failure, pause first, and each failure in a row pauses longer (a
    // `Backoff` from FIRST_RETRY to LONGEST_RETRY); any other pass starts
    // the pauses over. Checked by tests/relay_spec.rs, `the_relay_`.
    let _ = (db, publisher, &mut shutdown);
    todo!(
        "TODO 5b in src/relay.rs: relay must run pass after pass until the service stops, pausing longer after each failure in a row"
    )
}
// ANCHOR_END: relay

// ANCHOR: relay_once
/// One pass: the oldest events of the outbox go to the bus in one request,
/// and leave the outbox only once the bus has answered that it has them.
pub async fn relay_once(db: &ServiceDb, publisher: &dyn Publisher) -> Pass {
    // TODO 5a: take the oldest events (`oldest_events`); none is `Idle`.
    // Publish them all in one request, with the rows' numbers
    // (`Publisher::publish_outbox`). They may leave the outbox (`delete_through`)
    // only once the bus has said it has them: that is `Sent`. Any failure,
    // on the way in or out, is `Failed`, and leaves them where they are.
    // Checked by tests/relay_spec.rs, `one_pass_`.
    let _ = (db, publisher);
    todo!(
        "TODO 5a in src/relay.rs: relay_once must publish the oldest events of the outbox, and delete them only once the bus has them"
    )
}
// ANCHOR_END: relay_once

// ANCHOR: helpers
/// The oldest events of an outbox, in order, with the number of the row
/// each came from (`seqs[i]` belongs to `events[i]`).
#[derive(Debug, Default)]
pub struct Batch {
    pub seqs: Vec<i64>,
    pub events: Vec<Event>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The newest row in the batch: once the bus has the batch, every row
    /// up to this one can go.
    pub fn last(&self) -> i64 {
        self.seqs.last().copied().unwrap_or_default()
    }
}

/// Reads at most [`BATCH`] of the oldest events (fewer if they would not
/// fit in one request), oldest first. Empty: the outbox is empty.
///
/// A row that does not parse is deleted, with an error in the log: only
/// this code writes the outbox, so it is a corrupted row, and keeping it
/// would block every later event.
pub async fn oldest_events(db: &ServiceDb) -> rusqlite::Result<Batch> {
    db.with_conn(|conn| {
        loop {
            let mut batch = Batch::default();
            let mut unreadable = Vec::new();
            for (seq, json) in read_rows(conn)? {
                match serde_json::from_str::<Event>(&json) {
                    Ok(event) => {
                        batch.seqs.push(seq);
                        batch.events.push(event);
                    }
                    Err(error) => {
                        tracing::error!(seq, %error, "dropping an unreadable outbox row");
                        unreadable.push(seq);
                    }
                }
            }
            for seq in &unreadable {
                conn.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
            }
            // A batch of nothing but unreadable rows says nothing about
            // the rows after them: read again.
            if !batch.is_empty() || unreadable.is_empty() {
                return Ok(batch);
            }
        }
    })
    .await
}

/// The oldest rows, as many as fit in one request (always at least one).
fn read_rows(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut statement = conn.prepare("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = statement.query_map(params![BATCH as i64], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut bytes = 0;
    let mut fitting = Vec::new();
    for row in rows {
        let (seq, json): (i64, String) = row?;
        bytes += json.len() + 1;
        if !fitting.is_empty() && bytes > MAX_BATCH_BYTES {
            break;
        }
        fitting.push((seq, json));
    }
    Ok(fitting)
}

/// Deletes every row up to and including `seq`, in one commit that does
/// not wait for the disk ([`blog_runtime::db::without_flush`]): lost in a
/// power cut, the delete only means those events are sent again, which
/// at-least-once delivery allows. The next durable commit flushes it.
pub async fn delete_through(db: &ServiceDb, seq: i64) -> rusqlite::Result<()> {
    db.with_conn(move |conn| {
        blog_runtime::db::without_flush(conn, |conn| {
            conn.execute("DELETE FROM outbox WHERE seq <= ?1", params![seq])?;
            Ok(())
        })
    })
    .await
}

/// Whether the service is stopping (or has gone without saying so).
pub fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Waits until a commit rings the doorbell, [`POLL`] has passed, or the
/// service is stopping, whichever comes first.
pub async fn wait_for_doorbell(db: &ServiceDb, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = db.doorbell_rung() => {}
        _ = tokio::time::sleep(POLL) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// Waits `delay`, or until the service is stopping.
pub async fn pause(delay: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}
// ANCHOR_END: helpers
