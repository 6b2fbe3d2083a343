//! What a valid comment is.

/// The longest comment we accept, in characters (not bytes: "é" counts once).
pub const MAX_CONTENT_CHARS: usize = 1000;

/// The text of a comment that has been checked: not blank, at most
/// [`MAX_CONTENT_CHARS`] characters, without surrounding whitespace.
///
/// The only way to get one is [`CommentContent::parse`], so the store never
/// has to wonder whether what it is given is acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentContent(String);

/// Why a comment was refused. The message is what the caller sees.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the comment must not be empty")]
    Empty,
    #[error("the comment must be at most {max} characters long; it has {length}")]
    TooLong { max: usize, length: usize },
}

// ANCHOR: parse
impl CommentContent {
    /// Trims the text and checks it. Trimming first means "   " is empty,
    /// and "  Nice post! " is stored as "Nice post!".
    pub fn parse(text: &str) -> Result<CommentContent, ContentError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ContentError::Empty);
        }
        let length = trimmed.chars().count();
        if length > MAX_CONTENT_CHARS {
            return Err(ContentError::TooLong {
                max: MAX_CONTENT_CHARS,
                length,
            });
        }
        Ok(CommentContent(trimmed.to_string()))
    }
    // ANCHOR_END: parse

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
