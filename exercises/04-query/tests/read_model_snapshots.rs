//! Snapshots of the read model, as `GET /posts` shows it, along one story.
//!
//! A snapshot test compares a value with a copy saved next to the test, in
//! `tests/snapshots/*.snap`. The saved copies are part of the specification:
//! open them to see exactly what the page will receive at each step. When a
//! snapshot differs, the test fails and prints both versions side by side.
//!
//! (If you ever change the model on purpose, `cargo insta review`, from the
//! `cargo-insta` tool, lets you accept the new snapshots one by one. You do
//! not need it for this exercise: the snapshots here are already right.)

use blog_events::{CommentCreated, CommentStatus, CommentUpdated, Event, PostCreated};
use query::{PostsById, ReadModel, apply, apply_delivery};

fn post_created(id: &str, title: &str) -> Event {
    Event::PostCreated(PostCreated {
        id: id.into(),
        title: title.into(),
    })
}

fn comment_created(id: &str, post_id: &str, content: &str) -> Event {
    Event::CommentCreated(CommentCreated {
        id: id.into(),
        content: content.into(),
        post_id: post_id.into(),
        status: CommentStatus::Pending,
    })
}

fn comment_updated(id: &str, post_id: &str, content: &str, status: CommentStatus) -> Event {
    Event::CommentUpdated(CommentUpdated {
        id: id.into(),
        status,
        post_id: post_id.into(),
        content: content.into(),
    })
}

/// What `GET /posts` would answer for this model.
fn page(model: &ReadModel) -> PostsById {
    PostsById(model.posts().to_vec())
}

fn apply_all(model: &mut ReadModel, events: &[Event]) {
    for event in events {
        apply(model, event);
    }
}

// ANCHOR: story
/// Two posts are written, three comments arrive, and moderation decides.
fn the_story() -> [Vec<Event>; 3] {
    let posts = vec![
        post_created("7f3a", "Why microservices?"),
        post_created("02bc", "Events, not calls"),
    ];
    let comments = vec![
        comment_created("c1", "7f3a", "Great read"),
        comment_created("c2", "02bc", "Orange is my favourite colour"),
        comment_created("c3", "7f3a", "What about the delay?"),
    ];
    let moderation = vec![
        comment_updated("c1", "7f3a", "Great read", CommentStatus::Approved),
        comment_updated(
            "c2",
            "02bc",
            "Orange is my favourite colour",
            CommentStatus::Rejected,
        ),
        comment_updated(
            "c3",
            "7f3a",
            "What about the delay?",
            CommentStatus::Approved,
        ),
    ];
    [posts, comments, moderation]
}

#[test]
fn the_read_model_step_by_step() {
    let [posts, comments, moderation] = the_story();
    let mut model = ReadModel::new();

    apply_all(&mut model, &posts);
    insta::assert_json_snapshot!("1_posts_created", page(&model));

    apply_all(&mut model, &comments);
    insta::assert_json_snapshot!("2_comments_pending", page(&model));

    apply_all(&mut model, &moderation);
    insta::assert_json_snapshot!("3_after_moderation", page(&model));
}
// ANCHOR_END: story

#[test]
fn the_same_log_delivered_twice_gives_the_same_page() {
    // The log as our bus numbers it: seq 1, 2, 3, ...
    let log: Vec<(u64, Event)> = (1..).zip(the_story().concat()).collect();
    let mut model = ReadModel::new();
    for (seq, event) in &log {
        apply_delivery(&mut model, Some(*seq), event);
    }
    // A restart of the bus's delivery, or a rebuild that overlaps live
    // events, sends it all again.
    for (seq, event) in &log {
        apply_delivery(&mut model, Some(*seq), event);
    }
    insta::assert_json_snapshot!("3_after_moderation", page(&model));
}

#[test]
fn a_foreign_bus_that_repeats_everything_gives_the_same_page() {
    // No sequence numbers at all, and every event twice in a row: only the
    // idempotence of `apply` keeps the page right.
    let mut model = ReadModel::new();
    for event in the_story().concat() {
        apply_delivery(&mut model, None, &event);
        apply_delivery(&mut model, None, &event);
    }
    insta::assert_json_snapshot!("3_after_moderation", page(&model));
}

#[test]
fn comments_that_overtake_their_posts_give_the_same_page() {
    // After an outage the bus may hold every comment and verdict before the
    // posts, because posts and comments publish separately.
    let [posts, comments, moderation] = the_story();
    let mut model = ReadModel::new();
    apply_all(&mut model, &moderation);
    apply_all(&mut model, &comments);
    apply_all(&mut model, &posts);
    insta::assert_json_snapshot!("3_after_moderation", page(&model));
}
