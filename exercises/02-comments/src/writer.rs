//! Group commit for the comments database: many writes, one disk flush.
//!
//! A durable commit waits for the disk (`synchronous = FULL`), and on a
//! small machine that wait is several milliseconds. If every new comment and
//! every moderation decision committed on its own, comments could not store
//! more than a few hundred of them a second, however idle its CPU. So every
//! write goes through one writer, as the bus's log does (chapter 3): the
//! writer takes *everything that is waiting*, runs each write in its own
//! savepoint of one transaction, commits once and only then answers them
//! all. A write that fails (a full outbox) is rolled back to its savepoint
//! and answered with its error; the others go on.
//!
//! A batch of events from the bus (`POST /events/batch`) is one write: all
//! its events are applied in one job, so the whole batch shares one commit,
//! and the bus hears "OK" only once that commit is on disk.
//!
//! While a transaction is open the writer holds the database's lock, so the
//! outbox relay never reads an event that is not committed yet.
//!
//! A write may also keep something in memory that mirrors the database (the
//! encoded comment lists, [`crate::lists`]). When a transaction fails after
//! its writes ran, the writer calls the `lost` function it was started
//! with, so that memory forgets what the database did not keep.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use blog_events::outbox::ServiceDb;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// The most writes one transaction takes: bounds how long it holds the lock.
const MAX_GROUP: usize = 1000;

/// A write, run on the connection inside its savepoint (or not at all, when
/// `None`: the transaction could not begin). What it answers is the function
/// that sends its result, once the commit's outcome is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), CommitError>) + Send>;
/// Called when writes that ran were undone after all (see the module's docs).
pub type Lost = Arc<dyn Fn() + Send + Sync>;

/// Why a commit failed, for every write that was in it.
#[derive(Clone, Debug)]
struct CommitError {
    code: rusqlite::ffi::ErrorCode,
    message: String,
}

impl CommitError {
    fn new(error: &rusqlite::Error) -> CommitError {
        CommitError {
            code: error
                .sqlite_error_code()
                .unwrap_or(rusqlite::ErrorCode::Unknown),
            message: error.to_string(),
        }
    }

    fn into_error(self) -> rusqlite::Error {
        let extended = match self.code {
            rusqlite::ErrorCode::DiskFull => rusqlite::ffi::SQLITE_FULL,
            rusqlite::ErrorCode::DatabaseBusy => rusqlite::ffi::SQLITE_BUSY,
            rusqlite::ErrorCode::DatabaseLocked => rusqlite::ffi::SQLITE_LOCKED,
            rusqlite::ErrorCode::ReadOnly => rusqlite::ffi::SQLITE_READONLY,
            _ => rusqlite::ffi::SQLITE_IOERR,
        };
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(extended),
            Some(format!("the commit failed: {}", self.message)),
        )
    }
}

/// The handlers' side of the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
    lost: Lost,
}

impl Writer {
    /// Starts the writer of `db`. It ends once every `Writer` is dropped,
    /// after answering what was queued. It calls `lost` whenever writes that
    /// ran are undone after all (a failed commit).
    pub fn start(db: ServiceDb, lost: Lost) -> Writer {
        let (queue, waiting) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(db, waiting, commits.clone(), lost.clone()));
        Writer {
            queue,
            commits,
            lost,
        }
    }

    /// How many transactions with writes in them it has committed so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Runs `work` in the writer's next transaction and answers its result
    /// once that transaction is on disk.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let (answer, result) = oneshot::channel();
        let lost = self.lost.clone();
        let job: Job = Box::new(move |conn| {
            // Without a connection the commit's error is the answer.
            let outcome =
                conn.map_or_else(|| Err(stopped()), |conn| in_savepoint(conn, work, &*lost));
            Box::new(move |committed: Result<(), CommitError>| {
                let _ = answer.send(committed.map_err(CommitError::into_error).and(outcome));
            })
        });
        self.queue.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

fn stopped() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the comments database writer has stopped".into()),
    )
}

/// Runs `work` in a savepoint: what it did is kept if it succeeds, undone
/// if it fails or panics, and the transaction goes on either way. If it
/// succeeded but cannot be kept after all, `lost` is told.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    lost: &dyn Fn(),
) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT write")?;
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
            lost();
            std::panic::resume_unwind(panic)
        }
    };
    match &outcome {
        Ok(_) => conn
            .execute_batch("RELEASE write")
            .inspect_err(|_| lost())?,
        Err(_) => conn.execute_batch("ROLLBACK TO write; RELEASE write")?,
    }
    outcome
}

