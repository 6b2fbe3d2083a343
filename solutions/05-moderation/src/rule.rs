//! The moderation rule.

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
    let forbidden = content
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word.to_lowercase() == FORBIDDEN_WORD);
    if forbidden {
        CommentStatus::Rejected
    } else {
        CommentStatus::Approved
    }
}
// ANCHOR_END: moderate
