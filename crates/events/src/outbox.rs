//! The transactional outbox: never lose an event a service has promised.
//!
//! The naive way to announce a new post is "store it, then POST the event to
//! the bus". If the bus is down at that moment, the post exists but nobody
//! ever hears about it. The outbox closes that gap: the service writes the
//! post *and* the event into its own database in one transaction, so either
//! both exist or neither does. A [`spawn_relay`] task then reads the outbox
//! in order, publishes each event and deletes it only once the bus has
//! acknowledged it, retrying with backoff while the bus is away.
//!
//! Delivery is therefore at-least-once: if the relay crashes between
//! "published" and "deleted", the event is sent again after a restart.
//! Consumers must be idempotent, and they are.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::{Event, Publisher};

/// A service's database connection, shared by its handlers and its relay.
/// SQLite writes are short; a mutex is simpler than a pool and fast enough.
pub type SharedDb = Arc<Mutex<Connection>>;

/// Opens (or creates) a service database at `path` with the outbox table in it.
///
/// It is opened durably ([`blog_runtime::db::open_durable`]): every commit
/// reaches the disk before it returns, so a service only answers "created"
/// for data that survives a crash.
pub fn open_service_db(path: &Path) -> Result<Connection, blog_runtime::db::OpenError> {
    blog_runtime::db::open_durable(
        path,
        "CREATE TABLE IF NOT EXISTS outbox (
             seq   INTEGER PRIMARY KEY AUTOINCREMENT,
             event TEXT NOT NULL
         );",
    )
}

/// Adds an event to the outbox. Call it inside the transaction that changes
/// the data the event announces.
pub fn enqueue(conn: &Connection, event: &Event) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO outbox (event) VALUES (?1)",
        params![event.to_json()],
    )?;
    Ok(())
}

/// Wakes the relay after a commit, so events leave at once instead of at the next poll.
#[derive(Clone, Default)]
pub struct Doorbell(Arc<Notify>);

impl Doorbell {
    pub fn ring(&self) {
        self.0.notify_one();
    }
}

const BATCH: usize = 64;
const MAX_BATCH_BYTES: usize = 48 * 1024;
const POLL: Duration = Duration::from_secs(1);
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// Starts the relay: publishes the outbox in order until `shutdown` turns true.
pub fn spawn_relay(
    db: SharedDb,
    publisher: Arc<dyn Publisher>,
    doorbell: Doorbell,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let batch = match read_batch(&db) {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, "could not read the outbox");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = doorbell.0.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
            // The whole batch goes in one request (one commit at the bus);
            // rows are deleted only after the bus has said it has them all.
            // Keep each request well under the services' 64 KiB body limit.
            let mut bytes = 0;
            let batch: Vec<(i64, String)> = batch
                .into_iter()
                .enumerate()
                .take_while(|(index, (_, json))| {
                    bytes += json.len() + 1;
                    *index == 0 || bytes <= MAX_BATCH_BYTES
                })
                .map(|(_, row)| row)
                .collect();
            let mut events = Vec::with_capacity(batch.len());
            let mut unreadable = Vec::new();
            for (seq, json) in &batch {
                match serde_json::from_str::<Event>(json) {
                    Ok(event) => events.push(event),
                    Err(error) => {
                        // Only this crate writes the outbox, so this means a
                        // corrupted row; keeping it would block every later event.
                        tracing::error!(seq, %error, "dropping an unreadable outbox row");
                        unreadable.push(*seq);
                    }
                }
            }
            let last = batch.last().map(|(seq, _)| *seq).unwrap_or_default();
            let mut failed = false;
            match publisher.publish_all(&events).await {
                Ok(()) => {
                    delete_through(&db, last);
                    retry = FIRST_RETRY;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?retry, "events not delivered yet; will retry");
                    for seq in unreadable {
                        delete_one(&db, seq);
                    }
                    failed = true;
                }
            }
            if failed {
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = shutdown.changed() => return,
                }
                retry = (retry * 2).min(LONGEST_RETRY);
            }
        }
    })
}

fn read_batch(db: &SharedDb) -> rusqlite::Result<Vec<(i64, String)>> {
    let conn = db
        .lock()
        .expect("a panic never happens while the lock is held");
    let mut statement = conn.prepare("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = statement.query_map(params![BATCH as i64], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Deletes every row up to and including `seq` in one commit.
fn delete_through(db: &SharedDb, seq: i64) {
    let conn = db.lock().expect("a panic never happens while the lock is held");
    if let Err(error) = conn.execute("DELETE FROM outbox WHERE seq <= ?1", params![seq]) {
        tracing::error!(seq, %error, "could not delete delivered events; they will be sent again");
    }
}

fn delete_one(db: &SharedDb, seq: i64) {
    let conn = db.lock().expect("a panic never happens while the lock is held");
    if let Err(error) = conn.execute("DELETE FROM outbox WHERE seq = ?1", params![seq]) {
        tracing::error!(seq, %error, "could not delete an unreadable event");
    }
}
