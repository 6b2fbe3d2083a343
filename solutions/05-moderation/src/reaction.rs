//! Which event moderation answers with which.

use blog_events::{CommentModerated, Event};

use crate::moderate;

// ANCHOR: react
/// The decision to publish for an event, if any: a `CommentCreated` gets a
/// `CommentModerated` carrying the same comment and its new status; every
/// other event gets nothing.
pub fn react(event: &Event) -> Option<Event> {
    match event {
        Event::CommentCreated(comment) => Some(Event::CommentModerated(CommentModerated {
            id: comment.id.clone(),
            post_id: comment.post_id.clone(),
            status: moderate(&comment.content),
            content: comment.content.clone(),
        })),
        _ => None,
    }
}
// ANCHOR_END: react
