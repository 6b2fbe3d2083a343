//! The publisher: the same [`Publisher`] seam the HTTP bus sits behind, so
//! a service's handlers and its outbox relay do not change at all.
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
use async_nats::jetstream::message::PublishMessage;
use blog_events::publish::PublishFuture;
use blog_events::{Event, PublishError, Publisher};

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
        format!("{}-{outbox_id}", self.service)
    }
    // ANCHOR_END: message_id

    /// The id of an event published without an outbox (moderation's
    /// decisions): `<service>-<type>-<id of what it is about>`. Moderation
    /// decides the same way every time, so a decision made again after a
    /// crash has the same id and is dropped as a duplicate.
    pub fn event_message_id(&self, event: &Event) -> String {
        let about = match event {
            Event::PostCreated(post) => &post.id,
            Event::CommentCreated(comment) => &comment.id,
            Event::CommentModerated(comment) => &comment.id,
            Event::CommentUpdated(comment) => &comment.id,
        };
        format!("{}-{}-{about}", self.service, event.kind())
    }

    // ANCHOR: publish
    /// Publishes one event on `blog.events.<type>` with `message_id`, and
    /// returns only once the stream has acknowledged it.
    pub async fn publish_with_id(
        &self,
        event: &Event,
        message_id: String,
    ) -> Result<(), PublishError> {
        let message = PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(message_id);
        // Two steps, two ways to fail: sending can fail at once (no
        // connection), and the ack may never come (no quorum, no stream).
        let ack = self
            .js
            .send_publish(subject_for(event.kind()), message)
            .await
            .map_err(|error| PublishError::Unreachable(error.to_string()))?;
        ack.await
            .map_err(|error| PublishError::Unreachable(error.to_string()))?;
        Ok(())
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
            // In waves: rows about different posts together, a post's rows
            // one wave after another, each wave acknowledged before the
            // next is sent. If one fails, none after its wave is sent, so a
            // post's events (the post, a comment, its update) keep the
            // outbox's order in the stream. Events about different posts
            // never had an order consumers could rely on.
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

/// The post an event is about: the order that matters is per post.
fn post_of(event: &Event) -> &str {
    match event {
        Event::PostCreated(post) => &post.id,
        Event::CommentCreated(comment) => &comment.post_id,
        Event::CommentModerated(comment) => &comment.post_id,
        Event::CommentUpdated(comment) => &comment.post_id,
    }
}

/// How many of `events`, from the first, are each about a different post:
/// they can be published at once (at least one).
fn first_wave(events: &[Event]) -> usize {
    let mut posts = std::collections::HashSet::new();
    events
        .iter()
        .take_while(|event| posts.insert(post_of(event)))
        .count()
        .max(1)
}
