//! The consumer: a durable pull consumer per service, and what it does with
//! each event the service's handler has judged.
//!
//! - **Durable**: the broker remembers, per consumer name, which events were
//!   acknowledged. A service that restarts goes on where it stopped.
//! - **Shared**: every replica of a service pulls from the same consumer,
//!   and the broker gives each event to one of them (a work queue). That is
//!   how moderation scales out. An event a replica took and never
//!   acknowledged (it crashed) goes to another after the ack wait.
//! - **Explicit acks, after the handler**: an event is acknowledged only
//!   once the handler has applied it, so a crash before the ack means it
//!   comes again: at least once. The handlers are idempotent, as on the
//!   HTTP bus, so a second delivery changes nothing.
//! - **In order, where it matters**: a consumer that must see events in the
//!   stream's order (query: a comment before its update) lets only one
//!   event be unacknowledged at a time.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, Context, Message};
use blog_runtime::Backoff;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::streams::{STREAM, SUBJECT_PREFIX, parked_subject};
use crate::target::{EventTarget, Verdict};

/// How long one pull waits for events before it is renewed.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// How often the server says it is still there during a pull.
const PULL_HEARTBEAT: Duration = Duration::from_secs(1);

/// Header of a parked event: why the consumer gave up on it.
pub const LAST_ERROR_HEADER: &str = "Blog-Last-Error";
/// Header of a parked event: its sequence number in `BLOG_EVENTS`.
pub const STREAM_SEQUENCE_HEADER: &str = "Blog-Stream-Sequence";

/// One service's consumer.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    /// The durable consumer's name: the service's (`comments`, `moderation`),
    /// or `query-<replica>` for a query replica.
    pub durable: String,
    /// Only one event in flight at a time, so they are applied in the
    /// stream's order. Off for a work queue (moderation), whose events are
    /// independent and spread over replicas.
    pub in_order: bool,
    /// Start from the first event every time the service starts: for a
    /// service that keeps its model in memory (query), so it rebuilds it.
    pub replay_from_start: bool,
    /// How many times an event the handler refuses for good is tried
    /// before it is parked.
    pub dead_letter_after: i64,
    /// How long an event may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
}

impl ConsumerSettings {
    /// A service's consumer, with the contract's defaults.
    pub fn new(durable: &str) -> Self {
        ConsumerSettings {
            durable: durable.to_string(),
            in_order: true,
            replay_from_start: false,
            dead_letter_after: 5,
            ack_wait: Duration::from_secs(10),
        }
    }
}

/// What [`settle`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Acknowledged: it will not come again.
    Acked,
    /// Negatively acknowledged with a delay: it comes again later.
    Retried,
    /// Copied to `BLOG_PARKED` and terminated on the main stream.
    Parked,
}

/// The pause before an event that failed `delivered` times comes again:
/// exponential, with jitter, so that replicas hit by the same outage do not
/// all retry in the same millisecond.
pub fn retry_delay(delivered: i64) -> Duration {
    let mut pauses = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    for _ in 1..delivered.clamp(1, 16) {
        pauses.next_delay();
    }
    pauses.next_delay()
}

// ANCHOR: settle
/// Tells the broker what became of `message`, from the handler's `verdict`:
/// acknowledge what was applied; ask again later, after [`retry_delay`],
/// for what may work later; park what can never be applied, once it was
/// tried `dead_letter_after` times.
pub async fn settle(
    js: &Context,
    message: &Message,
    verdict: Verdict,
    dead_letter_after: i64,
) -> Result<Settled, async_nats::Error> {
    let delivered = message.info()?.delivered;
    match verdict {
        Verdict::Applied => {
            message.ack().await?;
            Ok(Settled::Acked)
        }
        Verdict::Never(reason) if delivered >= dead_letter_after => {
            // Parked first, terminated second: a crash in between parks it
            // twice (the same message id: stored once), never zero times.
            park(js, message, &reason).await?;
            message.ack_with(AckKind::Term).await?;
            Ok(Settled::Parked)
        }
        Verdict::Never(_) | Verdict::TryAgain(_) => {
            message
                .ack_with(AckKind::Nak(Some(retry_delay(delivered))))
                .await?;
            Ok(Settled::Retried)
        }
    }
}
// ANCHOR_END: settle

