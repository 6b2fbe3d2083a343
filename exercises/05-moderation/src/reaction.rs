//! Which event moderation answers with which (TODO 2).
//!
//! The handler in src/handlers.rs (given) receives every event the bus
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
    // TODO 2: `match` on the event. For `Event::CommentCreated(comment)`,
    // answer `Some(Event::CommentModerated(CommentModerated { .. }))` with
    // the comment's `id`, `post_id` and `content` (clone them) and the
    // `status` that `moderate` gives its content. Any other event: `None`,
    // moderation has nothing to say about it.
    todo!(
        "TODO 2 in src/reaction.rs: react to a {} event",
        event.kind()
    )
}
// ANCHOR_END: react
