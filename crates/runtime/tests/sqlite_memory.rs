//! `memory::limit_sqlite_preallocation`, in a test binary of its own: the
//! setting is global to the process and SQLite takes it only before its
//! first connection, so no other test may open one first.

use rusqlite::Connection;

/// Bytes SQLite holds right now, as its own allocator counts them.
fn sqlite_bytes() -> i64 {
    // SAFETY: reads a counter; callable at any time, from any thread.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

#[test]
fn an_idle_connection_holds_only_what_it_has_read() {
    blog_runtime::memory::limit_sqlite_preallocation();
    let dir = tempfile::tempdir().unwrap();
    let before = sqlite_bytes();
    let conn = Connection::open(dir.path().join("idle.db")).unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    let one: i64 = conn
        .query_row("SELECT x FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(one, 1);
    let held = sqlite_bytes() - before;
    // SQLite's defaults set aside a 20-page cache block (about 87 KB) and a
    // 48 KB lookaside pool as the connection opens: about 140 KB before the
    // schema. Read page by page, a connection that has touched two pages
    // holds a few dozen KB.
    assert!(
        held < 64 * 1024,
        "one idle connection holds {held} bytes of SQLite memory; limit_sqlite_preallocation \
         should have stopped it setting aside a page-cache block and a large lookaside pool"
    );
    drop(conn);
}
