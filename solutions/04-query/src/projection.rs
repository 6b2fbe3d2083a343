//! How one event changes the read model: the heart of the query service.
//!
//! [`apply`] is a plain function, with no HTTP, no locks and no clock, so it
//! can be tested with nothing but values, and the same function serves both
//! the live events the bus pushes and the history replayed at start.
//!
//! The bus delivers every event *at least once*, so `apply` must be
//! idempotent: applying an event a second time changes nothing. Each rule
//! below is written so that is true without remembering anything extra.
//!
//! Nor does the bus promise that a post arrives before its comments: posts
//! and comments publish on their own, so after an outage either may reach
//! the bus first. A comment event for a post we do not have yet waits in
//! the model until the post comes.

use blog_events::Event;

use crate::read_model::{CommentView, PostView, ReadModel};

// ANCHOR: apply
/// Applies one event to the model. Applying it again changes nothing, and
/// neither does the order in which a post and its comments arrive.
pub fn apply(model: &mut ReadModel, event: &Event) {
    match event {
        Event::PostCreated(created) => {
            // A post we already have keeps its place and its comments.
            model.insert_post(PostView::new(&created.id, &created.title));
            // Its comments may have overtaken it: they waited, now they have
            // a home. They go through `apply` again, in the order they came.
            for early in model.release_held(&created.id) {
                apply(model, &early);
            }
        }
        Event::CommentCreated(created) => {
            // Posts and comments publish through separate outboxes, so a
            // comment can reach us before its post. Keep it until the post comes.
            let Some(post) = model.post_mut(&created.post_id) else {
                model.hold_until_post(&created.post_id, event.clone());
                return;
            };
            // A comment we already have (a repeat, or one an update brought
            // in first) stays as it is: a creation is never newer than an update.
            if !post.has_comment(&created.id) {
                post.comments.push(CommentView {
                    id: created.id.clone(),
                    content: created.content.clone(),
                    status: created.status,
                });
            }
        }
        Event::CommentUpdated(updated) => {
            let Some(post) = model.post_mut(&updated.post_id) else {
                model.hold_until_post(&updated.post_id, event.clone());
                return;
            };
            // Setting (not toggling) the fields is what makes a repeat harmless.
            match post.comment_mut(&updated.id) {
                Some(comment) => {
                    comment.status = updated.status;
                    comment.content = updated.content.clone();
                }
                // The update overtook the comment's creation. It carries the
                // whole comment, and it is the newer news: add it as it says.
                None => post.comments.push(CommentView {
                    id: updated.id.clone(),
                    content: updated.content.clone(),
                    status: updated.status,
                }),
            }
        }
        // Moderation's verdict reaches us as `CommentUpdated`, once comments
        // has stored it; the comments service owns a comment's status.
        Event::CommentModerated(_) => {}
    }
}
// ANCHOR_END: apply

/// What became of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The event was applied (possibly changing nothing, if it was a repeat).
    Applied,
    /// Its sequence number showed it had been applied before: skipped.
    AlreadyApplied,
    /// Its sequence number is further ahead than the next one expected:
    /// either events before it are missing, or the number is false. Nothing
    /// was changed; the caller asks the bus's log what really came next.
    Gap,
}

// ANCHOR: apply_delivery
/// Applies an event as it was delivered: with the bus's sequence number when
/// it came from our bus, without one when it came from another.
///
/// The number is the cheap, exact check: a redelivery (a bus retry, or the
/// history replayed at start overlapping the live events) is skipped without
/// even looking at it. But a number in a request is only a claim, so the
/// model moves one step at a time: a number further ahead than the next one
/// is not applied, or one false number (`"seq": 9000000000000000000`) would
/// make every real event after it look old. A foreign event has no number,
/// so it is applied anyway, and [`apply`]'s idempotence keeps a repeat harmless.
pub fn apply_delivery(model: &mut ReadModel, seq: Option<u64>, event: &Event) -> Outcome {
    let Some(seq) = seq else {
        apply(model, event);
        return Outcome::Applied;
    };
    let next = model.next_seq();
    if seq < next {
        Outcome::AlreadyApplied
    } else if seq == next {
        apply(model, event);
        model.record_seq(seq);
        Outcome::Applied
    } else {
        Outcome::Gap
    }
}
// ANCHOR_END: apply_delivery
