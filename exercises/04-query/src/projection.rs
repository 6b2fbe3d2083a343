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

use blog_events::Event;

#[allow(unused_imports)] // you will need them for TODO 1
use crate::read_model::{CommentView, PostView, ReadModel};

// ANCHOR: apply
/// Applies one event to the model. Applying it again changes nothing.
pub fn apply(model: &mut ReadModel, event: &Event) {
    match event {
        Event::PostCreated(created) => {
            // TODO 1a: add the post, without comments, at the end of the
            // model. A post that is already there must stay as it is, with its
            // comments and its place (`model.insert_post` does exactly that).
            let _ = model;
            todo!(
                "TODO 1a in src/projection.rs: apply must add the post {:?} to the model",
                created.id
            )
        }
        Event::CommentCreated(created) => {
            // TODO 1b: find the post (`model.post_mut`) and push the comment
            // onto its list, with the status the event carries. Do nothing
            // if the post is unknown, or if it already has a comment with
            // this id (a repeat must not reset a moderated comment to pending).
            todo!(
                "TODO 1b in src/projection.rs: apply must add the comment {:?} to the post {:?}",
                created.id,
                created.post_id
            )
        }
        Event::CommentUpdated(updated) => {
            // TODO 1c: find the comment (`post_mut`, then `comment_mut`) and
            // set its status and content to the event's. Do nothing if the
            // post or the comment is unknown.
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
}

// ANCHOR: apply_delivery
/// Applies an event as it was delivered: with the bus's sequence number when
/// it came from our bus, without one when it came from another.
///
/// The number is the cheap, exact check: a redelivery (a bus retry, or the
/// history replayed at start overlapping the live events) is skipped without
/// even looking at it. A foreign event has no number, so it is applied
/// anyway, and [`apply`]'s idempotence is what keeps a repeat harmless.
pub fn apply_delivery(model: &mut ReadModel, seq: Option<u64>, event: &Event) -> Outcome {
    // TODO 2: with `Some(seq)`: if `model.last_seq()` is already at or past
    // `seq`, answer `Outcome::AlreadyApplied` and change nothing; otherwise
    // `apply` the event, `model.record_seq(seq)`, and answer `Applied`.
    // With `None` (a foreign bus): just `apply` it and answer `Applied`.
    let _ = (model, event);
    todo!(
        "TODO 2 in src/projection.rs: apply_delivery must apply the delivery numbered {seq:?}, or skip it if it was applied already"
    )
}
// ANCHOR_END: apply_delivery
