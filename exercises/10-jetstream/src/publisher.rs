//! The publisher (TODO 1): the same [`Publisher`] seam the HTTP bus sits
//! behind, so a service's handlers and its outbox relay do not change.
//! You write how an event gets its message id and how it is published.
//!
//! TODO 1a: `outbox_message_id`: the id of the event in one outbox row.
//! TODO 1b: `publish_with_id`: publish, and return only once the stream has it.
//!
//! "Published" means what it meant on the HTTP bus: the broker has the event
//! on disk. JetStream says so with a publish *ack*, sent once a majority of
//! the stream's replicas have written it. Until then the event stays in the
//! outbox.
//!
//! Why a message id: the relay may send an event twice (it crashed after the
//! broker took it, before it deleted the row). With the same `Nats-Msg-Id`
//! both times, the stream keeps the first and acknowledges the second as a
//! duplicate, so consumers see the event once.

use async_nats::jetstream::Context;
#[allow(unused_imports)] // you will need them for TODO 1b
use async_nats::jetstream::message::PublishMessage;
use blog_events::publish::PublishFuture;
use blog_events::{Event, PublishError, Publisher};

#[allow(unused_imports)] // you will need it for TODO 1b
use crate::streams::subject_for;

/// Publishes a service's events to the `BLOG_EVENTS` stream.
#[derive(Clone)]
pub struct JetStreamPublisher {
    js: Context,
    /// The publishing service (`posts`, `comments`, `moderation`): outbox
    /// row numbers are only unique within one service's database.
    service: String,
}

impl JetStreamPublisher {
    pub fn new(js: Context, service: &str) -> Self {
        JetStreamPublisher {
            js,
            service: service.to_string(),
        }
    }

    // ANCHOR: message_id
    /// The id of the event in outbox row `outbox_id`: `<service>-<outbox id>`.
    /// It must be the same every time the row is sent, and different for
    /// every row.
    pub fn outbox_message_id(&self, outbox_id: i64) -> String {
        // TODO 1a: the contract's id for an outbox row: what must it contain
        // so it is stable across sends and unique across services?
        // Checked by `the_message_id_is_the_service_and_the_outbox_row`.
        todo!(
            "TODO 1a in src/publisher.rs: outbox_message_id({outbox_id}) must give the row's stable id, <service>-<outbox id> (here the service is {:?})",
            self.service
        )
    }
    // ANCHOR_END: message_id

    /// The id of an event published without an outbox (moderation's
    /// decisions): `<service>-<type>-<id of what it is about>`. Moderation
    /// decides the same way every time, so a decision made again after a
    /// crash has the same id and is dropped as a duplicate.
    pub fn event_message_id(&self, event: &Event) -> String {
        format!("{}-{}-{}", self.service, event.kind(), about(event))
    }

    // ANCHOR: publish
    /// Publishes one event on `blog.events.<type>` with `message_id`, and
    /// returns only once the stream has acknowledged it.
    pub async fn publish_with_id(
        &self,
        event: &Event,
        message_id: String,
    ) -> Result<(), PublishError> {
        // TODO 1b: publish the event's JSON on its subject, with the
        // `Nats-Msg-Id` header set to `message_id`, and return `Ok` only
        // once the stream has acknowledged it; any failure is a
        // `PublishError::Unreachable`, so the outbox keeps the event.
        // Checked by `a_published_event_is_stored_on_its_subject_with_its_message_id`,
        // `an_outbox_row_sent_twice_is_stored_once` and `publishing_fails_while_the_broker_is_down`.
        let _ = (&self.js, event, message_id);
        todo!(
            "TODO 1b in src/publisher.rs: publish_with_id must publish the event on blog.events.<type> with its message id and wait for the stream's ack"
        )
    }
    // ANCHOR_END: publish
}

impl Publisher for JetStreamPublisher {
    fn publish<'a>(&'a self, event: &'a Event) -> PublishFuture<'a> {
        Box::pin(self.publish_with_id(event, self.event_message_id(event)))
    }

    // ANCHOR: waves
    fn publish_outbox<'a>(&'a self, ids: &'a [i64], events: &'a [Event]) -> PublishFuture<'a> {
        Box::pin(async move {
            // In waves: rows about different things (posts, comments)
            // together, the rows about one thing one wave after another,
            // each wave acknowledged before the next is sent. If one
            // fails, none after its wave is sent, so a comment's events
            // (its creation, its update) keep the outbox's order in the
            // stream. Consumers never relied on an order between
            // different things (chapter 10 says why).
            let mut rest = 0;
            while rest < events.len() {
                let wave = rest + first_wave(&events[rest..]);
                let sent = (rest..wave).map(|row| {
                    self.publish_with_id(&events[row], self.outbox_message_id(ids[row]))
                });
                // Every publish of the wave is awaited, even after one
                // failed; the relay then sends the whole batch again, and
                // the ids make the stream drop what it already has.
                futures_util::future::join_all(sent)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<()>, _>>()?;
                rest = wave;
            }
            Ok(())
        })
    }
    // ANCHOR_END: waves
}

/// The id of what an event is about, a post or a comment: the order that
/// matters is per thing (a comment's update after its creation).
fn about(event: &Event) -> &str {
    match event {
        Event::PostCreated(post) => &post.id,
        Event::CommentCreated(comment) => &comment.id,
        Event::CommentModerated(comment) => &comment.id,
        Event::CommentUpdated(comment) => &comment.id,
    }
}

/// How many of `events`, from the first, are each about a different thing:
/// they can be published at once (at least one).
fn first_wave(events: &[Event]) -> usize {
    let mut things = std::collections::HashSet::new();
    events
        .iter()
        .take_while(|event| things.insert(about(event)))
        .count()
        .max(1)
}
