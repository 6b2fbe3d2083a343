//! How one event changes the read model: the heart of the query service
//! (TODO 1 and TODO 2).
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

#[allow(unused_imports)] // you will need them for TODO 1
use crate::read_model::{CommentView, PostView, ReadModel};

// ANCHOR: apply
/// Applies one event to the model. Applying it again changes nothing, and
/// neither does the order in which a post and its comments arrive.
pub fn apply(model: &mut ReadModel, event: &Event) {
    match event {
        Event::PostCreated(created) => {
            // TODO 1a: add the post, without comments, at the end of the
            // model. A post that is already there must stay as it is, with its
            // comments and its place (`model.insert_post` does exactly that).
            // Then apply, in order, the events that waited for this post
            // (`model.release_held`).
            let _ = model;
            todo!(
                "TODO 1a in src/projection.rs: apply must add the post {:?} to the model",
                created.id
            )
        }
        Event::CommentCreated(created) => {
            // TODO 1b: find the post (`model.post_mut`) and push the comment
            // onto its list, with the status the event carries. If the post
            // is unknown, keep the event until it comes
            // (`model.hold_until_post`). If the post already has a comment
            // with this id, do nothing (a repeat must not reset a moderated
            // comment to pending).
            todo!(
                "TODO 1b in src/projection.rs: apply must add the comment {:?} to the post {:?}",
                created.id,
                created.post_id
            )
        }
        Event::CommentUpdated(updated) => {
            // TODO 1c: find the comment (`post_mut`, then `comment_mut`) and
            // set its status and content to the event's. If the post is
            // unknown, hold the event like in 1b. If the post is there but
            // not the comment, the update overtook its creation: add the
            // comment as the update describes it.
            todo!(
                "TODO 1c in src/projection.rs: apply must set the status of the comment {:?} to {:?}",
                updated.id,
                updated.status
            )
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
    // TODO 2: with `Some(seq)`, compare it with `model.next_seq()`:
    // - below it: answer `Outcome::AlreadyApplied` and change nothing;
    // - equal to it: `apply` the event, `model.record_seq(seq)`, answer `Applied`;
    // - above it: answer `Outcome::Gap` and change nothing.
    // With `None` (a foreign bus): just `apply` it and answer `Applied`.
    let _ = (model, event);
    todo!(
        "TODO 2 in src/projection.rs: apply_delivery must apply the delivery numbered {seq:?} if it is the next one, skip it if it was applied already, or report a gap"
    )
}
// ANCHOR_END: apply_delivery
