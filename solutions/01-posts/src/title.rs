//! What a valid post title is.

/// The longest title we accept, in characters (not bytes: "é" counts once).
pub const MAX_TITLE_CHARS: usize = 200;

/// A post title that has been checked: not blank, at most
/// [`MAX_TITLE_CHARS`] characters, without surrounding whitespace.
///
/// The only way to get one is [`Title::parse`], so code that holds a `Title`
/// never has to check it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

/// Why a title was refused. The message is what the caller sees.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("the title must not be empty")]
    Empty,
    #[error("the title must be at most {max} characters long; it has {length}")]
    TooLong { max: usize, length: usize },
}

// ANCHOR: parse
impl Title {
    /// Trims the text and checks it. Trimming first means "   " is empty,
    /// and "  Hello " is stored as "Hello".
    pub fn parse(text: &str) -> Result<Title, TitleError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        let length = trimmed.chars().count();
        if length > MAX_TITLE_CHARS {
            return Err(TitleError::TooLong {
                max: MAX_TITLE_CHARS,
                length,
            });
        }
        Ok(Title(trimmed.to_string()))
    }
    // ANCHOR_END: parse

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
