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
//!
//! Every failure backs off, not only a failed publish. If the bus took the
//! events but they cannot be deleted (a read-only or full disk, a write
//! lock held by someone else), the next pass sends the same events again;
//! without a pause, that would be the same batch at full speed, forever.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blog_runtime::db::OpenError;
use blog_runtime::{Backoff, Readiness};
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
pub fn open_service_db(path: &Path) -> Result<Connection, OpenError> {
    blog_runtime::db::open_durable(
        path,
        "CREATE TABLE IF NOT EXISTS outbox (
             seq   INTEGER PRIMARY KEY AUTOINCREMENT,
             event TEXT NOT NULL
         );",
    )
}

/// A service's own database with its outbox in it: what every service that
/// keeps data (posts, comments) holds. Cheap to clone, one per request.
///
/// Its SQLite work runs on a blocking thread ([`blog_runtime::db::run_blocking`]),
/// so a commit waiting for the disk never holds up other requests, and
/// through a lock that does not poison ([`blog_runtime::locks`]), so a
/// request that panicked cannot fail every later one.
#[derive(Clone)]
pub struct ServiceDb {
    conn: SharedDb,
    doorbell: Doorbell,
    path: Arc<PathBuf>,
}

impl ServiceDb {
    /// Opens or creates the file durably, with the outbox table and then the
    /// service's own `schema` (idempotent `CREATE TABLE IF NOT EXISTS ...`).
    pub fn open(path: &Path, schema: &str) -> Result<ServiceDb, OpenError> {
        let conn = open_service_db(path)?;
        conn.execute_batch(schema)
            .map_err(|source| OpenError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
        Ok(ServiceDb {
            conn: Arc::new(Mutex::new(conn)),
            doorbell: Doorbell::default(),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// Runs `work` on the connection, on a blocking thread.
    pub async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.clone();
        blog_runtime::db::run_blocking(move || work(&mut blog_runtime::locks::lock(&conn))).await
    }

    /// Wakes the relay: call it after a commit that enqueued events.
    pub fn ring(&self) {
        self.doorbell.ring();
    }

    /// Ready while the file can be written: for `/readyz`.
    pub fn readiness(&self) -> Readiness {
        let path = self.path.clone();
        Readiness::ready().with_check(move || blog_runtime::db::check_writable(&path))
    }

    /// Starts the outbox relay for this database (see [`spawn_relay`]).
    pub fn spawn_relay(
        &self,
        publisher: Arc<dyn Publisher>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        spawn_relay(
            self.conn.clone(),
            publisher,
            self.doorbell.clone(),
            shutdown,
        )
    }
}

// ANCHOR: bounded
/// The most events an outbox holds. A service whose outbox is this full
/// refuses new writes ([`is_full`]) until the relay has delivered some.
///
/// Why refuse rather than queue? The outbox fills only when the bus takes
/// events more slowly than the service makes them (the bus is down, or
/// overloaded). Accepting more would promise a reader comments the rest of
/// the system will only see minutes later, and grow the file without end.
/// A 503 with `Retry-After` says the truth at once: not now, try again
/// soon. Ten thousand events is a few seconds of the busiest load the
/// benchmark reaches, and a few megabytes of disk.
pub const OUTBOX_LIMIT: i64 = 10_000;

/// Adds an event to the outbox. Call it inside the transaction that changes
/// the data the event announces: if the outbox is full it fails with an
/// error that [`is_full`] recognises, and the transaction is abandoned, so
/// nothing is written.
pub fn enqueue(conn: &Connection, event: &Event) -> rusqlite::Result<()> {
    // The rows are deleted oldest first, so the seqs left form one range:
    // its width is their number, found in two index lookups, not a count.
    let waiting: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM outbox",
        [],
        |row| row.get(0),
    )?;
    if waiting >= OUTBOX_LIMIT {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some(OUTBOX_FULL.to_string()),
        ));
    }
    conn.execute(
        "INSERT INTO outbox (event) VALUES (?1)",
        params![event.to_json()],
    )?;
    Ok(())
}

const OUTBOX_FULL: &str = "the outbox is full: the event bus is not taking events fast enough";

/// Whether `error` is [`enqueue`] refusing an event because the outbox
/// holds [`OUTBOX_LIMIT`] already: answer 503 with `Retry-After`, not 500.
pub fn is_full(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(_, Some(message)) if message == OUTBOX_FULL)
}
// ANCHOR_END: bounded

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

/// What one pass of the relay achieved.
enum Pass {
    /// The outbox is empty: wait for the doorbell.
    Idle,
    /// Events were published and deleted: go on at once.
    Sent,
    /// Something failed; the events are still in the outbox. Wait a while.
    Failed,
}

