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
//! - **In order, where it matters**: the loop applies events one after
//!   another, in the order the broker sends them (the stream's). Only a
//!   retried event comes back after later ones; a consumer that must not
//!   see that lets only one event be unacknowledged at a time (`in_order`,
//!   the default). The blog's comments and query accept it (chapter 10
//!   says why) and take up to 256, as moderation does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::{AckKind, Context, ErrorCode, Message};
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

/// How long one attempt to open the consumer may wait for an answer.
const REOPEN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest pause between two attempts: a new leader is found within
/// about two seconds of its election.
const REOPEN_LONGEST_PAUSE: Duration = Duration::from_secs(1);

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
    /// Turned true once the consumer has settled every event the stream
    /// held when it started (at once if there were none). Query's
    /// `/readyz` waits for it: a replica whose model is still being rebuilt
    /// must get no traffic, or it would show a blog with posts missing.
    pub caught_up: Option<Arc<AtomicBool>>,
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
            caught_up: None,
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

/// Deletes the durable consumer `durable`, so that, created again, it
/// starts from the stream's first event (`replay_from_start`). Not there
/// (the first start) is fine.
pub async fn forget_consumer(js: &Context, durable: &str) -> Result<(), async_nats::Error> {
    let stream = js.get_stream(STREAM).await?;
    match stream.delete_consumer(durable).await {
        Ok(_) => Ok(()),
        Err(error) => match error.kind() {
            ConsumerErrorKind::JetStream(why)
                if why.error_code() == ErrorCode::CONSUMER_NOT_FOUND =>
            {
                Ok(())
            }
            _ => Err(error.into()),
        },
    }
}

/// Creates the durable consumer, or finds it.
pub async fn open_consumer(
    js: &Context,
    settings: &ConsumerSettings,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = js.get_stream(STREAM).await?;
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

/// The stream sequence the consumer must settle to have caught up with
/// what the stream held at its start; `None` when there is nothing to catch
/// up with (nothing pending for it).
async fn catch_up_target(
    js: &Context,
    consumer: &mut PullConsumer,
) -> Result<Option<u64>, async_nats::Error> {
    let info = consumer.info().await?;
    if info.num_pending == 0 && info.num_ack_pending == 0 {
        return Ok(None);
    }
    let mut stream = js.get_stream(STREAM).await?;
    Ok(Some(stream.info().await?.state.last_sequence))
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
        let mut pauses = Backoff::new(Duration::from_millis(100), REOPEN_LONGEST_PAUSE);
        // Opening it again asks the consumer's leader. During an election
        // nobody answers, and a request is not answered later either: give
        // up on it sooner than on a publish, and ask again. Not the first
        // opening: creating a consumer takes the cluster longer.
        let mut reopen = js.clone();
        reopen.set_timeout(REOPEN_TIMEOUT);
        let mut first = true;
        // Replaying from the start is for the service's start, not for
        // every reconnection: the model in memory is still there. And the
        // consumer is deleted once: deleting it again after a creation
        // that timed out would throw away the consumer the cluster was
        // electing a leader for, and during a failover that can go on for
        // as long as one keeps trying.
        let mut forget = settings.replay_from_start;
        // The sequence to settle before `settings.caught_up` turns true.
        let mut catch_up_to = None;
        while !*shutdown.borrow() {
            let control = if first { &js } else { &reopen };
            let opened = async {
                if forget {
                    forget_consumer(control, &settings.durable).await?;
                    forget = false;
                }
                open_consumer(control, &settings).await
            };
            let messages = match opened.await {
                // Short pulls with heartbeats: when the node that leads
                // this consumer dies, a missed heartbeat tells us within
                // seconds, and the next pull finds the new leader.
                Ok(mut consumer) => {
                    let waiting = settings
                        .caught_up
                        .as_ref()
                        .filter(|done| !done.load(Ordering::SeqCst));
                    if let Some(done) = waiting.filter(|_| catch_up_to.is_none()) {
                        match catch_up_target(control, &mut consumer).await {
                            Ok(Some(last)) => catch_up_to = Some(last),
                            Ok(None) => done.store(true, Ordering::SeqCst),
                            // Asked again at the next opening.
                            Err(error) => {
                                tracing::warn!(%error, "cannot read the stream's end yet")
                            }
                        }
                    }
                    consumer
                        .stream()
                        .max_messages_per_batch(64)
                        .expires(PULL_EXPIRES)
                        .heartbeat(PULL_HEARTBEAT)
                        .messages()
                        .await
                        .map_err(Into::into)
                }
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
                match settle(&js, &message, verdict, settings.dead_letter_after).await {
                    Ok(Settled::Acked | Settled::Parked) => {
                        if let (Some(last), Some(done), Ok(info)) =
                            (catch_up_to, &settings.caught_up, message.info())
                            && (info.stream_sequence >= last || info.pending == 0)
                        {
                            catch_up_to = None;
                            done.store(true, Ordering::SeqCst);
                        }
                    }
                    Ok(Settled::Retried) => {}
                    // Not settled: the broker redelivers it after the ack wait.
                    Err(error) => {
                        tracing::warn!(%error, consumer = settings.durable, "could not settle an event")
                    }
                }
            }
        }
    })
}
// ANCHOR_END: consume
