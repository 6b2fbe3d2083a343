//! The HTTP endpoints of the bus.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use blog_events::Envelope;
use blog_runtime::JsonBody;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::log::{self, NewEvent, StoredEvent};
use crate::writer::Appender;
use crate::{BusError, EventType};

/// The most events one `GET /events?limit=...` returns.
pub const MAX_PAGE: usize = 1000;

/// What the handlers share: the writer's queue for new events, and a
/// connection of their own for reading the log.
#[derive(Clone)]
pub struct BusState {
    pub appender: Appender,
    pub reader: Arc<Mutex<Connection>>,
}

/// The answer to `POST /events`. `status: "OK"` is what the Node.js bus
/// answers, so its services accept ours; `seq` is our addition.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub status: &'static str,
    pub seq: u64,
}

// ANCHOR: publish_event
/// `POST /events` with `{"type","data"}`: store the event, then answer.
/// `data` may be any JSON; when it is missing it is stored as `null`.
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
    let kind = EventType::parse(&envelope.kind)?;
    let seq = bus
        .appender
        .append(NewEvent {
            kind,
            data: envelope.data,
        })
        .await?;
    Ok(Json(Accepted { status: "OK", seq }))
}
// ANCHOR_END: publish_event

/// The most events one `POST /events/batch` may carry.
pub const MAX_BATCH_EVENTS: usize = 256;

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
        let kind = EventType::parse(&envelope.kind)
            .map_err(|error| BusError::BadBatch(format!("event {index}: {error}")))?;
        events.push(NewEvent { kind, data: envelope.data });
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

/// `GET /events[?after=N][&limit=M]`: stored events, oldest first, each
/// `{"type","data","seq"}`. A service rebuilding its state pages through the
/// log with `after` set to the last `seq` it has seen.
pub async fn list_events(
    State(bus): State<BusState>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<Vec<StoredEvent>>, BusError> {
    let Query(paging) = paging.map_err(|rejection| {
        BusError::BadQuery(format!(
            "`after` and `limit` must be whole numbers of 0 or more: {}",
            rejection.body_text()
        ))
    })?;
    let after = paging.after.unwrap_or(0);
    let limit = match paging.limit {
        Some(0) => return Err(BusError::BadQuery("`limit` must be at least 1".into())),
        Some(limit) => limit.min(MAX_PAGE),
        None => usize::MAX,
    };
    let reader = bus.reader.clone();
    let events = tokio::task::spawn_blocking(move || {
        let conn = reader
            .lock()
            .expect("a panic never happens while the lock is held");
        log::read_page(&conn, after, limit)
    })
    .await
    .expect("reading the log does not panic")?;
    Ok(Json(events))
}
