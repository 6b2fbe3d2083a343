//! How one event changes the read model: the heart of the query service.
//!
//! [`apply`] is a plain function, with no HTTP, no locks and no clock, so it
//! can be tested with nothing but values, and the same function serves both
//! the live events the bus pushes and the history replayed at start.
//!
//! The bus delivers every event *at least once*, so `apply` must be
//! idempotent: applying an event a second time changes nothing. Each rule
//! below is written so that is true without remembering anything extra.

use blog_events::Event;

use crate::read_model::{CommentView, PostView, ReadModel};

// ANCHOR: apply
/// Applies one event to the model. Applying it again changes nothing.
pub fn apply(model: &mut ReadModel, event: &Event) {
    match event {
        Event::PostCreated(created) => {
            // A post we already have keeps its place and its comments.
            model.insert_post(PostView::new(&created.id, &created.title));
        }
        Event::CommentCreated(created) => {
            // A comment for a post we have never heard of is dropped on
            // purpose: there is no post to attach it to. Our bus delivers in
            // order, so a post always arrives before its comments; only a
            // foreign bus that reorders events can get us here.
            let Some(post) = model.post_mut(&created.post_id) else {
                return;
            };
            if !post.has_comment(&created.id) {
                post.comments.push(CommentView {
                    id: created.id.clone(),
                    content: created.content.clone(),
                    status: created.status,
                });
            }
        }
        Event::CommentUpdated(updated) => {
            // Setting (not toggling) the fields is what makes a repeat harmless.
            // An update for a comment we do not have is a no-op, like above.
            let comment = model
                .post_mut(&updated.post_id)
                .and_then(|post| post.comment_mut(&updated.id));
            if let Some(comment) = comment {
                comment.status = updated.status;
                comment.content = updated.content.clone();
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
    match seq {
        Some(seq) if model.last_seq().is_some_and(|last| seq <= last) => Outcome::AlreadyApplied,
        Some(seq) => {
            apply(model, event);
            model.record_seq(seq);
            Outcome::Applied
        }
        None => {
            apply(model, event);
            Outcome::Applied
        }
    }
}
// ANCHOR_END: apply_delivery
