//! The answer to a new comment, kept ready: each busy post's comment list,
//! already encoded as JSON.
//!
//! `POST /posts/{id}/comments` answers with the post's *whole* list (the
//! blog's contract, kept from the Node original). Read from the database
//! and encoded again for every new comment, that list costs more the longer
//! it gets: with a thousand comments on a post, reading them back was most
//! of what comments spent per comment. So the writer keeps the encoded list
//! of the posts written to lately, and changes it in place: a new comment
//! is appended, a moderation decision rewrites one status. The answer is a
//! copy of those bytes.
//!
//! Three rules keep it honest:
//! - Only the writer changes it, inside the transaction that changes the
//!   database, so it always shows what that transaction holds.
//! - A transaction that fails after its writes ran (a failed commit) could
//!   leave it ahead of the database: the writer then empties it
//!   ([`CommentLists::forget_all`]) and it is read again from the file.
//! - It is bounded ([`CACHE_BYTES`]): beyond that, the posts used least
//!   recently are dropped, and read from the database when next written.

use std::collections::HashMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use blog_events::CommentStatus;
use memchr::memmem;

use crate::store::Comment;

/// The most bytes of encoded lists kept, all posts together.
pub const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// A post's comments, oldest first, as the JSON array the API answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentList(Vec<u8>);

impl CommentList {
    /// Encodes `comments` (oldest first).
    pub fn encode(comments: &[Comment]) -> CommentList {
        CommentList(serde_json::to_vec(comments).expect("a comment always encodes"))
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads the comments back (for tests and tools; the service never needs to).
    pub fn decode(&self) -> Vec<Comment> {
        serde_json::from_slice(&self.0).expect("a CommentList holds valid JSON")
    }
}

/// Answered as `application/json`, exactly as `Json(Vec<Comment>)` would be.
impl IntoResponse for CommentList {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// The encoded lists of the posts written to lately. Only the writer's jobs
/// touch it (see the module's rules).
#[derive(Default)]
pub struct CommentLists {
    posts: HashMap<String, Cached>,
    bytes: usize,
    /// Counts uses, to find the post used least recently.
    clock: u64,
}

struct Cached {
    json: Vec<u8>,
    used: u64,
}

impl CommentLists {
    /// `comment` was just added to `post_id`. Answers the post's list with
    /// it, or `None` if the post is not kept: read it from the database,
    /// then [`CommentLists::keep`] it.
    pub fn append(&mut self, post_id: &str, comment: &Comment) -> Option<CommentList> {
        self.clock += 1;
        let clock = self.clock;
        let cached = self.posts.get_mut(post_id)?;
        let before = cached.json.len();
        cached.json.pop(); // the closing ']'
        if cached.json.len() > 1 {
            cached.json.push(b',');
        }
        serde_json::to_writer(&mut cached.json, comment).expect("a comment always encodes");
        cached.json.push(b']');
        cached.used = clock;
        let answer = CommentList(cached.json.clone());
        self.bytes += cached.json.len() - before;
        self.shrink();
        Some(answer)
    }

    /// Keeps `list`, just read from the database, as `post_id`'s list.
    pub fn keep(&mut self, post_id: &str, list: &CommentList) {
        if list.0.len() > CACHE_BYTES / 4 {
            return; // one post would crowd out all the others
        }
        self.clock += 1;
        let cached = Cached {
            json: list.0.clone(),
            used: self.clock,
        };
        self.bytes += cached.json.len();
        if let Some(old) = self.posts.insert(post_id.to_string(), cached) {
            self.bytes -= old.json.len();
        }
        self.shrink();
    }

    /// Comment `id` of `post_id` now has `status`. A post not kept needs
    /// nothing; a kept post without that comment (which cannot happen) is
    /// dropped, to be read again from the database.
    pub fn set_status(&mut self, post_id: &str, id: &str, status: CommentStatus) {
        let Some(cached) = self.posts.get_mut(post_id) else {
            return;
        };
        let before = cached.json.len();
        if replace_status(&mut cached.json, id, status).is_none() {
            self.bytes -= before;
            self.posts.remove(post_id);
            return;
        }
        self.bytes = self.bytes + cached.json.len() - before;
    }

    /// Forgets every list: a commit failed, and they may show writes that
    /// are not in the database.
    pub fn forget_all(&mut self) {
        self.posts.clear();
        self.bytes = 0;
    }

