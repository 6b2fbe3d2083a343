//! The transactional outbox: never lose an event a service has promised.
//!
//! The naive way to announce a new post is "store it, then POST the event to
//! the bus". If the bus is down at that moment, the post exists but nobody
//! ever hears about it. The outbox closes that gap: the service writes the
//! post *and* the event into its own database in one transaction, so either
//! both exist or neither does. A relay task then reads the outbox in order,
//! publishes each event and deletes it only once the bus has acknowledged
//! it, retrying with backoff while the bus is away.
//!
//! This module is the table and the doorbell; the relay is the bus's client
//! side, and lives with the bus (`event_bus::relay`, chapter 3), as a
//! broker ships its client library: what "acknowledged" means is the bus's
//! promise, so the code that waits for it belongs to the bus.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blog_runtime::Readiness;
use blog_runtime::db::OpenError;
use rusqlite::{Connection, params};
use tokio::sync::Notify;

use crate::Event;

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

    /// Resolves once [`ServiceDb::ring`] was called since the last time it
    /// resolved (at once, if it was rung while nobody waited): the relay
    /// waits here while the outbox is empty.
    pub async fn doorbell_rung(&self) {
        self.doorbell.0.notified().await;
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
    // (Two subqueries: SQLite answers a lone MIN or MAX from the index, but
    // `MAX(seq) - MIN(seq)` in one SELECT would scan the whole table.)
    let waiting: i64 = conn.query_row(WAITING, [], |row| row.get(0))?;
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

/// How many events wait in the outbox (see [`enqueue`]).
const WAITING: &str =
    "SELECT COALESCE((SELECT MAX(seq) FROM outbox) - (SELECT MIN(seq) FROM outbox) + 1, 0)";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostCreated;

    fn outbox_len(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn counting_the_waiting_events_reads_the_index_not_the_whole_outbox() {
        // Every new comment counts the outbox: a scan would cost more the
        // further the bus falls behind, just when time is short.
        let dir = tempfile::tempdir().unwrap();
        let conn = open_service_db(&dir.path().join("service.db")).unwrap();
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WAITING}"))
            .unwrap();
        let plan: Vec<String> = statement
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN outbox")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH outbox")),
            "{plan:?}"
        );
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
        conn.execute("DELETE FROM outbox WHERE seq = 1", [])
            .unwrap();
        enqueue(&conn, &event).unwrap();
    }
}
