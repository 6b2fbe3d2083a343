//! The read model: posts with their comments, shaped exactly as `GET /posts`
//! shows them, kept in memory.
//!
//! Nothing here decides *how* an event changes the model; that is
//! [`projection`](crate::projection)'s job. This module only offers the
//! lookups a projection needs.

use std::collections::HashMap;

use blog_events::CommentStatus;
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
}
// ANCHOR_END: read_model

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

    /// Remembers that the delivery numbered `seq` has been applied.
    pub fn record_seq(&mut self, seq: u64) {
        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
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
