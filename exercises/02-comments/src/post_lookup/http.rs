//! The synchronous design: ask the posts service whether a post exists
//! (TODO 1 and TODO 2).
//!
//! Before comments accepts a comment on post 42, it asks posts "do you have
//! post 42?" and waits for the answer. Simple and always up to date, but now
//! every new comment needs posts to be up and quick. When it is not, the
//! least we owe our caller is an honest answer, and a fast one: a timeout,
//! and a 503 "the posts service is unavailable" instead of a request that
//! hangs for as long as posts does.
//!
//! TODO 1: `PostsOverHttp::new` — an HTTP client that gives up after `timeout`.
//! TODO 2: `post_exists` — ask `GET {posts_url}/posts`, look the id up.
//!
//! The tests are in tests/sync_spec.rs: `cargo test -p ex02-comments`.

#[allow(unused_imports)] // you will need these for TODO 2
use std::collections::HashMap;
use std::time::Duration;

#[allow(unused_imports)] // you will need these for TODO 2
use serde::de::IgnoredAny;

use super::{LookupFuture, PostLookup};
#[allow(unused_imports)] // you will need `CommentsError` for TODO 2
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
        // TODO 1: build the client with `reqwest::Client::builder()`, give it
        // `.timeout(timeout)` and `.build()` it (building only fails for TLS
        // set-up problems we do not have, so `.expect(...)` is fine here).
        // Store it with `posts_url` set to the full address of the list of
        // posts, "{posts_url}/posts". Careful: `posts_url` may end with a '/'
        // ("http://localhost:4000/"); trim it first (`trim_end_matches('/')`).
        let _ = posts_url;
        todo!(
            "TODO 1 in src/post_lookup/http.rs: PostsOverHttp::new must build an HTTP client that gives up after {timeout:?}"
        )
    }
}
// ANCHOR_END: new

// ANCHOR: ask_posts
impl PostLookup for PostsOverHttp {
    fn post_exists<'a>(&'a self, post_id: &'a PostId) -> LookupFuture<'a> {
        Box::pin(async move {
            // TODO 2: ask posts, and turn every way that can go wrong into
            // `CommentsError::PostsUnavailable { reason }` (the reason is
            // for the log; the caller gets a 503 "the posts service is
            // unavailable"):
            //   - send `GET` to `self.posts_url` with `self.client`; an
            //     error here means posts is down or did not answer in time;
            //   - an answer that is not a success (say, a 500) is no answer;
            //   - read the body as JSON: `GET /posts` answers
            //     `{"<id>": {"id": ..., "title": ...}, ...}`, and you only need
            //     the keys, so a `HashMap<String, IgnoredAny>` will do; a body
            //     that is not that is no answer either;
            //   - then `Ok(true)` if the post's id (`post_id.as_str()`) is a
            //     key, `Ok(false)` if not (the handler turns that into a 404).
            let _ = &self.client;
            todo!(
                "TODO 2 in src/post_lookup/http.rs: ask GET {} whether post {:?} exists",
                self.posts_url,
                post_id.as_str()
            )
        })
    }
}
// ANCHOR_END: ask_posts
