//! Opening a service's own SQLite database, durably.
//!
//! Every service that keeps data (posts, comments, the bus) opens its file
//! the same way, so "acknowledged means on disk" holds for all of them:
//!
//! - `journal_mode = WAL`: readers do not wait for the writer. It is checked,
//!   not assumed: a file system that cannot do WAL (some network mounts)
//!   would otherwise silently fall back to another mode.
//! - `synchronous = FULL`: a commit returns only once the data is on the
//!   disk itself, so an acknowledged write survives a power cut.
//! - a busy timeout: two connections to one file wait for each other
//!   instead of failing.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data folder {dir}: {source}")]
    CreateDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} cannot use write-ahead logging (journal mode is {mode:?}); keep DATA_DIR on a local disk"
    )]
    NotWal { path: String, mode: String },
}

/// Opens (or creates) the SQLite file at `path`, creating its folder, and
/// runs `schema` (idempotent `CREATE TABLE IF NOT EXISTS ...` statements).
pub fn open_durable(path: &Path, schema: &str) -> Result<Connection, OpenError> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let sqlite = |source| OpenError::Sqlite {
        path: shown.clone(),
        source,
    };
    let conn = Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal { path: shown, mode });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    conn.execute_batch(schema).map_err(sqlite)?;
    Ok(conn)
}

// ANCHOR: run_blocking
/// Runs `work` (SQLite calls) on tokio's blocking threads and waits for it.
///
/// SQLite calls block the thread: a commit waits for the disk
/// (`synchronous = FULL`), a write may wait for another connection's lock.
/// On one of the few async worker threads, that wait would stall every
/// other request the thread serves; on a blocking thread it stalls nothing.
/// A panic in `work` resumes here, in the caller, so a handler's JSON 500
/// still carries its message.
pub async fn run_blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only when the runtime shuts down, which ends the caller too.
            Err(error) => panic!("the database work was cancelled: {error}"),
        },
    }
}
// ANCHOR_END: run_blocking

/// Runs `work` with commits that do not wait for the disk, then makes
/// commits durable again (even if `work` failed).
///
/// Only for writes that are safe to lose in a power cut, because losing
/// them merely repeats work: the relay deleting events the bus already has
/// (lost, they are sent again, and consumers are idempotent). In WAL mode
/// such a commit is still atomic and never corrupts the file; it reaches
/// the disk with the next durable commit, which flushes the whole log.
/// Skipping the flush saves one `fsync` per relay pass.
pub fn without_flush<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let outcome = work(conn);
    conn.pragma_update(None, "synchronous", "FULL")?;
    outcome
}

/// Why a database cannot be written right now.
#[derive(Debug, thiserror::Error)]
#[error("the database {path} cannot be written: {source}")]
pub struct NotWritable {
    pub path: String,
    #[source]
    pub source: rusqlite::Error,
}

/// How long [`check_writable`] waits for another connection's write lock.
/// Short: a service whose writes wait longer than this is not ready.
pub const WRITE_CHECK_WAIT: Duration = Duration::from_millis(250);

// ANCHOR: check_writable
/// Checks, without changing anything, that the database at `path` can be
/// written now: for `/readyz`.
///
/// It opens its own connection (so it never waits for the service's own)
/// and, in a transaction it rolls back, creates a table: that fails if the
/// file or its file system is read-only, if the file is gone, or if another
/// connection holds the write lock longer than [`WRITE_CHECK_WAIT`].
/// (`BEGIN IMMEDIATE` alone would succeed on a read-only file.)
pub fn check_writable(path: &Path) -> Result<(), NotWritable> {
    let failed = |source| NotWritable {
        path: path.display().to_string(),
        source,
    };
    // READ_WRITE without CREATE: a file that has vanished is an error, not a new empty database.
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(failed)?;
    conn.busy_timeout(WRITE_CHECK_WAIT).map_err(failed)?;
    // Dropping the connection rolls back whatever a failure left open.
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE readiness_probe (x INTEGER);
         ROLLBACK;",
    )
    .map_err(failed)
}
// ANCHOR_END: check_writable

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_flush_restores_durable_commits_even_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_durable(&dir.path().join("f.db"), "CREATE TABLE t (x INTEGER);").unwrap();
        let synchronous = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        let inside = without_flush(&conn, |conn| {
            conn.execute("INSERT INTO t VALUES (1)", [])?;
            Ok(synchronous(conn))
        })
        .unwrap();
        assert_eq!(inside, 1, "NORMAL inside");
        assert_eq!(synchronous(&conn), 2, "FULL again after");
        let failed = without_flush(&conn, |conn| {
            conn.execute("INSERT INTO nope VALUES (1)", [])
        });
        assert!(failed.is_err());
        assert_eq!(synchronous(&conn), 2, "FULL again after a failure");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the write made without a flush is there");
    }

    #[test]
    fn opens_in_wal_with_full_sync_and_runs_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deeper/service.db");
        let conn = open_durable(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        // Opening again keeps the data: the schema is idempotent.
        drop(conn);
        let conn = open_durable(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_held_write_lock_or_a_missing_file_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.db");
        let conn = open_durable(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").unwrap();
        check_writable(&path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE;").unwrap();
        let error = check_writable(&path).unwrap_err();
        assert!(error.to_string().contains("locked"), "{error}");
        conn.execute_batch("ROLLBACK;").unwrap();
        check_writable(&path).unwrap();
        // The probe leaves nothing behind.
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'readiness_probe'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
        assert!(check_writable(&dir.path().join("gone.db")).is_err());
    }

    #[test]
    fn an_in_memory_database_is_refused_because_it_cannot_be_durable() {
        let error = open_durable(Path::new(":memory:"), "").unwrap_err();
        assert!(matches!(error, OpenError::NotWal { .. }), "{error}");
    }
}
