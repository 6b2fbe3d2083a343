//! Which event moderation answers with which (TODO 2).
//!
//! The handler in src/handlers.rs (TODO 3) receives every event the bus
//! delivers, asks `react` what to say in return, publishes that, and only
//! then answers the bus. `react` itself only decides: no I/O, no state.

#[allow(unused_imports)] // you will need `CommentModerated` and `moderate` for TODO 2
use blog_events::{CommentModerated, Event};

#[allow(unused_imports)]
use crate::moderate;

// ANCHOR: react
/// The decision to publish for an event, if any: a `CommentCreated` gets a
/// `CommentModerated` carrying the same comment and its new status; every
/// other event gets nothing.
pub fn react(event: &Event) -> Option<Event> {
    // TODO 2: a new comment must be answered with a decision about that same
    // comment (so that comments can find it and update its copy), carrying
    // what `moderate` says; every other event (posts, and decisions coming
    // back through the bus) with nothing. Checked by
    // `a_new_comment_is_answered_with_its_decision_and_every_other_event_with_nothing`
    // in tests/moderation_spec.rs.
    todo!(
        "TODO 2 in src/reaction.rs: react to a {} event",
        event.kind()
    )
}
// ANCHOR_END: react
