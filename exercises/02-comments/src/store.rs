//! The comments database: comments, the posts we know of, and the outbox of
//! events about comments.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use blog_events::outbox::{self, ServiceDb};
use blog_events::{CommentCreated, CommentModerated, CommentStatus, CommentUpdated, Event};
use blog_runtime::db::OpenError;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::lists::{CommentList, CommentLists};
use crate::writer::Writer;
use crate::{CommentContent, PostId};

/// A comment as the API shows it. The post it belongs to is in the URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub content: String,
    pub status: CommentStatus,
}

/// What applying a moderation decision did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderation {
    /// The status changed and `CommentUpdated` is in the outbox.
    Updated,
    /// The comment already had this status: a replay or a duplicate.
    AlreadyApplied,
    /// We have no comment with that id.
    UnknownComment,
}

/// A handle to the comments database; cheap to clone, one per request.
///
/// Its methods are `async`: the SQLite work runs on a blocking thread (see
/// [`ServiceDb`]), so a commit waiting for the disk never holds up the
/// other requests. Every write goes through one [`Writer`], which commits
/// the writes waiting together in one transaction (group commit); inside
/// that transaction a write sees the database as a [`Tx`].
#[derive(Clone)]
pub struct CommentStore {
    db: ServiceDb,
    /// Started by the first write, on the runtime that makes it.
    writer: Arc<OnceLock<Writer>>,
    memory: Arc<Memory>,
}

/// What the store keeps in memory besides the database. Only writes change
/// it, inside their transaction; a failed commit empties it (it is then
/// read again from the file), so it never shows what the file does not hold.
#[derive(Default)]
struct Memory {
    /// Posts we know exist, so the check on every new comment needs no
    /// query. Bounded: beyond [`KNOWN_POSTS_KEPT`], the table answers for
    /// the others.
    known: RwLock<HashSet<String>>,
    /// The encoded comment lists of the posts written to lately: what a new
    /// comment is answered with, without reading the list back ([`crate::lists`]).
    lists: Mutex<CommentLists>,
}

impl Memory {
    fn remember_known(&self, post_id: &str) {
        let mut known = blog_runtime::locks::write(&self.known);
        if known.len() < KNOWN_POSTS_KEPT {
            known.insert(post_id.to_string());
        }
    }

    fn forget_all(&self) {
        blog_runtime::locks::write(&self.known).clear();
        blog_runtime::locks::lock(&self.lists).forget_all();
    }
}

/// How many post ids [`CommentStore`] keeps in memory (about 50 bytes each).
const KNOWN_POSTS_KEPT: usize = 10_000;

impl CommentStore {
    /// Opens or creates the database file, durably.
    pub fn open(path: &Path) -> Result<CommentStore, OpenError> {
        let db = ServiceDb::open(
            path,
            "CREATE TABLE IF NOT EXISTS comments (
                 id      TEXT PRIMARY KEY,
                 post_id TEXT NOT NULL,
                 content TEXT NOT NULL,
                 status  TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS comments_by_post ON comments (post_id);
             -- Our own copy of which posts exist, fed by PostCreated events:
             -- comments can check a post without asking posts (database per service).
             CREATE TABLE IF NOT EXISTS known_posts (
                 id TEXT PRIMARY KEY
             );",
        )?;
        Ok(CommentStore {
            db,
            writer: Arc::default(),
            memory: Arc::default(),
        })
    }

    fn writer(&self) -> &Writer {
        self.writer.get_or_init(|| {
            // A failed commit may have undone what the memory already shows.
            let memory = self.memory.clone();
            Writer::start(self.db.clone(), Arc::new(move || memory.forget_all()))
        })
    }

    /// Runs `work` in the writer's next transaction, and answers its result
    /// once that transaction is on disk. Everything `work` writes is kept
    /// or undone together.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Tx<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let memory = self.memory.clone();
        self.writer()
            .write(move |conn| {
                work(&Tx {
                    conn,
                    memory: &memory,
                })
            })
            .await
    }

    /// How many transactions with writes the store has committed: a batch
    /// of events shares one, not one per event.
    pub fn commits(&self) -> u64 {
        self.writer.get().map_or(0, Writer::commits)
    }

    // ANCHOR: create
    /// Stores a new `pending` comment and its `CommentCreated` event in one
    /// write (both or neither), and returns every comment of the post,
    /// oldest first, once they are on disk.
    pub async fn create(
        &self,
        post_id: &PostId,
        content: CommentContent,
    ) -> rusqlite::Result<CommentList> {
        let comment = Comment {
            id: new_id(),
            content: content.as_str().to_string(),
            status: CommentStatus::Pending,
        };
        let event = Event::CommentCreated(CommentCreated {
            id: comment.id.clone(),
            content: comment.content.clone(),
            post_id: post_id.as_str().to_string(),
            status: comment.status,
        });
        let post_id = post_id.as_str().to_string();
        // The list is the one of the same transaction, so it holds the new
        // comment; it is answered once that transaction is on disk.
        self.write(move |tx| {
            tx.conn.execute(
                "INSERT INTO comments (id, post_id, content, status) VALUES (?1, ?2, ?3, ?4)",
                params![
                    comment.id,
                    post_id,
                    comment.content,
                    comment.status.as_str()
                ],
            )?;
            outbox::enqueue(tx.conn, &event)?;
            tx.list_with(&post_id, &comment)
        })
        .await
    }
    // ANCHOR_END: create

    /// The comments of a post, oldest first; empty for a post we do not know.
    pub async fn for_post(&self, post_id: &PostId) -> rusqlite::Result<Vec<Comment>> {
        let post_id = post_id.as_str().to_string();
        self.db
            .with_conn(move |conn| comments_of(conn, &post_id))
            .await
    }

    /// Stores moderation's decision: see [`Tx::apply_moderation`].
    pub async fn apply_moderation(
        &self,
        decision: &CommentModerated,
    ) -> rusqlite::Result<Moderation> {
        let decision = decision.clone();
        self.write(move |tx| tx.apply_moderation(&decision)).await
    }

    /// Remembers that a post exists: see [`Tx::remember_post`].
    pub async fn remember_post(&self, post_id: &str) -> rusqlite::Result<()> {
        let id = post_id.to_string();
        self.write(move |tx| tx.remember_post(&id)).await
    }

    /// Whether a `PostCreated` for this post has reached us.
    pub async fn knows_post(&self, post_id: &PostId) -> rusqlite::Result<bool> {
        if blog_runtime::locks::read(&self.memory.known).contains(post_id.as_str()) {
            return Ok(true);
        }
        let id = post_id.as_str().to_string();
        let known = self
            .db
            .with_conn(move |conn| {
                conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM known_posts WHERE id = ?1)",
                    params![id],
                    |row| row.get(0),
                )
            })
            .await?;
        if known {
            self.memory.remember_known(post_id.as_str());
        }
        Ok(known)
    }

    /// The database and its outbox, for `/readyz` and the outbox relay.
    pub fn db(&self) -> &ServiceDb {
        &self.db
    }
}