/// Starts the relay: publishes the outbox in order until `shutdown` turns true.
pub fn spawn_relay(
    db: SharedDb,
    publisher: Arc<dyn Publisher>,
    doorbell: Doorbell,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pauses = Backoff::new(FIRST_RETRY, LONGEST_RETRY);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match relay_once(&db, publisher.as_ref()).await {
                Pass::Sent => pauses.reset(),
                Pass::Idle => {
                    pauses.reset();
                    tokio::select! {
                        _ = doorbell.0.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                Pass::Failed => {
                    tokio::select! {
                        _ = tokio::time::sleep(pauses.next_delay()) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    })
}

/// Reads a batch from the outbox, publishes it and deletes it.
async fn relay_once(db: &SharedDb, publisher: &dyn Publisher) -> Pass {
    let batch = match blocking(db, read_batch).await {
        Ok(batch) => batch,
        Err(error) => {
            tracing::error!(%error, "could not read the outbox; will retry");
            return Pass::Failed;
        }
    };
    if batch.is_empty() {
        return Pass::Idle;
    }
    // The whole batch goes in one request (one commit at the bus); rows
    // are deleted only after the bus has said it has them all. Keep each
    // request well under the services' 64 KiB body limit.
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
    let mut ids = Vec::with_capacity(batch.len());
    let mut unreadable = Vec::new();
    for (seq, json) in &batch {
        match serde_json::from_str::<Event>(json) {
            Ok(event) => {
                events.push(event);
                ids.push(*seq);
            }
            Err(error) => {
                // Only this crate writes the outbox, so this means a
                // corrupted row; keeping it would block every later event.
                tracing::error!(seq, %error, "dropping an unreadable outbox row");
                unreadable.push(*seq);
            }
        }
    }
    let last = batch.last().map(|(seq, _)| *seq).unwrap_or_default();
    if let Err(error) = publisher.publish_outbox(&ids, &events).await {
        tracing::warn!(%error, "events not delivered yet; will retry");
        blocking(db, move |conn| {
            for seq in unreadable {
                delete_one(conn, seq);
            }
        })
        .await;
        return Pass::Failed;
    }
    match blocking(db, move |conn| delete_through(conn, last)).await {
        Ok(()) => Pass::Sent,
        Err(error) => {
            tracing::error!(seq = last, %error, "could not delete delivered events; they will be sent again after a pause");
            Pass::Failed
        }
    }
}

/// Runs `work` on the outbox's connection on a blocking thread: SQLite's
/// calls (and a commit's fsync) must not stall the async workers that serve
/// requests.
async fn blocking<T: Send + 'static>(
    db: &SharedDb,
    work: impl FnOnce(&Connection) -> T + Send + 'static,
) -> T {
    let db = db.clone();
    blog_runtime::db::run_blocking(move || work(&blog_runtime::locks::lock(&db))).await
}

fn read_batch(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut statement = conn.prepare("SELECT seq, event FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = statement.query_map(params![BATCH as i64], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Deletes every row up to and including `seq` in one commit.
fn delete_through(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM outbox WHERE seq <= ?1", params![seq])?;
    Ok(())
}

fn delete_one(conn: &Connection, seq: i64) {
    if let Err(error) = conn.execute("DELETE FROM outbox WHERE seq = ?1", params![seq]) {
        tracing::error!(seq, %error, "could not delete an unreadable event");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::publish::PublishFuture;
    use crate::{PostCreated, PublishError};

    /// A bus that takes everything and counts how many times it was asked.
    #[derive(Default)]
    struct CountingBus(AtomicUsize);

    impl Publisher for CountingBus {
        fn publish<'a>(&'a self, _event: &'a Event) -> PublishFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            // A real bus takes a moment to answer; this lets the test run too.
            Box::pin(async {
                tokio::task::yield_now().await;
                Ok::<(), PublishError>(())
            })
        }
    }

    fn outbox_len(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_full_outbox_refuses_events_until_the_relay_has_sent_some() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_service_db(&dir.path().join("service.db")).unwrap();
        let event = Event::PostCreated(PostCreated {
            id: "p1".into(),
            title: "Hello".into(),
        });
        conn.execute_batch("BEGIN").unwrap();
        for _ in 0..OUTBOX_LIMIT {
            enqueue(&conn, &event).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let error = enqueue(&conn, &event).unwrap_err();
        assert!(is_full(&error), "{error}");
        assert_eq!(outbox_len(&conn), OUTBOX_LIMIT);
        // Not every SQLite error is a full outbox.
        assert!(!is_full(&rusqlite::Error::QueryReturnedNoRows));
        // Once the relay has delivered (and deleted) the oldest, there is room.
        delete_through(&conn, 1).unwrap();
        enqueue(&conn, &event).unwrap();
    }

    #[tokio::test]
    async fn events_that_cannot_be_deleted_are_not_republished_in_a_tight_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        let conn = open_service_db(&path).unwrap();
        // Fail at once when the file is locked, as a read-only or full disk
        // would, instead of waiting for the lock.
        conn.busy_timeout(Duration::ZERO).unwrap();
        let event = Event::PostCreated(PostCreated {
            id: "p1".into(),
            title: "Hello".into(),
        });
        enqueue(&conn, &event).unwrap();
        // Someone else holds the write lock: reading works, deleting cannot.
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

        let db: SharedDb = Arc::new(Mutex::new(conn));
        let bus = Arc::new(CountingBus::default());
        let (stop, shutdown) = watch::channel(false);
        let relay = spawn_relay(db.clone(), bus.clone(), Doorbell::default(), shutdown);

        let watched = Duration::from_millis(1500);
        let started = Instant::now();
        while started.elapsed() < watched {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let publishes = bus.0.load(Ordering::SeqCst);
        assert!(
            publishes >= 2,
            "the relay keeps trying: {publishes} publish(es)"
        );
        // Backoff from 50 ms, doubling up to 2 s: at most about 6 tries in
        // 1.5 s. A tight loop makes thousands.
        assert!(
            publishes <= 10,
            "the relay republished the same event {publishes} times in {watched:?}: it must back off when it cannot delete"
        );

        // The lock is released: the event is deleted, and publishing stops.
        holder.execute_batch("COMMIT").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while outbox_len(&db.lock().unwrap()) > 0 {
            assert!(Instant::now() < deadline, "the event was never deleted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let after = bus.0.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            bus.0.load(Ordering::SeqCst),
            after,
            "once deleted, it is not sent again"
        );
        stop.send_replace(true);
        relay.await.unwrap();
    }
}
