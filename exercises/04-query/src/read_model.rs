//! The read model: posts with their comments, shaped exactly as `GET /posts`
//! shows them, kept in memory.
//!
//! Nothing here decides *how* an event changes the model; that is
//! [`projection`](crate::projection)'s job. This module only offers the
//! lookups a projection needs, and a waiting room for comment events that
//! arrive before their post.

use std::collections::{HashMap, VecDeque};

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

    pub fn post_mut(&mut self, id: &str) -> Option<&mut PostView> {
        self.positions.get(id).map(|&at| &mut self.posts[at])
    }

    /// Adds the post at the end, unless a post with its id is already there
    /// (then nothing changes and the answer is `false`).
    pub fn insert_post(&mut self, post: PostView) -> bool {
        if self.positions.contains_key(&post.id) {
            return false;
        }
        self.positions.insert(post.id.clone(), self.posts.len());
        self.posts.push(post);
        true
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
