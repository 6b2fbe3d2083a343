//! The HTTP endpoints of the event log (`/events`). The subscribers' own
//! endpoints are in [`crate::subscribers`].

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use blog_events::Envelope;
use blog_events::event::EnvelopeError;
use blog_runtime::JsonBody;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::log::{self, NewEvent, StoredEvent, WireEvent};
use crate::subscribers::Subscribers;
use crate::writer::Appender;
use crate::{BusError, EventType};

/// The most events one `GET /events?limit=...` returns.
pub const MAX_PAGE: usize = 1000;

/// The header of `GET /events` that names the log, so that a consumer
/// learns it even from an empty log.
pub const LOG_ID_HEADER: &str = "x-event-log-id";

/// What the handlers share: the writer's queue for new events, and a
/// connection of their own for reading the log.
#[derive(Clone)]
pub struct BusState {
    pub appender: Appender,
    pub reader: Arc<Mutex<Connection>>,
    /// The log's id (see [`log::log_id`]).
    pub log_id: Arc<str>,
    /// The newest seq, published by the writer after each commit.
    pub head: watch::Receiver<u64>,
    pub subscribers: Subscribers,
}

/// The answer to `POST /events`. `status: "OK"` is what the Node.js bus
/// answers, so its services accept ours; `seq` is our addition.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub status: &'static str,
    pub seq: u64,
}

// ANCHOR: check_contract
/// Turns what was sent into an event the log may keep.
///
/// An event of a type the contract knows (`PostCreated`, ...) must carry the
/// data the contract says: every consumer of that type would refuse it
/// otherwise, so storing it would only plant a poison event in the log.
/// A type the contract does not know is stored as it is: another team's
/// service may have invented it, and the bus is their bus too.
pub fn check_contract(envelope: Envelope) -> Result<NewEvent, BusError> {
    let kind = EventType::parse(&envelope.kind)?;
    match envelope.event() {
        Ok(_) | Err(EnvelopeError::UnknownType(_)) => Ok(NewEvent {
            kind,
            data: envelope.data,
        }),
        Err(invalid) => Err(invalid.into()),
    }
}
// ANCHOR_END: check_contract

// ANCHOR: publish_event
/// `POST /events` with `{"type","data"}`: store the event, then answer.
/// `data` may be any JSON for a type the contract does not know; when it is
/// missing it is stored as `null`.
///
/// Why wait for the disk before answering? The sender (an outbox relay)
/// deletes its copy when it hears "OK". If we answered first and then
/// crashed, the event would exist nowhere: acknowledged, and lost.
pub async fn publish_event(
    State(bus): State<BusState>,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Result<Json<Accepted>, BusError> {
    // Check before storing: bad input must change nothing. A `seq` sent to
    // us (by another bus) is ignored; the log numbers its own events.
    let event = check_contract(envelope)?;
    let seq = bus.appender.append(event).await?;
    Ok(Json(Accepted { status: "OK", seq }))
}
// ANCHOR_END: publish_event

/// The most events one `POST /events/batch` may carry.
pub const MAX_BATCH_EVENTS: usize = blog_events::publish::MAX_BATCH_EVENTS;

/// Answer to `POST /events/batch`: the numbers given, in order.
#[derive(Debug, Serialize)]
pub struct AcceptedBatch {
    pub status: &'static str,
    pub seqs: Vec<u64>,
}

/// `POST /events/batch` with `[{"type","data"}, ...]`: stores the events in
/// order, all or none, and answers once all are on disk. Not part of the
/// Node app's contract: our outbox relays use it to send a backlog in one
/// request (and fall back to `POST /events` when a bus does not have it).
pub async fn publish_events(
    State(bus): State<BusState>,
    JsonBody(envelopes): JsonBody<Vec<Envelope>>,
) -> Result<Json<AcceptedBatch>, BusError> {
    if envelopes.is_empty() || envelopes.len() > MAX_BATCH_EVENTS {
        return Err(BusError::BadBatch(format!(
            "a batch holds 1 to {MAX_BATCH_EVENTS} events; this one has {}",
            envelopes.len()
        )));
    }
    // Check every event before storing any: a bad one refuses the batch.
    let mut events = Vec::with_capacity(envelopes.len());
    for (index, envelope) in envelopes.into_iter().enumerate() {
        let event = check_contract(envelope)
            .map_err(|error| BusError::BadBatch(format!("event {index}: {error}")))?;
        events.push(event);
    }
    let seqs = bus.appender.append_all(events).await?;
    Ok(Json(AcceptedBatch { status: "OK", seqs }))
}

/// The query of `GET /events`. Both are optional; unknown keys are ignored.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// Only events with a larger `seq` (default 0: from the start).
    pub after: Option<u64>,
    /// At most this many (capped at [`MAX_PAGE`]). Without it, every event
    /// after `after`: what the Node.js bus answers, for its query service.
    pub limit: Option<usize>,
}

