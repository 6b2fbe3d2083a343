//! The event log on disk: the one thing the bus owns.
//!
//! Four tables in `$DATA_DIR/event-bus.db`:
//!
//! - `events`: every event ever accepted, numbered by `seq` (1, 2, 3, ...).
//!   Rows are only ever added, never changed or removed, so the log can be
//!   replayed from any point.
//! - `cursors`: for each subscriber, the last `seq` it has acknowledged.
//!   A cursor lives in the same file as the events so that both survive a
//!   restart together: after a crash, each subscriber resumes where it was
//!   instead of getting the whole history again (or, worse, nothing).
//! - `parked`: the dead letters, events a subscriber refused for good (see
//!   [`crate::parked`]).
//! - `meta`: the log's identity, a random id drawn when the file is created
//!   (see [`log_id`]).
//!
//! Every function takes a plain [`Connection`]; who owns the connection and
//! on which thread it runs is decided elsewhere ([`crate::writer`],
//! [`crate::delivery`], [`crate::handlers`]).

use std::path::Path;

use blog_runtime::db::{OpenError, open_durable};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::EventType;

/// An event the bus has accepted but not numbered yet.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: EventType,
    pub data: serde_json::Value,
}

/// An event as the log holds it, and as `GET /events` and the delivery to
/// subscribers show it: `{"type","data","seq"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
    /// Increases by one with every event; a consumer can use it to spot a
    /// duplicate (at-least-once delivery may send an event twice).
    pub seq: u64,
}

/// An event on its way out, to a subscriber or to `GET /events`: the stored
/// event and the id of the log it comes from,
/// `{"type","data","seq","logId"}`.
///
/// A `seq` only means something within one log. A consumer that remembers
/// "I have seen up to seq 4,000" must notice when the log it reads is a
/// different one (the bus's data was deleted and it started again from 1):
/// the `logId` tells it, and it can then rebuild instead of ignoring every
/// event up to 4,000.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct WireEvent<'a> {
    #[serde(flatten)]
    pub event: &'a StoredEvent,
    #[serde(rename = "logId")]
    pub log_id: &'a str,
}

/// The tables, created when the file is new. `CREATE ... IF NOT EXISTS`, so
/// opening an older log adds what it lacks and keeps what it has.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        -- AUTOINCREMENT: a seq is never handed out twice, not even for
        -- the last row of a log that was somehow truncated.
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cursors (
        subscriber TEXT PRIMARY KEY,
        delivered  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS parked (
        subscriber TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        attempts   INTEGER NOT NULL,
        error      TEXT NOT NULL,
        parked_at  INTEGER NOT NULL,  -- milliseconds since 1970
        PRIMARY KEY (subscriber, seq)
    );
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );";

/// Opens (or creates) the log at `path`.
///
/// [`open_durable`] makes each commit wait until the data is on the disk
/// itself, not just handed to the operating system: the bus answers "OK"
/// only after a commit, so an acknowledged event survives even a power cut.
/// Its write-ahead log lets readers (`GET /events`, the delivery tasks) work
/// while the writer commits.
pub fn open(path: &Path) -> Result<Connection, OpenError> {
    open_durable(path, SCHEMA)
}

/// The id of this log: 32 lowercase hex characters, drawn at random the
/// first time the file is opened and kept in it from then on. A deleted
/// and recreated log gets a new one.
pub fn log_id(conn: &Connection) -> rusqlite::Result<String> {
    let fresh = random_id();
    // Only the first writer's id sticks; every later call reads it back.
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?1)",
        params![fresh],
    )?;
    conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |row| {
        row.get(0)
    })
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides random numbers");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ANCHOR: append_batch
/// Appends events in one transaction and returns their sequence numbers, in
/// the same order. Either all of them are on disk afterwards or none is.
///
/// One transaction for many events is what makes the bus fast: the expensive
/// part of a durable commit is waiting for the disk, and that wait is the
/// same for one event or for a thousand.
pub fn append_batch(conn: &mut Connection, events: &[NewEvent]) -> rusqlite::Result<Vec<u64>> {
    // IMMEDIATE takes the write lock up front, so the commit cannot fail
    // half-way because a cursor update got in first.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut seqs = Vec::with_capacity(events.len());
    {
        let mut insert = tx.prepare("INSERT INTO events (type, data) VALUES (?1, ?2)")?;
        for event in events {
            insert.execute(params![event.kind.as_str(), event.data.to_string()])?;
            seqs.push(tx.last_insert_rowid() as u64);
        }
    }
    tx.commit()?;
    Ok(seqs)
}
// ANCHOR_END: append_batch

