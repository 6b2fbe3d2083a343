//! How one event changes the read model: `apply` and `apply_delivery`.
//!
//! These tests need no server: the projection is a plain function, so they
//! build events, apply them and look at the model.

use blog_events::{
    CommentCreated, CommentModerated, CommentStatus, CommentUpdated, Event, PostCreated,
};
use query::{CommentView, Outcome, PostView, ReadModel, apply, apply_delivery};

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

fn comment(id: &str, content: &str, status: CommentStatus) -> CommentView {
    CommentView {
        id: id.into(),
        content: content.into(),
        status,
    }
}

fn model_from(events: &[Event]) -> ReadModel {
    let mut model = ReadModel::new();
    for event in events {
        apply(&mut model, event);
    }
    model
}

/// A post with one approved comment and one rejected one.
fn a_short_history() -> Vec<Event> {
    vec![
        post_created("p1", "First post"),
        comment_created("c1", "p1", "nice"),
        comment_created("c2", "p1", "orange"),
        comment_updated("c1", "p1", "nice", CommentStatus::Approved),
        comment_updated("c2", "p1", "orange", CommentStatus::Rejected),
    ]
}

#[test]
fn a_post_created_event_adds_a_post_without_comments() {
    let model = model_from(&[post_created("p1", "Hello")]);
    assert_eq!(model.posts(), &[PostView::new("p1", "Hello")]);
}

#[test]
fn posts_keep_the_order_they_were_created_in() {
    let model = model_from(&[
        post_created("zz", "first"),
        post_created("aa", "second"),
        post_created("mm", "third"),
    ]);
    let ids: Vec<&str> = model.posts().iter().map(|post| post.id.as_str()).collect();
    assert_eq!(
        ids,
        ["zz", "aa", "mm"],
        "posts are listed in creation order, not sorted by id"
    );
}

#[test]
fn a_comment_is_added_to_its_post_as_pending_then_updated() {
    let model = model_from(&a_short_history());
    let post = model.post("p1").expect("the post is in the model");
    assert_eq!(
        post.comments,
        [
            comment("c1", "nice", CommentStatus::Approved),
            comment("c2", "orange", CommentStatus::Rejected)
        ]
    );

    let before_moderation = model_from(&a_short_history()[..2]);
    assert_eq!(
        before_moderation.post("p1").unwrap().comments,
        [comment("c1", "nice", CommentStatus::Pending)]
    );
}

#[test]
fn comment_updated_sets_the_content_too() {
    let model = model_from(&[
        post_created("p1", "t"),
        comment_created("c1", "p1", "first draft"),
        comment_updated("c1", "p1", "edited", CommentStatus::Approved),
    ]);
    assert_eq!(
        model.post("p1").unwrap().comments,
        [comment("c1", "edited", CommentStatus::Approved)]
    );
}

#[test]
fn applying_every_event_twice_changes_nothing() {
    let history = a_short_history();
    let once = model_from(&history);
    let mut twice = once.clone();
    for event in &history {
        apply(&mut twice, event);
    }
    assert_eq!(
        twice, once,
        "a second delivery of each event must leave the model as it was"
    );

    let doubled: Vec<Event> = history
        .iter()
        .flat_map(|event| [event.clone(), event.clone()])
        .collect();
    assert_eq!(
        model_from(&doubled),
        once,
        "each event delivered twice in a row changes nothing either"
    );
}

#[test]
fn a_duplicate_post_created_keeps_the_post_and_its_comments() {
    let mut model = model_from(&a_short_history());
    apply(&mut model, &post_created("p1", "First post"));
    assert_eq!(model.posts().len(), 1, "no second copy of the post");
    assert_eq!(
        model.post("p1").unwrap().comments.len(),
        2,
        "the comments are still there"
    );
}

#[test]
fn a_replayed_comment_created_does_not_undo_moderation() {
    // The bus may deliver an old event again after newer ones (a retry).
    let mut model = model_from(&a_short_history());
    apply(&mut model, &comment_created("c1", "p1", "nice"));
    assert_eq!(
        model.post("p1").unwrap().comments,
        [
            comment("c1", "nice", CommentStatus::Approved),
            comment("c2", "orange", CommentStatus::Rejected)
        ],
        "an existing comment is not reset to pending, nor added twice"
    );
}

