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
    #[error("the database {path} cannot use write-ahead logging (journal mode is {mode:?}); keep DATA_DIR on a local disk")]
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
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
    conn.execute_batch(schema).map_err(sqlite)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_with_full_sync_and_runs_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deeper/service.db");
        let conn = open_durable(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        // Opening again keeps the data: the schema is idempotent.
        drop(conn);
        let conn = open_durable(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn an_in_memory_database_is_refused_because_it_cannot_be_durable() {
        let error = open_durable(Path::new(":memory:"), "").unwrap_err();
        assert!(matches!(error, OpenError::NotWal { .. }), "{error}");
    }
}
