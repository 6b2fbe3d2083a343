//! The read model: posts with their comments, shaped exactly as `GET /posts`
//! shows them, kept in memory.
//!
//! Nothing here decides *how* an event changes the model; that is
//! [`projection`](crate::projection)'s job. This module only offers the
//! lookups a projection needs, a waiting room for comment events that
//! arrive before their post, and the encoded `GET /posts` answer, kept
//! between changes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;
use blog_events::{CommentStatus, Event};
use serde::{Serialize, Serializer};

/// A comment as the client shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommentView {
    pub id: String,
    pub content: String,
    pub status: CommentStatus,
}

/// A post and its comments, oldest comment first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PostView {
    pub id: String,
    pub title: String,
    pub comments: Vec<CommentView>,
}

impl PostView {
    /// A post that has no comments yet.
    pub fn new(id: &str, title: &str) -> Self {
        PostView {
            id: id.to_string(),
            title: title.to_string(),
            comments: Vec::new(),
        }
    }

    /// The comment with this id, if the post has it.
    pub fn comment_mut(&mut self, id: &str) -> Option<&mut CommentView> {
        self.comments.iter_mut().find(|comment| comment.id == id)
    }

    pub fn has_comment(&self, id: &str) -> bool {
        self.comments.iter().any(|comment| comment.id == id)
    }
}

// ANCHOR: read_model
/// Everything the query service knows, rebuilt from events alone.
///
/// Throwing it away loses nothing: the bus's log holds every event it was
/// built from, so a restart simply replays them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadModel {
    /// In the order the posts were created, which is the order `GET /posts` shows.
    posts: Vec<PostView>,
    /// Post id → position in `posts`, so an event finds its post without a
    /// scan. Posts are never removed, so positions never move.
    positions: HashMap<String, usize>,
    /// The highest bus sequence number applied so far. A delivery numbered at
    /// or below it has been applied already (the bus delivers at least once).
    last_seq: Option<u64>,
    /// Which log those numbers count in, as the bus names it (`None`: a bus
    /// that names none). Numbers from another log mean nothing here.
    log_id: Option<String>,
    /// Comment events that arrived before their post, by post id, in the
    /// order they came. Posts and comments publish separately, so after an
    /// outage a comment can overtake its post; it waits here, not in the bin.
    held: HashMap<String, Vec<Event>>,
    /// The post ids in `held`, the one waiting longest first: the first given
    /// up on when [`MAX_HELD_EVENTS`] is reached.
    held_order: VecDeque<String>,
    held_count: usize,
    /// `GET /posts` as JSON, encoded on the first read after a change and
    /// shared by every read until the next one. Only `insert_post` and
    /// `post_mut` change posts, and both forget the post's old encoding.
    encoded: EncodedPosts,
}
// ANCHOR_END: read_model

/// The most events the model holds for posts it has not seen. A post is
/// normally a few events behind its comments; this bound only stops a flood
/// of comments for posts that will never come from using up the memory.
pub const MAX_HELD_EVENTS: usize = 10_000;

impl ReadModel {
    pub fn new() -> Self {
        ReadModel::default()
    }

    /// Every post, oldest first.
    pub fn posts(&self) -> &[PostView] {
        &self.posts
    }

    pub fn post(&self, id: &str) -> Option<&PostView> {
        self.positions.get(id).map(|&at| &self.posts[at])
    }

    /// The post, to be changed: its encoded answer is forgotten first, so
    /// even a change that stops half-way is never hidden behind it.
    pub fn post_mut(&mut self, id: &str) -> Option<&mut PostView> {
        let at = *self.positions.get(id)?;
        self.encoded.forget(at);
        Some(&mut self.posts[at])
    }

    /// Adds the post at the end, unless a post with its id is already there
    /// (then nothing changes and the answer is `false`).
    pub fn insert_post(&mut self, post: PostView) -> bool {
        if self.positions.contains_key(&post.id) {
            return false;
        }
        self.positions.insert(post.id.clone(), self.posts.len());
        self.encoded.forget(self.posts.len());
        self.posts.push(post);
        true
    }

    /// `GET /posts`'s body: the bytes `serde_json` writes for
    /// [`PostsById`], encoded again only for the posts that changed since
    /// the last call. Cloning the answer copies a pointer, not the bytes.
    pub fn posts_json(&self) -> Bytes {
        self.encoded.body(&self.posts)
    }

