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
//! One more case needs care: a batch from the bus (`POST /events/batch`).
//! Its handler applies the events one after the other, each waiting for the
//! one before, so they never wait for the writer *together*, and each would
//! pay a flush of its own. [`Writer::one_commit`] runs the whole batch as
//! one unit instead: its writes are answered as soon as they are done, in
//! the writer's open transaction, and the batch is answered only once the
//! commit holding all of them is on disk. "Acknowledged means on disk"
//! still holds: the bus hears "OK" for a batch after its flush, never before.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use blog_events::outbox::ServiceDb;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// The longest a batch may keep the transaction open between two of its
/// writes before the writer commits what it has (the batch then goes on in
/// a new transaction). Normally the next write comes within microseconds.
const LONGEST_OPEN: Duration = Duration::from_millis(10);

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

enum Message {
    /// A write. `unit` names the [`Writer::one_commit`] it belongs to, if any.
    Write { job: Job, unit: Option<u64> },
    /// The unit is done: answer once everything it wrote is on disk.
    Close {
        unit: u64,
        durable: oneshot::Sender<Result<(), CommitError>>,
    },
}

/// The handlers' side of the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Message>,
    commits: Arc<AtomicU64>,
    lost: Lost,
}

tokio::task_local! {
    /// The [`Writer::one_commit`] the current task is running, if any.
    static UNIT: Unit;
}

#[derive(Clone)]
struct Unit {
    id: u64,
    wrote: Arc<AtomicBool>,
}

static UNITS: AtomicU64 = AtomicU64::new(1);

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
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `work` in the writer's next transaction and answers its result
    /// once that transaction is on disk. Inside [`Writer::one_commit`], it
    /// answers as soon as `work` is done, and the unit waits for the disk.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let unit = UNIT
            .try_with(|unit| {
                unit.wrote.store(true, Ordering::SeqCst);
                unit.id
            })
            .ok();
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
        self.queue
            .send(Message::Write { job, unit })
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }

    /// Runs `work` (a handler, or part of one) so that all the writes it
    /// makes share commits: each is answered once done, and this returns
    /// only once all of them are on disk. If they cannot be made durable,
    /// the answer is that error, whatever `work` answered.
    pub async fn one_commit<T>(&self, work: impl Future<Output = T>) -> rusqlite::Result<T> {
        let unit = Unit {
            id: UNITS.fetch_add(1, Ordering::Relaxed),
            wrote: Arc::default(),
        };
        let answer = UNIT.scope(unit.clone(), work).await;
        if !unit.wrote.load(Ordering::SeqCst) {
            return Ok(answer);
        }
        let (durable, on_disk) = oneshot::channel();
        self.queue
            .send(Message::Close {
                unit: unit.id,
                durable,
            })
            .map_err(|_| stopped())?;
        match on_disk.await {
            Ok(Ok(())) => Ok(answer),
            Ok(Err(error)) => Err(error.into_error()),
            Err(_) => Err(stopped()),
        }
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
    mut waiting: mpsc::UnboundedReceiver<Message>,
    commits: Arc<AtomicU64>,
    lost: Lost,
) {
    // Units whose writes were answered, then lost with a failed commit,
    // before they closed: their close must fail too.
    let mut lost_units = Vec::new();
    // Sleep until something waits (no polling), then hold the lock for one group.
    while let Some(first) = waiting.recv().await {
        let runtime = tokio::runtime::Handle::current();
        let on_lost = lost.clone();
        let group = db.with_conn(move |conn| {
            let wrote = run_group(
                conn,
                first,
                &mut waiting,
                &mut lost_units,
                &runtime,
                &*on_lost,
            );
            Ok((waiting, lost_units, wrote))
        });
        let Ok((back, still_lost, wrote)) = group.await else {
            return;
        };
        (waiting, lost_units) = (back, still_lost);
        if wrote {
            commits.fetch_add(1, Ordering::Relaxed);
            // Wake the relay: the group's events are committed.
            db.ring();
        }
    }
}