#[test]
fn a_comment_that_arrives_before_its_post_waits_for_it() {
    // Posts and comments publish separately: after an outage, a comment and
    // even its verdict can reach the bus before the post.
    let mut model = model_from(&[
        post_created("p1", "t"),
        comment_created("c1", "p9", "early"),
        comment_updated("c1", "p9", "early", CommentStatus::Approved),
    ]);
    assert_eq!(
        model.posts(),
        &[PostView::new("p1", "t")],
        "a comment is not shown before its post is known"
    );
    assert_eq!(model.held_count(), 2, "both events wait for the post p9");

    apply(&mut model, &post_created("p9", "late"));
    assert_eq!(
        model.post("p9").expect("the post is in the model").comments,
        [comment("c1", "early", CommentStatus::Approved)],
        "once the post arrives, the comments that waited for it are applied, in the order they came"
    );
    assert_eq!(model.held_count(), 0, "nothing waits any more");
}

#[test]
fn an_update_that_overtakes_its_comment_wins() {
    let model = model_from(&[
        post_created("p1", "t"),
        comment_updated("c1", "p1", "edited", CommentStatus::Rejected),
        comment_created("c1", "p1", "first draft"),
    ]);
    assert_eq!(
        model.post("p1").unwrap().comments,
        [comment("c1", "edited", CommentStatus::Rejected)],
        "an update carries the whole comment and is newer than its creation: the late CommentCreated changes nothing"
    );

    // The same, before the post is known.
    let model = model_from(&[
        comment_updated("c1", "p1", "edited", CommentStatus::Approved),
        comment_created("c1", "p1", "first draft"),
        post_created("p1", "t"),
    ]);
    assert_eq!(
        model.post("p1").unwrap().comments,
        [comment("c1", "edited", CommentStatus::Approved)]
    );
}

#[test]
fn a_repeated_early_comment_waits_only_once() {
    let mut model = ReadModel::new();
    for _ in 0..3 {
        apply(&mut model, &comment_created("c1", "p9", "early"));
    }
    assert_eq!(
        model.held_count(),
        1,
        "a repeat of a waiting event is not kept twice"
    );
    apply(&mut model, &post_created("p9", "late"));
    assert_eq!(
        model.post("p9").unwrap().comments,
        [comment("c1", "early", CommentStatus::Pending)]
    );
}

#[test]
fn comments_waiting_for_posts_are_bounded() {
    let mut model = ReadModel::new();
    let max = query::read_model::MAX_HELD_EVENTS;
    for n in 0..=max {
        apply(
            &mut model,
            &comment_created(&format!("c{n}"), &format!("p{n}"), "orphan"),
        );
    }
    assert_eq!(
        model.held_count(),
        max,
        "no more than MAX_HELD_EVENTS wait: a flood of comments for posts that never come must not use up the memory"
    );
    apply(&mut model, &post_created("p0", "waited longest"));
    apply(&mut model, &post_created(&format!("p{max}"), "newest"));
    assert!(
        model.post("p0").unwrap().comments.is_empty(),
        "the post that waited longest is the one given up on"
    );
    assert_eq!(model.post(&format!("p{max}")).unwrap().comments.len(), 1);
}

#[test]
fn comment_moderated_is_left_to_the_comments_service() {
    let mut model = model_from(&[post_created("p1", "t"), comment_created("c1", "p1", "hi")]);
    let before = model.clone();
    let moderated = Event::CommentModerated(CommentModerated {
        id: "c1".into(),
        post_id: "p1".into(),
        status: CommentStatus::Approved,
        content: "hi".into(),
    });
    apply(&mut model, &moderated);
    assert_eq!(
        model, before,
        "query waits for CommentUpdated, which comments sends once it has stored the status"
    );
}

#[test]
fn comments_on_different_posts_stay_apart() {
    let model = model_from(&[
        post_created("p1", "one"),
        post_created("p2", "two"),
        comment_created("c1", "p2", "on two"),
        comment_created("c2", "p1", "on one"),
    ]);
    assert_eq!(
        model.post("p1").unwrap().comments,
        [comment("c2", "on one", CommentStatus::Pending)]
    );
    assert_eq!(
        model.post("p2").unwrap().comments,
        [comment("c1", "on two", CommentStatus::Pending)]
    );
}

#[test]
fn a_numbered_delivery_is_applied_once_and_remembered() {
    let mut model = ReadModel::new();
    assert_eq!(model.last_seq(), None);
    assert_eq!(
        apply_delivery(&mut model, Some(1), &post_created("p1", "t")),
        Outcome::Applied
    );
    assert_eq!(
        apply_delivery(&mut model, Some(2), &comment_created("c1", "p1", "hi")),
        Outcome::Applied
    );
    assert_eq!(model.last_seq(), Some(2));
    assert_eq!(
        apply_delivery(&mut model, Some(2), &comment_created("c1", "p1", "hi")),
        Outcome::AlreadyApplied,
        "the same number again is a redelivery"
    );
}