    /// The highest bus sequence number applied so far (`None`: none yet).
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The sequence number the bus will send next, if nothing was lost: one
    /// more than [`ReadModel::last_seq`], and 1 for a model with none yet.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map_or(1, |last| last.saturating_add(1))
    }

    /// Remembers that the delivery numbered `seq` has been applied.
    pub fn record_seq(&mut self, seq: u64) {
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
    }

    /// Moves the mark to just before `seq` when it is further behind: for a
    /// number read from the bus's own log, whose holes are real. (A number
    /// in a request is never trusted this way; see `apply_delivery`.)
    pub fn skip_missing_before(&mut self, seq: u64) {
        if seq > self.next_seq() {
            self.last_seq = Some(seq - 1);
        }
    }

    /// The bus's name for the log the model was built from, once it gave one.
    pub fn log_id(&self) -> Option<&str> {
        self.log_id.as_deref()
    }

    pub fn set_log_id(&mut self, id: &str) {
        self.log_id = Some(id.to_string());
    }

    // ANCHOR: hold
    /// Keeps a comment event until the post `post_id` arrives. The same event
    /// held twice is kept once. When [`MAX_HELD_EVENTS`] are held, the post
    /// that has waited longest is given up on, with a warning.
    pub fn hold_until_post(&mut self, post_id: &str, event: Event) {
        let waiting = self.held.entry(post_id.to_string()).or_default();
        if waiting.contains(&event) {
            return;
        }
        if waiting.is_empty() {
            self.held_order.push_back(post_id.to_string());
        }
        waiting.push(event);
        self.held_count += 1;
        while self.held_count > MAX_HELD_EVENTS {
            let Some(oldest) = self.held_order.pop_front() else {
                break;
            };
            let dropped = self.held.remove(&oldest).unwrap_or_default();
            self.held_count -= dropped.len();
            tracing::warn!(post = %oldest, events = dropped.len(), "too many comment events wait for their posts; giving up on the oldest post's");
        }
    }

    /// The events held for `post_id`, in the order they came, to be applied
    /// now that the post is here. Afterwards none are held for it.
    pub fn release_held(&mut self, post_id: &str) -> Vec<Event> {
        let Some(waiting) = self.held.remove(post_id) else {
            return Vec::new();
        };
        self.held_count -= waiting.len();
        self.held_order.retain(|id| id != post_id);
        waiting
    }
    // ANCHOR_END: hold

    /// How many events wait for a post that has not arrived.
    pub fn held_count(&self) -> usize {
        self.held_count
    }
}

/// Posts as `GET /posts` shows them: a JSON object keyed by id, in the order
/// they were created (a plain map would sort them by their random ids).
#[derive(Debug)]
pub struct PostsById(pub Vec<PostView>);

impl Serialize for PostsById {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|post| (&post.id, post)))
    }
}

/// The encoded `GET /posts` body, and each post's entry in it.
///
/// Reads far outnumber changes, and a read that encodes the whole model
/// costs milliseconds once it holds thousands of comments. So the body is
/// built on the first read after a change, at most once per change, and
/// every read until the next change shares it. A change forgets only its
/// post's entry: under a steady stream of events, a rebuild encodes just
/// the posts that changed and copies the others' bytes.
///
/// Building happens behind the read lock (readers share it), never the
/// write lock, and only when someone reads: a model nobody reads, or one
/// replayed at start, encodes nothing.
#[derive(Default)]
struct EncodedPosts(Mutex<Encoded>);

#[derive(Default)]
struct Encoded {
    /// `"<id>":{...}` of each post by position: a slice of `body` or newer
    /// bytes; `None` (or missing) once the post changed.
    entries: Vec<Option<Bytes>>,
    /// The whole answer, while no post has changed since it was built.
    body: Option<Bytes>,
}

impl EncodedPosts {
    /// Marks the post at `at` changed (or new).
    fn forget(&mut self, at: usize) {
        let encoded = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        encoded.body = None;
        if let Some(entry) = encoded.entries.get_mut(at) {
            *entry = None;
        }
    }

    fn body(&self, posts: &[PostView]) -> Bytes {
        let mut encoded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(body) = &encoded.body {
            return body.clone();
        }
        encoded.entries.resize(posts.len(), None);
        for (entry, post) in encoded.entries.iter_mut().zip(posts) {
            if entry.is_none() {
                *entry = Some(encode_entry(post));
            }
        }
        // One buffer for the whole answer, then each entry becomes a view
        // into it, so the model keeps one copy of the bytes, not two.
        let entries = encoded.entries.iter().flatten();
        let size = entries.clone().map(|entry| entry.len() + 1).sum::<usize>() + 2;
        let mut body = Vec::with_capacity(size);
        let mut spans = Vec::with_capacity(posts.len());
        body.push(b'{');
        for entry in entries {
            if !spans.is_empty() {
                body.push(b',');
            }
            spans.push(body.len()..body.len() + entry.len());
            body.extend_from_slice(entry);
        }
        body.push(b'}');
        let body = Bytes::from(body);
        encoded.entries = spans
            .into_iter()
            .map(|span| Some(body.slice(span)))
            .collect();
        encoded.body = Some(body.clone());
        body
    }
}

/// One post as an entry of [`PostsById`]: its id as the key, then the post.
fn encode_entry(post: &PostView) -> Bytes {
    let mut entry = Vec::new();
    // Writing strings and derived structs into a `Vec` cannot fail.
    serde_json::to_writer(&mut entry, &post.id).expect("a post id encodes as JSON");
    entry.push(b':');
    serde_json::to_writer(&mut entry, post).expect("a post encodes as JSON");
    entry.into()
}

/// A copy of the model starts with nothing encoded: the cache is not part
/// of what the model says.
impl Clone for EncodedPosts {
    fn clone(&self) -> Self {
        EncodedPosts::default()
    }
}

/// Two models are equal when their posts are, however much of each was
/// encoded.
impl PartialEq for EncodedPosts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for EncodedPosts {}

impl std::fmt::Debug for EncodedPosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodedPosts")
    }
}
