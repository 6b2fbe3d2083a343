//! The synchronous design: ask the posts service whether a post exists.
//!
//! Simple, always up to date, and fragile: every new comment now needs posts
//! to be up and quick. The least we owe our caller is an honest answer
//! fast: a timeout, and a 503 "the posts service is unavailable" instead of
//! a request that hangs for as long as posts does.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::IgnoredAny;

use super::{LookupFuture, PostLookup};
use crate::error::error_chain;
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
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("an HTTP client with a timeout always builds");
        PostsOverHttp {
            client,
            posts_url: format!("{}/posts", posts_url.trim_end_matches('/')),
        }
    }
}
// ANCHOR_END: new

// ANCHOR: ask_posts
impl PostLookup for PostsOverHttp {
    fn post_exists<'a>(&'a self, post_id: &'a PostId) -> LookupFuture<'a> {
        Box::pin(async move {
            // The reason goes to the log: every cause, not only "error sending request".
            let unavailable = |reason: String| CommentsError::PostsUnavailable { reason };
            let response = self
                .client
                .get(&self.posts_url)
                .send()
                .await
                .map_err(|e| unavailable(error_chain(&e)))?;
            if !response.status().is_success() {
                return Err(unavailable(format!(
                    "GET /posts answered {}",
                    response.status()
                )));
            }
            // `GET /posts` is `{"<id>": {"id","title"}, ...}`: we only need the keys.
            let posts: HashMap<String, IgnoredAny> = response
                .json()
                .await
                .map_err(|e| unavailable(error_chain(&e)))?;
            Ok(posts.contains_key(post_id.as_str()))
        })
    }
}
// ANCHOR_END: ask_posts