/// One transaction: the first message and everything that follows while
/// it is open. Answers whether anything was committed.
fn run_group(
    conn: &Connection,
    first: Message,
    waiting: &mut mpsc::UnboundedReceiver<Message>,
    lost: &mut Vec<u64>,
    runtime: &tokio::runtime::Handle,
    on_lost: &dyn Fn(),
) -> bool {
    let mut group = Group::default();
    let begun = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| CommitError::new(&e));
    let mut next = Some(first);
    loop {
        while let Some(message) = next.take() {
            match message {
                Message::Close { unit, durable } if lost.contains(&unit) => {
                    lost.retain(|id| *id != unit);
                    let _ = durable.send(Err(CommitError {
                        code: rusqlite::ErrorCode::SystemIoFailure,
                        message: "an earlier commit of this batch failed".into(),
                    }));
                }
                message if begun.is_ok() => group.take(conn, message),
                // Nothing can be written: every write and unit fails.
                message => group.refuse(message),
            }
            if group.writes >= MAX_GROUP {
                break;
            }
            next = waiting.try_recv().ok();
        }
        // Commit unless only units are open, nobody waits for the disk, and
        // the next write of one of them is (probably) on its way.
        if group.writes < MAX_GROUP && group.may_wait() {
            let deadline = Instant::now() + LONGEST_OPEN;
            let more = runtime
                .block_on(async { tokio::time::timeout_at(deadline.into(), waiting.recv()).await });
            if let Ok(Some(message)) = more {
                next = Some(message);
                continue;
            }
        }
        break;
    }
    let committed = match begun {
        Ok(()) => conn.execute_batch("COMMIT").map_err(|error| {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(%error, "could not commit comments' writes");
            CommitError::new(&error)
        }),
        Err(error) => Err(error),
    };
    if committed.is_err() {
        lost.extend(group.open_units.iter().copied());
        on_lost();
    }
    let wrote = committed.is_ok() && group.writes > 0;
    group.finish(committed);
    wrote
}

/// What one transaction holds so far.
#[derive(Default)]
struct Group {
    /// How to answer each write, once the commit is done.
    finishes: Vec<Finish>,
    /// Units that wrote in this transaction and are not closed yet.
    open_units: Vec<u64>,
    /// Units closed: they wait for the commit.
    closed: Vec<oneshot::Sender<Result<(), CommitError>>>,
    writes: usize,
    /// Whether a write outside any unit waits for the commit.
    plain_waiting: bool,
}

impl Group {
    fn take(&mut self, conn: &Connection, message: Message) {
        match message {
            Message::Write { job, unit } => {
                self.writes += 1;
                let finish = job(Some(conn));
                match unit {
                    // A unit's write is answered now; the unit waits at its close.
                    Some(id) => {
                        finish(Ok(()));
                        if !self.open_units.contains(&id) {
                            self.open_units.push(id);
                        }
                    }
                    None => {
                        self.plain_waiting = true;
                        self.finishes.push(finish);
                    }
                }
            }
            Message::Close { unit, durable } => {
                self.open_units.retain(|open| *open != unit);
                self.closed.push(durable);
            }
        }
    }

    /// The transaction did not begin: the write is not run, and the commit's
    /// error (the same one) answers it.
    fn refuse(&mut self, message: Message) {
        match message {
            Message::Write { job, .. } => {
                self.writes += 1;
                self.finishes.push(job(None));
            }
            Message::Close { durable, .. } => self.closed.push(durable),
        }
    }

    fn may_wait(&self) -> bool {
        !self.open_units.is_empty() && !self.plain_waiting && self.closed.is_empty()
    }

    fn finish(self, committed: Result<(), CommitError>) {
        for finish in self.finishes {
            finish(committed.clone());
        }
        for durable in self.closed {
            let _ = durable.send(committed.clone());
        }
    }
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
}
