//! The moderation rule (TODO 1).
//!
//! Chapter 5: the moderation service. Every new comment on the blog reaches
//! it as a `CommentCreated` event; it decides "approved" or "rejected" and
//! announces the decision as a `CommentModerated` event. It owns no data at
//! all: it is a pure reaction to events. You write all of that reaction,
//! in three pieces, one step each:
//!
//! TODO 1: `moderate` below — the rule itself.
//! TODO 2: `react` in src/reaction.rs — which event answers which.
//! TODO 3: `receive_event` in src/handlers.rs — publish the decision, and
//!         only then answer the bus (steps 3 and 4).
//!
//! Run `cargo test -p ex05-moderation` (or `cargo workbook status`, which
//! shows the steps) until it is green.

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
    // TODO 1: "orange" as a whole word, in any case, must be rejected, and
    // every other text approved, including "oranges" and other longer words:
    // the doc comment above says what a word is. The table in
    // `the_word_orange_is_rejected_in_any_case_and_anything_else_approved`
    // (tests/moderation_spec.rs) is the spec.
    todo!("TODO 1 in src/rule.rs: moderate({content:?}) must approve or reject the comment")
}
// ANCHOR_END: moderate
