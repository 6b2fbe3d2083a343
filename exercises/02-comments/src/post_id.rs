//! What a post id in a URL may look like.

/// The longest post id we accept. Ours are 16 characters; the Node app's are 8.
pub const MAX_POST_ID_CHARS: usize = 64;

/// The `{id}` of `/posts/{id}/comments`, checked: 1 to [`MAX_POST_ID_CHARS`]
/// characters, each a letter, a digit, `-` or `_`.
///
/// The posts service makes the ids, so why check them here? Because the id
/// comes from a URL anyone can type, and it ends up in our database, in our
/// events and (in the `http` lookup) in a request to posts. A narrow alphabet
/// keeps all of those boring.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PostId(String);

/// Why a post id was refused. The message is what the caller sees.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostIdError {
    #[error("the post id must not be empty")]
    Empty,
    #[error("the post id must be at most {max} characters long; it has {length}")]
    TooLong { max: usize, length: usize },
    #[error("the post id may only contain letters, digits, '-' and '_'")]
    BadCharacter,
}

impl PostId {
    pub fn parse(text: &str) -> Result<PostId, PostIdError> {
        if text.is_empty() {
            return Err(PostIdError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_POST_ID_CHARS {
            return Err(PostIdError::TooLong {
                max: MAX_POST_ID_CHARS,
                length,
            });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !text.chars().all(allowed) {
            return Err(PostIdError::BadCharacter);
        }
        Ok(PostId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
