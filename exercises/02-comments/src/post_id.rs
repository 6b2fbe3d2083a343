//! What a post id in a URL may look like (TODO 1).
//!
//! The id comes from a URL anyone can type. Check it once, at the edge, and
//! the rest of comments (its database, its events, the lookup) only ever
//! sees a `PostId`, never a raw string.

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

// ANCHOR: parse
impl PostId {
    pub fn parse(text: &str) -> Result<PostId, PostIdError> {
        // TODO 1: a `PostId` holds `text` exactly as the URL has it (no
        // trimming). Empty is `PostIdError::Empty`; more than
        // MAX_POST_ID_CHARS characters is `PostIdError::TooLong`; any character
        // but an ASCII letter, a digit, '-' or '_' is `PostIdError::BadCharacter`.
        // Checked by `a_post_id_is_short_and_plain` in tests/sync_spec.rs.
        todo!("TODO 1 in src/post_id.rs: PostId::parse({text:?}) must check the post id")
    }
    // ANCHOR_END: parse

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
