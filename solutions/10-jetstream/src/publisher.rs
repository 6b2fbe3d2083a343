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

// The waves are given code: tested here, not in the exercise's copy.
#[cfg(test)]
mod wave_tests {
    use blog_events::{CommentCreated, CommentStatus, CommentUpdated, PostCreated};

    use super::*;

    fn created(id: &str, post: &str) -> Event {
        Event::CommentCreated(CommentCreated {
            id: id.to_string(),
            content: format!("comment {id}"),
            post_id: post.to_string(),
            status: CommentStatus::Pending,
        })
    }

    fn updated(id: &str, post: &str) -> Event {
        Event::CommentUpdated(CommentUpdated {
            id: id.to_string(),
            status: CommentStatus::Approved,
            post_id: post.to_string(),
            content: format!("comment {id}"),
        })
    }

    fn post(id: &str) -> Event {
        Event::PostCreated(PostCreated {
            id: id.to_string(),
            title: format!("post {id}"),
        })
    }

    #[test]
    fn comments_of_one_post_go_in_one_wave() {
        let events: Vec<Event> = (0..50).map(|n| created(&format!("c{n}"), "p1")).collect();
        assert_eq!(
            first_wave(&events),
            50,
            "each comment is a thing of its own: none waits for another's ack"
        );
    }

    #[test]
    fn a_comments_update_waits_for_the_wave_with_its_creation() {
        let events = vec![
            created("c1", "p1"),
            created("c2", "p1"),
            updated("c1", "p1"),
            created("c3", "p1"),
        ];
        assert_eq!(first_wave(&events), 2, "c1's update must not overtake c1");
        assert_eq!(first_wave(&events[2..]), 2);
    }

    #[test]
    fn posts_go_together_and_a_wave_is_never_empty() {
        let events = vec![post("p1"), post("p2")];
        assert_eq!(first_wave(&events), 2);
        assert_eq!(first_wave(&events[..1]), 1);
        assert_eq!(first_wave(&[]), 1);
    }
}
