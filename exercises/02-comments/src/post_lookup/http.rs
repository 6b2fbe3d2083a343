//! The synchronous design: ask the posts service whether a post exists
//! (TODO 2 and TODO 3).
//!
//! Before comments accepts a comment on post 42, it asks posts "do you have
//! post 42?" and waits for the answer. Simple and always up to date, but now
//! every new comment needs posts to be up and quick. When it is not, the
//! least we owe our caller is an honest answer, and a fast one: a timeout,
//! and a 503 "the posts service is unavailable" instead of a request that
//! hangs for as long as posts does.
//!
//! TODO 2: `PostsOverHttp::new` — an HTTP client that gives up after `timeout`.
//! TODO 3: `post_exists` — ask `GET {posts_url}/posts`, look the id up.
//!
//! The tests are in tests/sync_spec.rs: `cargo test -p ex02-comments`.

#[allow(unused_imports)] // you will need these for TODO 3
use std::collections::HashMap;
use std::time::Duration;

#[allow(unused_imports)] // you will need these for TODO 3
use serde::de::IgnoredAny;

use super::{LookupFuture, PostLookup};
#[allow(unused_imports)] // you will need `CommentsError` for TODO 3
use crate::{CommentsError, PostId};

/// Asks `GET {posts_url}/posts` and looks for the id in the answer.
pub struct PostsOverHttp {
    client: reqwest::Client,
    posts_url: String,
}

// ANCHOR: new
impl PostsOverHttp {
    /// `posts_url` is the posts service's address, e.g. `http://localhost:4000`.
    /// `timeout` bounds the whole request, from connecting to the last byte.
    pub fn new(posts_url: &str, timeout: Duration) -> Self {
        // TODO 2: a `PostsOverHttp` whose client gives up on a request after
        // `timeout` (posts down, or hanging), and whose `posts_url` is the
        // full address of the list of posts, whether or not `posts_url` ends
        // with a '/'. Checked by `the_lookup_accepts_a_posts_url_with_a_trailing_slash`
        // and `the_lookup_gives_up_when_posts_is_down_hanging_or_broken`
        // in tests/sync_spec.rs.
        let _ = posts_url;
        todo!(
            "TODO 2 in src/post_lookup/http.rs: PostsOverHttp::new must build an HTTP client that gives up after {timeout:?}"
        )
    }
}
// ANCHOR_END: new

// ANCHOR: ask_posts
impl PostLookup for PostsOverHttp {
    fn post_exists<'a>(&'a self, post_id: &'a PostId) -> LookupFuture<'a> {
        Box::pin(async move {
            // TODO 3: answer `Ok(true)` when posts lists the post,
            // `Ok(false)` when posts answered and does not list it (a 404
            // for the caller), and `CommentsError::PostsUnavailable` (a 503)
            // whenever we could not find out: posts down, too slow, answering
            // an error status, or a body that is not the list of posts. The
            // reason goes to the log, so it must say why, with every cause.
            // Checked by `the_lookup_finds_the_posts_that_posts_has`,
            // `the_lookup_gives_up_when_posts_is_down_hanging_or_broken`
            // and `the_log_says_why_posts_could_not_answer` in tests/sync_spec.rs.
            let _ = &self.client;
            todo!(
                "TODO 3 in src/post_lookup/http.rs: ask GET {} whether post {:?} exists",
                self.posts_url,
                post_id.as_str()
            )
        })
    }
}
// ANCHOR_END: ask_posts