// ANCHOR: park
/// Copies `message` to `blog.parked.<consumer>`, with its headers and
/// `reason`, and waits until the parked stream has it.
pub async fn park(js: &Context, message: &Message, reason: &str) -> Result<(), async_nats::Error> {
    let info = message.info()?;
    let mut headers = message.headers.clone().unwrap_or_default();
    // A header value is one line.
    headers.insert(
        LAST_ERROR_HEADER,
        reason.replace(['\r', '\n'], " ").as_str(),
    );
    headers.insert(
        STREAM_SEQUENCE_HEADER,
        info.stream_sequence.to_string().as_str(),
    );
    let parked = PublishMessage::build()
        .payload(message.payload.clone())
        .headers(headers);
    js.send_publish(parked_subject(info.consumer), parked)
        .await?
        .await?;
    Ok(())
}
// ANCHOR_END: park

/// Creates the durable consumer, or finds it; with `replay_from_start`,
/// first deletes it, so it starts again from the stream's first event.
pub async fn open_consumer(
    js: &Context,
    settings: &ConsumerSettings,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = js.get_stream(STREAM).await?;
    if settings.replay_from_start {
        // Not there yet (the first start) is fine.
        let _ = stream.delete_consumer(&settings.durable).await;
    }
    let config = pull::Config {
        durable_name: Some(settings.durable.clone()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        deliver_policy: DeliverPolicy::All,
        filter_subject: format!("{SUBJECT_PREFIX}>"),
        max_ack_pending: if settings.in_order { 1 } else { 256 },
        ..Default::default()
    };
    Ok(stream
        .get_or_create_consumer(&settings.durable, config)
        .await?)
}

// ANCHOR: consume
/// Starts the consumer loop: pulls events, hands each to `target`, settles
/// it, until `shutdown` turns true. A lost connection or a deleted consumer
/// is not the end: it opens the consumer again, with backoff.
pub fn spawn_consumer(
    js: Context,
    settings: ConsumerSettings,
    target: Arc<dyn EventTarget>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pauses = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut first = true;
        while !*shutdown.borrow() {
            let mut replay = settings.clone();
            // Replaying from the start is for the service's start, not for
            // every reconnection: the model in memory is still there.
            replay.replay_from_start &= first;
            let messages = match open_consumer(&js, &replay).await {
                // Short pulls with heartbeats: when the node that leads
                // this consumer dies, a missed heartbeat tells us within
                // seconds, and the next pull finds the new leader.
                Ok(consumer) => consumer
                    .stream()
                    .max_messages_per_batch(64)
                    .expires(PULL_EXPIRES)
                    .heartbeat(PULL_HEARTBEAT)
                    .messages()
                    .await
                    .map_err(Into::into),
                Err(error) => Err(error),
            };
            let mut messages = match messages {
                Ok(messages) => {
                    first = false;
                    pauses.reset();
                    messages
                }
                Err(error) => {
                    tracing::warn!(%error, consumer = settings.durable, "cannot consume yet; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(pauses.next_delay()) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    next = messages.next() => next,
                    _ = shutdown.changed() => return,
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        tracing::warn!(%error, consumer = settings.durable, "lost the consumer; opening it again");
                        break;
                    }
                    None => break,
                };
                let verdict = target.deliver(message.payload.clone()).await;
                if let Verdict::TryAgain(reason) | Verdict::Never(reason) = &verdict {
                    tracing::warn!(consumer = settings.durable, subject = %message.subject, reason, "event not applied");
                }
                if let Err(error) = settle(&js, &message, verdict, settings.dead_letter_after).await
                {
                    // Not settled: the broker redelivers it after the ack wait.
                    tracing::warn!(%error, consumer = settings.durable, "could not settle an event");
                }
            }
        }
    })
}
// ANCHOR_END: consume