    /// How many bytes the kept lists take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn shrink(&mut self) {
        while self.bytes > CACHE_BYTES {
            let Some(oldest) = self
                .posts
                .iter()
                .min_by_key(|(_, cached)| cached.used)
                .map(|(post, _)| post.clone())
            else {
                return;
            };
            if let Some(dropped) = self.posts.remove(&oldest) {
                self.bytes -= dropped.json.len();
            }
        }
    }
}

/// Rewrites the status of comment `id` in an encoded list. `None`: no such
/// comment in it.
///
/// Safe to find by text: inside a JSON string every `"` is escaped, so the
/// bytes `{"id":"<id>","` only start a comment, and the first `,"status":"`
/// after them is that comment's own.
fn replace_status(json: &mut Vec<u8>, id: &str, status: CommentStatus) -> Option<()> {
    let start = format!("{{\"id\":\"{id}\",");
    let at = memmem::find(json, start.as_bytes())?;
    const KEY: &[u8] = b",\"status\":\"";
    let value = at + memmem::find(&json[at..], KEY)? + KEY.len();
    let end = value + memchr::memchr(b'"', &json[value..])?;
    json.splice(value..end, status.as_str().bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: &str, content: &str, status: CommentStatus) -> Comment {
        Comment {
            id: id.into(),
            content: content.into(),
            status,
        }
    }

    #[test]
    fn appending_and_moderating_give_what_encoding_the_list_again_gives() {
        let mut lists = CommentLists::default();
        let mut truth = vec![comment("a1", "first", CommentStatus::Pending)];
        assert_eq!(
            lists.append("p", &truth[0]),
            None,
            "the post is not kept yet"
        );
        lists.keep("p", &CommentList::encode(&truth));
        // Content that looks like the keys must not fool the search.
        let tricky = comment(
            "b2",
            r#"{"id":"a1","status":"pending"} ,"status":"x"#,
            CommentStatus::Pending,
        );
        truth.push(tricky.clone());
        assert_eq!(
            lists.append("p", &tricky),
            Some(CommentList::encode(&truth))
        );
        lists.set_status("p", "b2", CommentStatus::Approved);
        lists.set_status("p", "a1", CommentStatus::Rejected);
        truth[1].status = CommentStatus::Approved;
        truth[0].status = CommentStatus::Rejected;
        let third = comment("c3", "third", CommentStatus::Pending);
        truth.push(third.clone());
        let answer = lists.append("p", &third).unwrap();
        assert_eq!(answer, CommentList::encode(&truth));
        assert_eq!(answer.decode(), truth);
        assert_eq!(lists.bytes(), answer.as_bytes().len());
    }

    #[test]
    fn an_empty_list_gets_its_first_comment() {
        let mut lists = CommentLists::default();
        lists.keep("p", &CommentList::encode(&[]));
        let first = comment("a1", "hello", CommentStatus::Pending);
        assert_eq!(
            lists.append("p", &first),
            Some(CommentList::encode(std::slice::from_ref(&first)))
        );
    }

    #[test]
    fn a_comment_it_does_not_have_drops_the_post_and_forget_all_drops_every_post() {
        let mut lists = CommentLists::default();
        let one = [comment("a1", "x", CommentStatus::Pending)];
        lists.keep("p", &CommentList::encode(&one));
        lists.keep("q", &CommentList::encode(&one));
        lists.set_status("p", "zz", CommentStatus::Approved);
        assert_eq!(lists.append("p", &one[0]), None, "p was dropped");
        assert!(lists.append("q", &one[0]).is_some(), "q was kept");
        lists.forget_all();
        assert_eq!(lists.append("q", &one[0]), None);
        assert_eq!(lists.bytes(), 0);
    }

    #[test]
    fn it_stays_within_its_bound_and_drops_the_post_used_least_recently() {
        let mut lists = CommentLists::default();
        let long = "x".repeat(1000);
        let list: Vec<Comment> = (0..200)
            .map(|n| comment(&format!("c{n}"), &long, CommentStatus::Pending))
            .collect();
        let encoded = CommentList::encode(&list); // about 200 KB
        let fit = CACHE_BYTES / encoded.as_bytes().len();
        for post in 0..fit + 5 {
            lists.keep(&format!("p{post}"), &encoded);
            // p0 is used all the time, so it is never the one dropped.
            assert!(lists.append("p0", &list[0]).is_some(), "after p{post}");
            assert!(lists.bytes() <= CACHE_BYTES, "{} bytes", lists.bytes());
        }
        assert_eq!(lists.append("p1", &list[0]), None, "p1 was dropped");
        assert!(lists.append(&format!("p{}", fit + 4), &list[0]).is_some());
    }
}