// ANCHOR: read_page
/// Up to `limit` events with `seq > after`, oldest first.
pub fn read_page(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut select =
        conn.prepare("SELECT seq, type, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = select.query_map(params![after as i64, limit], |row| {
        let data: String = row.get(2)?;
        Ok(StoredEvent {
            seq: row.get::<_, i64>(0)? as u64,
            kind: row.get(1)?,
            // Only `append_batch` writes this column, always valid JSON.
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        })
    })?;
    rows.collect()
}
// ANCHOR_END: read_page

/// The newest sequence number, 0 for an empty log.
pub fn last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    let last: Option<i64> = conn.query_row("SELECT MAX(seq) FROM events", [], |row| row.get(0))?;
    Ok(last.unwrap_or(0) as u64)
}

/// The last sequence number `subscriber` acknowledged; 0 for a subscriber
/// never seen before, so a new subscriber gets the whole history.
pub fn load_cursor(conn: &Connection, subscriber: &str) -> rusqlite::Result<u64> {
    let delivered: Option<i64> = conn
        .query_row(
            "SELECT delivered FROM cursors WHERE subscriber = ?1",
            params![subscriber],
            |row| row.get(0),
        )
        .optional()?;
    Ok(delivered.unwrap_or(0) as u64)
}

/// Remembers that `subscriber` has acknowledged every event up to `delivered`.
pub fn save_cursor(conn: &Connection, subscriber: &str, delivered: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO cursors (subscriber, delivered) VALUES (?1, ?2)
         ON CONFLICT (subscriber) DO UPDATE SET delivered = excluded.delivered",
        params![subscriber, delivered as i64],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, n: u64) -> NewEvent {
        NewEvent {
            kind: EventType::parse(kind).unwrap(),
            data: json!({ "n": n }),
        }
    }

    #[test]
    fn appends_number_events_in_order_and_pages_read_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("bus.db")).unwrap();
        assert_eq!(last_seq(&conn).unwrap(), 0);
        assert_eq!(
            append_batch(&mut conn, &[event("A", 1), event("B", 2)]).unwrap(),
            vec![1, 2]
        );
        assert_eq!(append_batch(&mut conn, &[event("C", 3)]).unwrap(), vec![3]);
        assert_eq!(last_seq(&conn).unwrap(), 3);

        let page = read_page(&conn, 1, 10).unwrap();
        let seqs: Vec<u64> = page.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(page[0].kind, "B");
        assert_eq!(page[0].data, json!({ "n": 2 }));
        assert_eq!(read_page(&conn, 0, 1).unwrap().len(), 1);
        assert!(read_page(&conn, 3, 10).unwrap().is_empty());
    }

    #[test]
    fn a_log_keeps_its_id_and_a_new_log_gets_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        let id = log_id(&open(&path).unwrap()).unwrap();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(log_id(&open(&path).unwrap()).unwrap(), id);
        std::fs::remove_file(&path).unwrap();
        assert_ne!(log_id(&open(&path).unwrap()).unwrap(), id);
    }

    #[test]
    fn cursors_start_at_zero_and_remember_the_last_save() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("bus.db")).unwrap();
        assert_eq!(load_cursor(&conn, "http://a").unwrap(), 0);
        save_cursor(&conn, "http://a", 5).unwrap();
        save_cursor(&conn, "http://a", 7).unwrap();
        assert_eq!(load_cursor(&conn, "http://a").unwrap(), 7);
        assert_eq!(load_cursor(&conn, "http://b").unwrap(), 0);
    }
}