#[test]
fn an_older_numbered_delivery_is_skipped_even_if_it_would_change_something() {
    let mut model = ReadModel::new();
    apply_delivery(&mut model, Some(1), &post_created("p1", "t"));
    apply_delivery(&mut model, Some(2), &comment_created("c1", "p1", "hi"));
    apply_delivery(
        &mut model,
        Some(3),
        &comment_updated("c1", "p1", "hi", CommentStatus::Rejected),
    );
    apply_delivery(
        &mut model,
        Some(4),
        &comment_updated("c1", "p1", "hi", CommentStatus::Approved),
    );
    let before = model.clone();

    // Seq 3 again, after seq 4: applying it now would set the status back.
    // The number says it is old, so it is skipped.
    let stale = comment_updated("c1", "p1", "hi", CommentStatus::Rejected);
    assert_eq!(
        apply_delivery(&mut model, Some(3), &stale),
        Outcome::AlreadyApplied
    );
    assert_eq!(model, before);
}

#[test]
fn a_delivery_that_skips_numbers_is_not_applied() {
    let mut model = ReadModel::new();
    apply_delivery(&mut model, Some(1), &post_created("p1", "t"));
    let before = model.clone();

    // A forged or misnumbered event: if its number were believed, every
    // real event after it would look old and be skipped.
    for seq in [3, 9_000_000_000_000_000_000, u64::MAX] {
        assert_eq!(
            apply_delivery(&mut model, Some(seq), &post_created("p9", "forged")),
            Outcome::Gap,
            "seq {seq} after seq 1 leaves a gap: the model only moves one number at a time"
        );
        assert_eq!(
            model, before,
            "a gap changes nothing, not even the last seq"
        );
    }
    assert_eq!(
        apply_delivery(&mut model, Some(2), &post_created("p2", "real")),
        Outcome::Applied,
        "the real next event is still applied"
    );
    assert_eq!(model.last_seq(), Some(2));

    let mut fresh = ReadModel::new();
    assert_eq!(
        apply_delivery(&mut fresh, Some(5), &post_created("p1", "t")),
        Outcome::Gap,
        "a model that has applied nothing expects seq 1 first"
    );
}

#[test]
fn replaying_the_whole_log_over_the_model_changes_nothing() {
    let numbered: Vec<(u64, Event)> = (1..).zip(a_short_history()).collect();
    let mut model = ReadModel::new();
    for (seq, event) in &numbered {
        apply_delivery(&mut model, Some(*seq), event);
    }
    let built = model.clone();
    for (seq, event) in &numbered {
        assert_eq!(
            apply_delivery(&mut model, Some(*seq), event),
            Outcome::AlreadyApplied
        );
    }
    assert_eq!(model, built);
    assert_eq!(model.last_seq(), Some(5));
}

#[test]
fn a_foreign_event_without_a_number_is_applied_idempotently() {
    let mut model = ReadModel::new();
    apply_delivery(&mut model, Some(1), &post_created("p1", "ours"));

    // Another bus numbers nothing: its events are applied whatever our last number.
    assert_eq!(
        apply_delivery(&mut model, None, &comment_created("c1", "p1", "theirs")),
        Outcome::Applied
    );
    assert_eq!(
        apply_delivery(&mut model, None, &comment_created("c1", "p1", "theirs")),
        Outcome::Applied
    );
    assert_eq!(
        model.post("p1").unwrap().comments.len(),
        1,
        "the repeat added nothing"
    );
    assert_eq!(
        model.last_seq(),
        Some(1),
        "an unnumbered event does not move the number"
    );

    let mut foreign_only = ReadModel::new();
    apply_delivery(&mut foreign_only, None, &post_created("p2", "t"));
    assert_eq!(foreign_only.last_seq(), None);
    assert!(foreign_only.post("p2").is_some());
}

#[test]
fn get_posts_shape_is_keyed_by_id_in_creation_order() {
    let model = model_from(&[
        post_created("b", "two"),
        post_created("a", "one"),
        comment_created("c1", "a", "hi"),
    ]);
    let json = serde_json::to_string(&query::PostsById(model.posts().to_vec())).unwrap();
    assert_eq!(
        json,
        r#"{"b":{"id":"b","title":"two","comments":[]},"a":{"id":"a","title":"one","comments":[{"id":"c1","content":"hi","status":"pending"}]}}"#
    );
}
