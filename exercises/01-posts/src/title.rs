//! What a valid post title is (TODO 1).
//!
//! A handler should never store a title it has not checked. Instead of
//! checking strings everywhere, we parse once into a `Title` that cannot be
//! invalid: the type system then remembers that the check happened.

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
        // TODO 1: a `Title` holds `text` without its surrounding whitespace.
        // When nothing is left it is `TitleError::Empty`; more than
        // MAX_TITLE_CHARS characters (characters, not bytes) is
        // `TitleError::TooLong`. Checked by
        // `a_title_is_trimmed_and_must_not_be_blank_or_too_long`.
        todo!("TODO 1 in src/title.rs: Title::parse({text:?}) must check the title")
    }
    // ANCHOR_END: parse

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