/// The comments database inside one of the writer's transactions: what a
/// write can do there. Its methods are plain functions, not `async`: they
/// run on the writer's thread, one after the other, so a whole batch of
/// events is applied in one transaction ([`CommentStore::write`]).
pub struct Tx<'a> {
    conn: &'a Connection,
    memory: &'a Memory,
}

impl Tx<'_> {
    // ANCHOR: apply_moderation
    /// Stores moderation's decision and, if it changed anything, the
    /// `CommentUpdated` event that announces it, in one write: both or
    /// neither. (The [`Writer`] may commit it with other writes; that is
    /// what lets a batch of decisions share one disk flush.)
    ///
    /// Idempotent: the bus delivers at least once, so the same decision may
    /// arrive twice. The second time the status is already right, and we
    /// neither write nor announce anything.
    pub fn apply_moderation(&self, decision: &CommentModerated) -> rusqlite::Result<Moderation> {
        let stored = self
            .conn
            .query_row(
                "SELECT post_id, content, status FROM comments WHERE id = ?1",
                params![decision.id],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        status_at(row, 2)?,
                    ))
                },
            )
            .optional()?;
        let Some((post_id, content, status)) = stored else {
            return Ok(Moderation::UnknownComment);
        };
        if status == decision.status {
            return Ok(Moderation::AlreadyApplied);
        }
        self.conn.execute(
            "UPDATE comments SET status = ?1 WHERE id = ?2",
            params![decision.status.as_str(), decision.id],
        )?;
        // Our own copy of the comment is what we announce: we own it.
        let event = Event::CommentUpdated(CommentUpdated {
            id: decision.id.clone(),
            status: decision.status,
            post_id: post_id.clone(),
            content,
        });
        outbox::enqueue(self.conn, &event)?;
        // The post's list, if kept ready, shows the new status too.
        blog_runtime::locks::lock(&self.memory.lists).set_status(
            &post_id,
            &decision.id,
            decision.status,
        );
        Ok(Moderation::Updated)
    }
    // ANCHOR_END: apply_moderation

    /// Remembers that a post exists. Remembering it twice changes nothing.
    pub fn remember_post(&self, post_id: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO known_posts (id) VALUES (?1)",
            params![post_id],
        )?;
        self.memory.remember_known(post_id);
        Ok(())
    }

    /// The post's list once `comment`, just stored, is in it: from memory
    /// if the post's list is kept ready, else read from the database (and
    /// kept from now on).
    fn list_with(&self, post_id: &str, comment: &Comment) -> rusqlite::Result<CommentList> {
        let mut lists = blog_runtime::locks::lock(&self.memory.lists);
        if let Some(list) = lists.append(post_id, comment) {
            return Ok(list);
        }
        let list = CommentList::encode(&comments_of(self.conn, post_id)?);
        lists.keep(post_id, &list);
        Ok(list)
    }
}

fn comments_of(conn: &Connection, post_id: &str) -> rusqlite::Result<Vec<Comment>> {
    let mut statement =
        conn.prepare("SELECT id, content, status FROM comments WHERE post_id = ?1 ORDER BY rowid")?;
    let comments = statement.query_map(params![post_id], |row| {
        Ok(Comment {
            id: row.get(0)?,
            content: row.get(1)?,
            status: status_at(row, 2)?,
        })
    })?;
    comments.collect()
}

/// Reads a status column. Only this module writes it, so a bad value means
/// a damaged file, reported as an error rather than guessed at.
fn status_at(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<CommentStatus> {
    let text: String = row.get(column)?;
    CommentStatus::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("unknown comment status {text:?}").into(),
        )
    })
}

/// 16 random hex digits: unguessable and practically never repeated.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
