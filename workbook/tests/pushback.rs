//! Intake pushes back instead of building an unbounded backlog: a comments
//! service whose outbox is full (the bus has not taken its events) answers
//! a new comment 503 with `Retry-After`, and stores nothing, rather than
//! 201 for a comment the rest of the blog would hear about only much later.
//! The real service runs as its own process, as in the deployed system.

#[path = "support/blog_binary.rs"]
mod blog_binary;

use blog_events::outbox::{self, OUTBOX_LIMIT};
use blog_events::{Event, PostCreated};

#[tokio::test]
async fn a_comments_service_with_a_full_outbox_answers_503_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    // An outbox as full as a bus down for a long while leaves it.
    let db = outbox::open_service_db(&data.path().join("comments.db")).unwrap();
    let event = Event::PostCreated(PostCreated {
        id: "p1".into(),
        title: "t".into(),
    });
    db.execute_batch("BEGIN").unwrap();
    for _ in 0..OUTBOX_LIMIT {
        outbox::enqueue(&db, &event).unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
    drop(db);

    // Nobody listens on the bus's address, so the outbox stays full.
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (service, url) = blog_binary::start(
        "comments",
        &[
            ("DATA_DIR", data.path().display().to_string()),
            ("POST_LOOKUP", "off".to_string()),
            ("EVENT_BUS_URL", format!("http://127.0.0.1:{unused_port}")),
        ],
    );

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/posts/p1/comments"))
        .json(&serde_json::json!({ "content": "one too many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "a full outbox pushes back");
    assert_eq!(
        response.headers()["retry-after"],
        blog_runtime::RETRY_AFTER_SECONDS.to_string(),
        "and says when to come back"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("outbox is full"),
        "{body}"
    );
    // Nothing was stored: the comment is not half-accepted.
    let comments: serde_json::Value = client
        .get(format!("{url}/posts/p1/comments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(comments, serde_json::json!([]));
    drop(service);
}