/// `after` and `limit` checked: `limit` is `usize::MAX` when not given.
pub fn paging(query: Result<Query<Paging>, QueryRejection>) -> Result<(u64, usize), BusError> {
    let Query(paging) = query.map_err(|rejection| {
        BusError::BadQuery(format!(
            "`after` and `limit` must be whole numbers of 0 or more: {}",
            rejection.body_text()
        ))
    })?;
    // SQLite numbers are i64: a larger `after` is past any seq the log can
    // hold. Clamped, it means "after the last possible event", an empty page.
    let after = paging.after.unwrap_or(0).min(i64::MAX as u64);
    let limit = match paging.limit {
        Some(0) => return Err(BusError::BadQuery("`limit` must be at least 1".into())),
        Some(limit) => limit.min(MAX_PAGE),
        None => usize::MAX,
    };
    Ok((after, limit))
}

/// Runs `work` on the handlers' connection, off the async threads.
pub async fn read_log<T: Send + 'static>(
    bus: &BusState,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, BusError> {
    let reader = bus.reader.clone();
    let result = tokio::task::spawn_blocking(move || {
        // A panic elsewhere cannot leave a connection half-used: use it anyway.
        let conn = reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&conn)
    })
    .await
    .map_err(|panic| BusError::Storage(format!("reading the log panicked: {panic}")))?;
    Ok(result?)
}

/// How many events the stream of `GET /events` reads and sends at a time.
const STREAM_PAGE: usize = 500;

// ANCHOR: list_events
/// `GET /events[?after=N][&limit=M]`: stored events, oldest first, each
/// `{"type","data","seq","logId"}`, and the header `x-event-log-id`.
///
/// Without `limit` that is the whole log, which may be millions of events:
/// the answer is *streamed*, a page at a time, so the bus holds one page in
/// memory however long the log is. It ends at the newest event there was
/// when the request came, so a busy log cannot make it endless.
pub async fn list_events(
    State(bus): State<BusState>,
    query: Result<Query<Paging>, QueryRejection>,
) -> Result<Response, BusError> {
    let (after, limit) = paging(query)?;
    // The first page is read before answering, so a broken log is a clean
    // 500 rather than a cut-off body.
    let (through, first) = read_log(&bus, move |conn| {
        Ok((
            log::last_seq(conn)?,
            log::read_page(conn, after, limit.min(STREAM_PAGE))?,
        ))
    })
    .await?;
    let pages = Pages {
        bus: bus.clone(),
        through,
        remaining: limit,
        sent: 0,
        next: Some(first),
    };
    let body = futures_util::stream::unfold(pages, Pages::next_chunk);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(&bus.log_id) {
        headers.insert(LOG_ID_HEADER, id);
    }
    Ok(response)
}
// ANCHOR_END: list_events

/// Where the stream of `GET /events` is.
struct Pages {
    bus: BusState,
    /// The newest seq when the request came: the stream stops there.
    through: u64,
    /// How many events may still be sent.
    remaining: usize,
    sent: usize,
    /// The page to send next; `None` once the closing `]` is out.
    next: Option<Vec<StoredEvent>>,
}

impl Pages {
    /// The next piece of the JSON list: `[`, the events, `,`s and `]`.
    async fn next_chunk(mut self) -> Option<(std::io::Result<Bytes>, Pages)> {
        let mut page = self.next.take()?;
        page.retain(|event| event.seq <= self.through);
        page.truncate(self.remaining);
        let mut chunk = Vec::with_capacity(page.len() * 128 + 2);
        if self.sent == 0 {
            chunk.push(b'[');
        }
        for event in &page {
            if self.sent > 0 {
                chunk.push(b',');
            }
            let wire = WireEvent {
                event,
                log_id: &self.bus.log_id,
            };
            serde_json::to_writer(&mut chunk, &wire).expect("events always serialise");
            self.sent += 1;
        }
        self.remaining -= page.len();
        let last = page.last().map(|event| event.seq);
        match last {
            Some(last) if last < self.through && self.remaining > 0 => {
                let limit = self.remaining.min(STREAM_PAGE);
                let read = read_log(&self.bus, move |conn| log::read_page(conn, last, limit)).await;
                match read {
                    Ok(next) => self.next = Some(next),
                    Err(error) => {
                        // Too late for an error status: break the body off,
                        // so no client mistakes what it got for the whole log.
                        tracing::error!(%error, "GET /events stopped half-way");
                        return Some((Err(std::io::Error::other(error.to_string())), self));
                    }
                }
            }
            _ => chunk.push(b']'),
        }
        Some((Ok(Bytes::from(chunk)), self))
    }
}
