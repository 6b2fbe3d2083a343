//! Group commit: one writer, many events per disk flush.
//!
//! The bus may only answer "OK" once an event is on disk, and a durable
//! commit costs a wait for the disk (often a few milliseconds). Committing
//! each request on its own would cap the bus at a few hundred events per
//! second. Instead every handler hands its event to [`Appender::append`],
//! and a single writer thread takes *everything that is waiting*, appends it
//! in one transaction, commits once, and then answers all of those handlers.
//! The busier the bus, the bigger the batches, so throughput grows with load
//! while each event is still durable before its sender hears "OK".
//!
//! A single writer also makes sequence numbers trivially ordered: only one
//! place ever appends to the log.
//!
//! The queue in front of the writer is bounded twice: in requests
//! ([`QUEUE`]) and in bytes ([`QUEUE_BYTES`]). Counting requests alone is not
//! enough: ten thousand waiting batches of 64 KiB each would be 640 MiB.
//! When the bytes run out (the disk is slow, or stuck), a publisher is
//! answered 503 with `Retry-After` at once, rather than piling up.

use std::io;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::log::{self, NewEvent};

/// The most events one transaction takes; bounds the time a batch holds the
/// write lock and the memory it uses.
pub const MAX_BATCH: usize = 1000;

/// How many events may wait for the writer. When it is full, handlers wait
/// their turn (back-pressure) instead of piling up without limit.
const QUEUE: usize = 10_000;

/// How many bytes of events may wait for the writer, counted as their JSON.
pub const QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// One handler waiting for its event to be stored: the event, and where to
/// send its sequence number once the commit is done.
struct Pending {
    /// One event, or a batch that must stay together and in order.
    events: Vec<NewEvent>,
    stored: oneshot::Sender<Result<Vec<u64>, String>>,
    /// Its share of [`QUEUE_BYTES`], given back once it is written.
    bytes: OwnedSemaphorePermit,
}

/// Why an append did not happen. Either way the event is *not* acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the bus is shutting down")]
    Stopped,
    #[error("the queue of events waiting for the disk is full")]
    Full,
    #[error("storage failed: {0}")]
    Storage(String),
}

/// The handlers' side of the writer. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    queue: mpsc::Sender<Pending>,
    /// One permit per byte that may wait in the queue.
    bytes: Arc<Semaphore>,
}

impl Appender {
    /// Stores `event` durably and returns its sequence number. Returns only
    /// after the transaction holding it has committed.
    pub async fn append(&self, event: NewEvent) -> Result<u64, AppendError> {
        let seqs = self.append_all(vec![event]).await?;
        Ok(seqs[0])
    }

    /// Stores several events one after the other, with consecutive numbers,
    /// and answers once all are on disk. An outbox relay sends its backlog
    /// this way: one request and one commit instead of one per event.
    pub async fn append_all(&self, events: Vec<NewEvent>) -> Result<Vec<u64>, AppendError> {
        let size = events
            .iter()
            .map(json_size)
            .sum::<usize>()
            .clamp(1, QUEUE_BYTES);
        let permits = u32::try_from(size).expect("QUEUE_BYTES fits in a u32");
        let bytes = self
            .bytes
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| AppendError::Full)?;
        let (stored, seqs) = oneshot::channel();
        self.queue
            .send(Pending {
                events,
                stored,
                bytes,
            })
            .await
            .map_err(|_| AppendError::Stopped)?;
        match seqs.await {
            Ok(Ok(seqs)) => Ok(seqs),
            Ok(Err(error)) => Err(AppendError::Storage(error)),
            Err(_) => Err(AppendError::Stopped),
        }
    }
}

/// About how many bytes `event` takes: its JSON, counted without building it.
fn json_size(event: &NewEvent) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(event.kind.as_str().len());
    let _ = serde_json::to_writer(&mut count, &event.data);
    count.0
}

/// Starts the writer on its own thread (SQLite calls block; a commit waits
/// for the disk). After each commit it publishes the newest seq on `head`,
/// which wakes the delivery tasks at once.
///
/// The writer ends when every [`Appender`] is gone, that is when the HTTP
/// server has stopped and no handler can append any more. Events already
/// queued by then are still written and answered.
pub fn spawn_writer(conn: Connection, head: watch::Sender<u64>) -> (Appender, JoinHandle<()>) {
    let (queue, waiting) = mpsc::channel(QUEUE);
    let task = tokio::task::spawn_blocking(move || run_writer(conn, waiting, head));
    let bytes = Arc::new(Semaphore::new(QUEUE_BYTES));
    (Appender { queue, bytes }, task)
}

// ANCHOR: run_writer
fn run_writer(
    mut conn: Connection,
    mut waiting: mpsc::Receiver<Pending>,
    head: watch::Sender<u64>,
) {
    // Sleep until at least one event waits (no polling, no timer) ...
    while let Some(first) = waiting.blocking_recv() {
        // ... then take everything else already waiting, without waiting more.
        let mut count = first.events.len();
        let mut batch = vec![first];
        while count < MAX_BATCH {
            match waiting.try_recv() {
                Ok(pending) => {
                    count += pending.events.len();
                    batch.push(pending);
                }
                Err(_) => break,
            }
        }
        let sizes: Vec<usize> = batch.iter().map(|p| p.events.len()).collect();
        // Each answer keeps its bytes' permit: they are given back once
        // it is sent, after the commit.
        let (events, answers): (Vec<Vec<NewEvent>>, Vec<_>) = batch
            .into_iter()
            .map(|pending| (pending.events, (pending.stored, pending.bytes)))
            .unzip();
        let events: Vec<NewEvent> = events.into_iter().flatten().collect();
        match log::append_batch(&mut conn, &events) {
            Ok(seqs) => {
                if let Some(&newest) = seqs.last() {
                    head.send_replace(newest);
                }
                let mut seqs = seqs.into_iter();
                for ((answer, _bytes), size) in answers.into_iter().zip(sizes) {
                    let _ = answer.send(Ok(seqs.by_ref().take(size).collect()));
                }
            }
            Err(error) => {
                tracing::error!(%error, events = events.len(), "could not append to the log");
                for (answer, _bytes) in answers {
                    let _ = answer.send(Err(error.to_string()));
                }
            }
        }
    }
}
// ANCHOR_END: run_writer
