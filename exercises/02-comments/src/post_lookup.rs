//! How comments knows whether a post exists before it accepts a comment.
//!
//! Two designs, behind one small trait, chosen by `POST_LOOKUP`:
//!
//! - `events` (the default): comments keeps its own `known_posts` table, fed
//!   by the `PostCreated` events it receives. Checking a post is a query in our
//!   own database, so comments keeps working while posts is down or slow.
//!   The price is eventual consistency: for a moment after a post is created,
//!   comments may not have heard of it yet and answers 404.
//! - `http` ([`http::PostsOverHttp`]): ask posts, synchronously, on every new
//!   comment. Always up to date, but now comments is only as available as
//!   posts: when posts is down, nobody can comment. Chapter 2 builds it, then
//!   shows why it is fragile.
//! - `off`: no check at all, like the Node.js app this blog is modelled on.

pub mod http;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::{CommentStore, CommentsError, PostId};

/// A boxed future, so the lookup can be chosen at run time (`Arc<dyn PostLookup>`).
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, CommentsError>> + Send + 'a>>;

// ANCHOR: trait
/// Answers "does this post exist?".
pub trait PostLookup: Send + Sync + 'static {
    /// `Ok(false)` means the post does not exist; an error means we could
    /// not find out (for example posts is unreachable).
    fn post_exists<'a>(&'a self, post_id: &'a PostId) -> LookupFuture<'a>;
}
// ANCHOR_END: trait

/// The `events` lookup: our own table of the posts we have heard of.
pub struct KnownPosts(pub CommentStore);

impl PostLookup for KnownPosts {
    fn post_exists<'a>(&'a self, post_id: &'a PostId) -> LookupFuture<'a> {
        Box::pin(async move { Ok(self.0.knows_post(post_id).await?) })
    }
}

/// The `off` lookup: every post exists.
pub struct NoCheck;

impl PostLookup for NoCheck {
    fn post_exists<'a>(&'a self, _post_id: &'a PostId) -> LookupFuture<'a> {
        Box::pin(async { Ok(true) })
    }
}

/// Which lookup to use: the value of `POST_LOOKUP`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PostLookupMode {
    #[default]
    Events,
    Http,
    Off,
}

impl PostLookupMode {
    /// Builds the chosen lookup. `posts_url` and `timeout` only matter for `Http`.
    pub fn build(
        self,
        store: &CommentStore,
        posts_url: &str,
        timeout: Duration,
    ) -> Arc<dyn PostLookup> {
        match self {
            PostLookupMode::Events => Arc::new(KnownPosts(store.clone())),
            PostLookupMode::Http => Arc::new(http::PostsOverHttp::new(posts_url, timeout)),
            PostLookupMode::Off => Arc::new(NoCheck),
        }
    }
}

impl FromStr for PostLookupMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "events" => Ok(PostLookupMode::Events),
            "http" => Ok(PostLookupMode::Http),
            "off" => Ok(PostLookupMode::Off),
            other => Err(format!(
                "POST_LOOKUP must be events, http or off, not {other:?}"
            )),
        }
    }
}
