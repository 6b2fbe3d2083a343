//! The posts database: posts, and the outbox of events about them.

use std::path::Path;

use blog_events::outbox::{self, ServiceDb};
use blog_events::{Event, PostCreated};
use blog_runtime::db::OpenError;
use rusqlite::params;
use serde::{Serialize, Serializer};

use crate::Title;

/// A post as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Post {
    pub id: String,
    pub title: String,
}

/// Posts as `GET /posts` shows them: a JSON object keyed by id, in the order
/// they were created (a plain map would sort them by their random ids).
#[derive(Debug)]
pub struct PostsById(pub Vec<Post>);

impl Serialize for PostsById {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|post| (&post.id, post)))
    }
}

/// A handle to the posts database; cheap to clone, one per request.
///
/// Its methods are `async`: the SQLite work runs on a blocking thread (see
/// [`ServiceDb`]), so a commit waiting for the disk never holds up the
/// other requests.
#[derive(Clone)]
pub struct PostStore {
    db: ServiceDb,
}

impl PostStore {
    /// Opens or creates the database file, durably.
    pub fn open(path: &Path) -> Result<PostStore, OpenError> {
        let db = ServiceDb::open(
            path,
            "CREATE TABLE IF NOT EXISTS posts (
                 id    TEXT PRIMARY KEY,
                 title TEXT NOT NULL
             );",
        )?;
        Ok(PostStore { db })
    }

    // ANCHOR: create
    /// Stores a new post and its `PostCreated` event in one transaction:
    /// either both are on disk or neither is.
    pub async fn create(&self, title: Title) -> rusqlite::Result<Post> {
        let post = Post {
            id: new_id(),
            title: title.as_str().to_string(),
        };
        let event = Event::PostCreated(PostCreated {
            id: post.id.clone(),
            title: post.title.clone(),
        });
        let row = post.clone();
        self.db
            .with_conn(move |conn| -> rusqlite::Result<()> {
                // One transaction for both rows. If either write fails (a full
                // outbox, a full disk), `tx` is dropped without a commit and
                // SQLite rolls back the other: no post without its event, and
                // no event for a post that was never kept.
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO posts (id, title) VALUES (?1, ?2)",
                    params![row.id, row.title],
                )?;
                outbox::enqueue(&tx, &event)?;
                tx.commit()
            })
            .await?;
        // Wake the relay so the event leaves now, not at its next poll.
        self.db.ring();
        Ok(post)
    }
    // ANCHOR_END: create

    /// Every post, oldest first.
    pub async fn all(&self) -> rusqlite::Result<Vec<Post>> {
        self.db
            .with_conn(|conn| {
                let mut statement = conn.prepare("SELECT id, title FROM posts ORDER BY rowid")?;
                let posts = statement.query_map([], |row| {
                    Ok(Post {
                        id: row.get(0)?,
                        title: row.get(1)?,
                    })
                })?;
                posts.collect()
            })
            .await
    }

    /// The database and its outbox, for `/readyz` and the outbox relay.
    pub fn db(&self) -> &ServiceDb {
        &self.db
    }
}

/// 16 random hex digits: unguessable and practically never repeated.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
