//! What comments does with each event the bus delivers.
//!
//! The bus delivers every event at least once, so each reaction must be
//! idempotent: handling an event a second time changes nothing.

use blog_events::{CommentStatus, Event};

use crate::CommentStore;
use crate::store::{Moderation, Tx};

/// What handling an event amounted to; the handler answers `{"status": "OK"}`
/// or `{"status": "ignored"}` accordingly (both with 200).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// The event is reflected in our data (now, or already before).
    Applied,
    /// The event is none of our business: nothing to do, and no error either.
    Ignored,
}

// ANCHOR: handle_event
/// Applies one event to the comments database, inside a write's
/// transaction: that of one event alone, or that of a whole batch.
pub fn apply_event(tx: &Tx<'_>, event: &Event) -> rusqlite::Result<Handled> {
    match event {
        // A post exists: remember it, so comments on it are accepted.
        Event::PostCreated(post) => {
            tx.remember_post(&post.id)?;
            Ok(Handled::Applied)
        }
        // Moderation only ever decides approved or rejected; a "decision"
        // to make a comment pending again decides nothing.
        Event::CommentModerated(decision) if decision.status == CommentStatus::Pending => {
            Ok(Handled::Ignored)
        }
        Event::CommentModerated(decision) => match tx.apply_moderation(decision)? {
            Moderation::Updated | Moderation::AlreadyApplied => Ok(Handled::Applied),
            // Not one of our comments (another comments service, or a data
            // directory that was wiped): nothing to update, and retrying
            // would not help, so we accept the event and move on.
            Moderation::UnknownComment => {
                tracing::warn!(id = %decision.id, "moderation decided on a comment we do not have");
                Ok(Handled::Ignored)
            }
        },
        // Our own announcements come back to us through the bus.
        Event::CommentCreated(_) | Event::CommentUpdated(_) => Ok(Handled::Ignored),
    }
}
// ANCHOR_END: handle_event

/// Applies one event, and answers once what it wrote is on disk.
pub async fn handle_event(store: &CommentStore, event: &Event) -> rusqlite::Result<Handled> {
    let event = event.clone();
    store.write(move |tx| apply_event(tx, &event)).await
}

/// Applies events in order, all in one transaction: one disk flush for the
/// whole batch, answered once it is on disk. If one fails, none is kept
/// (the bus sends them again; applying one twice changes nothing).
pub async fn handle_events(store: &CommentStore, events: Vec<Event>) -> rusqlite::Result<()> {
    store
        .write(move |tx| {
            events
                .iter()
                .try_for_each(|event| apply_event(tx, event).map(drop))
        })
        .await
}
