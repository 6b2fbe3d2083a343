//! The moderation rule (TODO 1).
//!
//! Chapter 5: the moderation service. Every new comment on the blog reaches
//! it as a `CommentCreated` event; it decides "approved" or "rejected" and
//! announces the decision as a `CommentModerated` event. It owns no data at
//! all: it is a pure reaction to events. You write its two small pure
//! functions; the HTTP handler around them is given.
//!
//! TODO 1: `moderate` below — the rule itself.
//! TODO 2: `react` in src/reaction.rs — which event answers which.
//!
//! Run `cargo test -p ex05-moderation` until it is green.

use blog_events::CommentStatus;

/// The one word the blog does not allow.
pub const FORBIDDEN_WORD: &str = "orange";

// ANCHOR: moderate
/// Rejects a comment that contains the word "orange", approves any other.
///
/// "The word" means a whole word, in any case: the text is cut into words at
/// every character that is not a letter or a digit, and a word is forbidden
/// when it equals "orange" ignoring case. So "Orange!", "ORANGE" and
/// "blood-orange" are rejected, while "oranges", "orangeade" and "Orangery"
/// are other words and approved. (The Node.js app looks for the letters
/// "orange" anywhere, case-sensitively; we read the rule as people do.)
///
/// A pure function: the same text always gets the same decision. That is what
/// lets moderation keep no state (see the crate docs).
pub fn moderate(content: &str) -> CommentStatus {
    // TODO 1: cut `content` into words at every character that is not a
    // letter or a digit (`char::is_alphanumeric`), and answer
    // `CommentStatus::Rejected` if any word, lowercased, equals
    // FORBIDDEN_WORD; `CommentStatus::Approved` otherwise.
    todo!("TODO 1 in src/rule.rs: moderate({content:?}) must approve or reject the comment")
}
// ANCHOR_END: moderate
