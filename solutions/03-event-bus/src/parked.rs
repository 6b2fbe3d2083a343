//! Dead letters on disk: the events a subscriber refused for good.
//!
//! A subscriber that answers "never" (a 4xx other than 408 and 429) to an
//! event, again and again, will not change its mind by the thousandth try.
//! Retrying it forever would block every later event for that subscriber;
//! dropping it silently would lose it. So the delivery task *parks* it: one
//! row in the `parked` table (subscriber, seq, how many tries, the last
//! answer), and goes on with the next event. The event itself stays in the
//! log, where it always was; a parked row only points at it.
//!
//! A parked event is visible (`GET /subscribers/{name}/parked`) and can be
//! delivered again once the subscriber is fixed
//! (`POST /subscribers/{name}/parked/redeliver`): then its row is deleted
//! when the subscriber accepts it, or updated if it refuses again.
//!
//! Rows are keyed by the subscriber's URL, like its cursor.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::log::StoredEvent;

/// A parked event, as `GET /subscribers/{name}/parked` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parked {
    #[serde(flatten)]
    pub event: StoredEvent,
    /// How many times it was sent before it was parked: the subscriber's
    /// "never" answers (`DEAD_LETTER_AFTER` of them), and any "try again".
    pub attempts: u32,
    /// The subscriber's last answer, as the bus saw it.
    pub error: String,
    /// When it was parked, in milliseconds since 1970.
    pub parked_at: u64,
}

/// Sets `seq` aside for `subscriber`. Parking it again (after a failed
/// redelivery, or after a crash made the bus try it again) only updates it.
pub fn park(
    conn: &Connection,
    subscriber: &str,
    seq: u64,
    attempts: u32,
    error: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO parked (subscriber, seq, attempts, error, parked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (subscriber, seq) DO UPDATE SET
             attempts = excluded.attempts, error = excluded.error,
             parked_at = excluded.parked_at",
        params![subscriber, seq as i64, attempts, error, now_millis()],
    )?;
    Ok(())
}

/// The subscriber took it after all: it is no longer parked.
pub fn release(conn: &Connection, subscriber: &str, seq: u64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM parked WHERE subscriber = ?1 AND seq = ?2",
        params![subscriber, seq as i64],
    )?;
    Ok(())
}

/// How many events are parked for `subscriber`.
pub fn count(conn: &Connection, subscriber: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM parked WHERE subscriber = ?1",
        params![subscriber],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Up to `limit` parked events of `subscriber` with `seq > after`, oldest
/// first, each with the event as the log holds it.
pub fn list(
    conn: &Connection,
    subscriber: &str,
    after: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Parked>> {
    let mut select = conn.prepare(
        "SELECT e.seq, e.type, e.data, p.attempts, p.error, p.parked_at
         FROM parked p JOIN events e ON e.seq = p.seq
         WHERE p.subscriber = ?1 AND p.seq > ?2
         ORDER BY p.seq LIMIT ?3",
    )?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = select.query_map(params![subscriber, after, limit], |row| {
        let data: String = row.get(2)?;
        Ok(Parked {
            event: StoredEvent {
                seq: row.get::<_, i64>(0)? as u64,
                kind: row.get(1)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            },
            attempts: row.get(3)?,
            error: row.get(4)?,
            parked_at: row.get::<_, i64>(5)? as u64,
        })
    })?;
    rows.collect()
}

fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;
    use crate::log::{self, NewEvent};

    #[test]
    fn parked_events_are_listed_oldest_first_and_released_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = log::open(&dir.path().join("bus.db")).unwrap();
        let events: Vec<NewEvent> = (1..=3)
            .map(|n| NewEvent {
                kind: EventType::parse("Odd").unwrap(),
                data: serde_json::json!({ "n": n }),
            })
            .collect();
        // Written directly, so this test does not depend on `append_batch`.
        for event in &events {
            conn.execute(
                "INSERT INTO events (type, data) VALUES (?1, ?2)",
                params![event.kind.as_str(), event.data.to_string()],
            )
            .unwrap();
        }
        park(&conn, "http://a", 3, 5, "answered 422").unwrap();
        park(&conn, "http://a", 1, 5, "answered 400").unwrap();
        park(&conn, "http://a", 1, 6, "answered 404").unwrap();
        park(&conn, "http://b", 2, 5, "answered 422").unwrap();

        assert_eq!(count(&conn, "http://a").unwrap(), 2);
        let parked = list(&conn, "http://a", 0, 10).unwrap();
        let seqs: Vec<u64> = parked.iter().map(|p| p.event.seq).collect();
        assert_eq!(seqs, vec![1, 3]);
        assert_eq!(
            (parked[0].attempts, parked[0].error.as_str()),
            (6, "answered 404")
        );
        assert_eq!(parked[0].event.data, serde_json::json!({ "n": 1 }));

        release(&conn, "http://a", 1).unwrap();
        assert_eq!(count(&conn, "http://a").unwrap(), 1);
        assert_eq!(
            count(&conn, "http://b").unwrap(),
            1,
            "other subscribers are untouched"
        );
        let _ = &mut conn;
    }
}