async fn run(
    db: ServiceDb,
    mut waiting: mpsc::UnboundedReceiver<Job>,
    commits: Arc<AtomicU64>,
    lost: Lost,
) {
    // Sleep until something waits (no polling), then hold the lock for one group.
    while let Some(first) = waiting.recv().await {
        let (lost, counted) = (lost.clone(), commits.clone());
        let group = db.with_conn(move |conn| {
            let wrote = run_group(conn, first, &mut waiting, &*lost, &counted);
            Ok((waiting, wrote))
        });
        let Ok((back, wrote)) = group.await else {
            return;
        };
        waiting = back;
        if wrote {
            // Wake the relay: the group's events are committed.
            db.ring();
        }
    }
}

/// One transaction: the first write and every write waiting behind it.
/// Answers whether anything was committed; a commit is counted in `commits`
/// before its writes hear of it, so whoever was answered sees it counted.
fn run_group(
    conn: &Connection,
    first: Job,
    waiting: &mut mpsc::UnboundedReceiver<Job>,
    lost: &dyn Fn(),
    commits: &AtomicU64,
) -> bool {
    let begun = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| CommitError::new(&e));
    let mut finishes = Vec::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        // Without a transaction nothing can be written: every write gets
        // the error that prevented it.
        finishes.push(job(begun.as_ref().ok().map(|()| conn)));
        if finishes.len() < MAX_GROUP {
            next = waiting.try_recv().ok();
        }
    }
    let committed = match begun {
        Ok(()) => conn.execute_batch("COMMIT").map_err(|error| {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(%error, "could not commit comments' writes");
            lost();
            CommitError::new(&error)
        }),
        Err(error) => Err(error),
    };
    let wrote = committed.is_ok();
    if wrote {
        commits.fetch_add(1, Ordering::SeqCst);
    }
    for finish in finishes {
        finish(committed.clone());
    }
    wrote
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A database whose `COMMIT` fails on demand: a deferred foreign key is
    /// checked only at the commit, after the write that breaks it ran fine.
    fn database(dir: &std::path::Path) -> ServiceDb {
        ServiceDb::open(
            &dir.join("w.db"),
            "PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS parents (id INTEGER PRIMARY KEY);
             CREATE TABLE IF NOT EXISTS children (
                 parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED
             );",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_failed_commit_fails_its_writes_and_tells_lost_a_good_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let told = Arc::new(AtomicUsize::new(0));
        let counter = told.clone();
        let writer = Writer::start(
            database(dir.path()),
            Arc::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        writer
            .write(|conn| conn.execute("INSERT INTO parents (id) VALUES (1)", []))
            .await
            .unwrap();
        assert_eq!(told.load(Ordering::SeqCst), 0, "nothing was lost");

        // The write itself succeeds; the commit holding it does not.
        let failed = writer
            .write(|conn| conn.execute("INSERT INTO children (parent) VALUES (99)", []))
            .await;
        assert!(
            failed.is_err(),
            "a write whose commit failed is not acknowledged"
        );
        assert_eq!(told.load(Ordering::SeqCst), 1, "lost is told once");

        // A write that fails on its own is undone in its savepoint: nothing
        // it did was ever shown as done, so lost is not told.
        let refused = writer
            .write(|conn| conn.execute("INSERT INTO nowhere VALUES (1)", []))
            .await;
        assert!(refused.is_err());
        assert_eq!(told.load(Ordering::SeqCst), 1);
        let children: i64 = writer
            .write(|conn| conn.query_row("SELECT count(*) FROM children", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(children, 0, "the failed commit kept nothing");
    }

    #[tokio::test]
    async fn writes_waiting_together_share_one_commit_and_a_failing_one_is_alone_in_failing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(database(dir.path()), Arc::new(|| {}));
        writer
            .write(|conn| conn.execute("INSERT INTO parents (id) VALUES (1)", []))
            .await
            .unwrap();
        let before = writer.commits();
        let writes: Vec<_> = (0..50)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |conn| {
                            if n == 7 {
                                conn.execute("INSERT INTO nowhere VALUES (1)", [])
                            } else {
                                conn.execute("INSERT INTO children (parent) VALUES (1)", [])
                            }
                        })
                        .await
                })
            })
            .collect();
        let mut failed = 0;
        for write in writes {
            failed += usize::from(write.await.unwrap().is_err());
        }
        assert_eq!(failed, 1, "only the bad write fails");
        let commits = writer.commits() - before;
        assert!(commits < 25, "50 writes took {commits} commits");
        let children: i64 = writer
            .write(|conn| conn.query_row("SELECT count(*) FROM children", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(children, 49);
    }
}
