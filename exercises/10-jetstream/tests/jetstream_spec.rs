//! The specification of chapter 10's adapter: the blog's events on JetStream.
//!
//! Each test starts its own `nats-server -js` (one node, its store in a temp
//! dir) and talks to it through the crate: the publisher puts events in the
//! `BLOG_EVENTS` stream, the consumer hands them to a fake service and tells
//! the broker what became of each. Without `nats-server` on this machine the
//! tests print SKIPPED and pass, unless `REQUIRE_NATS=1` (as in CI).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::Context;
use blog_events::{Event, PostCreated, Publisher};
use blog_testkit::{NatsServer, nats_server_or_skip};
use bytes::Bytes;
use jetstream::{
    BusConfig, ConsumerSettings, EventTarget, JetStreamPublisher, Verdict, connect, ensure_streams,
    spawn_consumer, streams,
};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(15);

/// A broker for one test: the server, its temp dir, a JetStream context
/// with the blog's streams made.
struct Broker {
    js: Context,
    server: Option<NatsServer>,
    _dir: TempDir,
}

async fn broker() -> Option<Broker> {
    let program = nats_server_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(&program, dir.path());
    let js = connect(&BusConfig::single(&server.url)).await.unwrap();
    ensure_streams(&js, 1, PATIENCE).await.unwrap();
    Some(Broker {
        js,
        server: Some(server),
        _dir: dir,
    })
}

fn post(id: &str) -> Event {
    Event::PostCreated(PostCreated {
        id: id.into(),
        title: format!("Post {id}"),
    })
}

async fn stored_events(js: &Context, stream: &str) -> u64 {
    let mut stream = js.get_stream(stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A fake service: records what it was handed and answers with `answer`
/// (given how many deliveries it has seen so far, this one included).
struct FakeService {
    seen: Mutex<Vec<String>>,
    answer: Box<dyn Fn(usize) -> Verdict + Send + Sync>,
}

impl FakeService {
    fn new(answer: impl Fn(usize) -> Verdict + Send + Sync + 'static) -> Arc<FakeService> {
        Arc::new(FakeService {
            seen: Mutex::default(),
            answer: Box::new(answer),
        })
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl EventTarget for FakeService {
    fn deliver<'a>(&'a self, event: Bytes) -> jetstream::target::VerdictFuture<'a> {
        let event: Event = serde_json::from_slice(&event).expect("the payload is an event");
        let count = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(match &event {
                Event::PostCreated(post) => post.id.clone(),
                other => other.kind().to_string(),
            });
            seen.len()
        };
        let verdict = (self.answer)(count);
        Box::pin(async move { verdict })
    }
}

/// Waits until `condition` holds. If the consumer task stopped instead (a
/// `todo!()` in it panicked), fails with its own message.
async fn wait_for(
    what: &str,
    consumer: &mut JoinHandle<()>,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if condition().await {
            return;
        }
        if consumer.is_finished() {
            match consumer.await {
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                _ => panic!("the consumer stopped before {what}"),
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many events the durable consumer has not seen, or holds unacknowledged.
async fn outstanding(js: &Context, durable: &str) -> (u64, usize) {
    let stream = js.get_stream(streams::STREAM).await.unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(durable).await.unwrap();
    let info = consumer.info().await.unwrap();
    (info.num_pending, info.num_ack_pending)
}

fn settings(durable: &str) -> ConsumerSettings {
    ConsumerSettings {
        dead_letter_after: 3,
        ..ConsumerSettings::new(durable)
    }
}

// ---- Step 1: the publisher --------------------------------------------------

#[test]
fn the_message_id_is_the_service_and_the_outbox_row() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(broker) = runtime.block_on(broker()) else {
        return;
    };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "comments");
    assert_eq!(publisher.outbox_message_id(42), "comments-42");
    assert_ne!(
        publisher.outbox_message_id(1),
        JetStreamPublisher::new(broker.js.clone(), "posts").outbox_message_id(1),
        "rows of two services' outboxes must not share an id"
    );
}

#[tokio::test]
async fn a_published_event_is_stored_on_its_subject_with_its_message_id() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher
        .publish_outbox(&[7], &[post("p1")])
        .await
        .expect("the broker is up: publishing must succeed");

    let stream = broker.js.get_stream(streams::STREAM).await.unwrap();
    let stored = stream
        .get_raw_message(1)
        .await
        .expect("the stream must hold the event once publish_outbox returned");
    assert_eq!(stored.subject.as_str(), "blog.events.PostCreated");
    let event: Event = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(event, post("p1"), "the payload is the event's JSON");
    assert_eq!(
        stored
            .headers
            .get("Nats-Msg-Id")
            .map(|value| value.as_str().to_string()),
        Some("posts-7".to_string()),
        "the Nats-Msg-Id header must be the outbox row's id"
    );
}

#[tokio::test]
async fn an_outbox_row_sent_twice_is_stored_once() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    // The relay crashed after the broker took rows 1 and 2, before it
    // deleted them: after the restart it sends them again, then row 3.
    publisher
        .publish_outbox(&[1, 2], &[post("p1"), post("p2")])
        .await
        .unwrap();
    publisher
        .publish_outbox(&[1, 2, 3], &[post("p1"), post("p2"), post("p3")])
        .await
        .unwrap();
    assert_eq!(
        stored_events(&broker.js, streams::STREAM).await,
        3,
        "the duplicate window must drop the rows sent again (same message id)"
    );
}

#[tokio::test]
async fn publishing_fails_while_the_broker_is_down() {
    let Some(mut broker) = broker().await else {
        return;
    };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher.publish_outbox(&[1], &[post("p1")]).await.unwrap();
    drop(broker.server.take());
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        publisher.publish_outbox(&[2], &[post("p2")]),
    )
    .await
    .expect("a publish must give up (and the outbox keep the event), not hang");
    assert!(
        result.is_err(),
        "with no broker, publishing must fail, so the outbox keeps the event"
    );
}

#[tokio::test]
async fn a_batch_keeps_each_posts_events_in_the_outbox_order() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "comments");
    // Rows about five posts, interleaved: each post's own rows are a
    // comment, its update, a second comment. Rows about different posts
    // may be stored in any order; a post's rows must keep theirs.
    let comment = |post: usize, n: usize| {
        Event::CommentCreated(blog_events::CommentCreated {
            id: format!("p{post}-c{n}"),
            content: "hello".into(),
            post_id: format!("p{post}"),
            status: blog_events::CommentStatus::Pending,
        })
    };
    let update = |post: usize| {
        Event::CommentUpdated(blog_events::CommentUpdated {
            id: format!("p{post}-c1"),
            status: blog_events::CommentStatus::Approved,
            post_id: format!("p{post}"),
            content: "hello".into(),
        })
    };
    let mut events = Vec::new();
    for step in 0..3 {
        for post in 0..5 {
            events.push(match step {
                0 => comment(post, 1),
                1 => update(post),
                _ => comment(post, 2),
            });
        }
    }
    let ids: Vec<i64> = (1..=events.len() as i64).collect();
    publisher.publish_outbox(&ids, &events).await.unwrap();

    let mut stream = broker.js.get_stream(streams::STREAM).await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut stored = Vec::new();
    for seq in 1..=last {
        let message = stream.get_raw_message(seq).await.unwrap();
        stored.push(serde_json::from_slice::<Event>(&message.payload).unwrap());
    }
    assert_eq!(stored.len(), events.len(), "every row is stored once");
    for post in 0..5 {
        let post_id = format!("p{post}");
        let of_post = |list: &[Event]| -> Vec<Event> {
            list.iter()
                .filter(|event| match event {
                    Event::CommentCreated(c) => c.post_id == post_id,
                    Event::CommentUpdated(c) => c.post_id == post_id,
                    _ => false,
                })
                .cloned()
                .collect()
        };
        assert_eq!(
            of_post(&stored),
            of_post(&events),
            "the events about post {post_id} are stored in the outbox's order"
        );
    }
}

// ---- Step 2: the consumer -----------------------------------------------------

#[tokio::test]
async fn the_consumer_hands_each_event_to_the_service_in_order_and_acks_it() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher
        .publish_outbox(&[1, 2, 3], &[post("p1"), post("p2"), post("p3")])
        .await
        .unwrap();
    let service = FakeService::new(|_| Verdict::Applied);
    let (_stop, shutdown) = watch::channel(false);
    let mut consumer = spawn_consumer(
        broker.js.clone(),
        settings("query-0"),
        service.clone(),
        shutdown,
    );
    wait_for(
        "the service has seen p1, p2, p3",
        &mut consumer,
        async || service.seen().len() >= 3,
    )
    .await;
    assert_eq!(service.seen(), ["p1", "p2", "p3"], "once each, in order");
    wait_for(
        "the consumer has acknowledged all three",
        &mut consumer,
        async || outstanding(&broker.js, "query-0").await == (0, 0),
    )
    .await;
}

#[tokio::test]
async fn an_event_the_service_could_not_apply_yet_comes_again_until_it_is_applied() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher.publish_outbox(&[1], &[post("p1")]).await.unwrap();
    // Down twice (a 503), then fine.
    let service = FakeService::new(|count| {
        if count <= 2 {
            Verdict::TryAgain("503 Service Unavailable".into())
        } else {
            Verdict::Applied
        }
    });
    let (_stop, shutdown) = watch::channel(false);
    let mut consumer = spawn_consumer(
        broker.js.clone(),
        settings("comments"),
        service.clone(),
        shutdown,
    );
    wait_for(
        "p1 has been delivered three times and acknowledged",
        &mut consumer,
        async || service.seen().len() >= 3 && outstanding(&broker.js, "comments").await == (0, 0),
    )
    .await;
    assert_eq!(
        service.seen(),
        ["p1", "p1", "p1"],
        "nak'ed twice, applied the third time"
    );
}

#[tokio::test]
async fn an_event_not_acknowledged_before_a_crash_is_delivered_again() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher.publish_outbox(&[1], &[post("p1")]).await.unwrap();
    let short_wait = ConsumerSettings {
        ack_wait: Duration::from_secs(1),
        ..settings("moderation")
    };
    // The first replica takes p1 and "crashes" while the handler runs:
    // its task is stopped before it can settle the event.
    let stuck = Arc::new(tokio::sync::Notify::new());
    struct Hangs(Arc<tokio::sync::Notify>, Mutex<usize>);
    impl EventTarget for Hangs {
        fn deliver<'a>(&'a self, _event: Bytes) -> jetstream::target::VerdictFuture<'a> {
            *self.1.lock().unwrap() += 1;
            Box::pin(async move {
                self.0.notify_one();
                std::future::pending().await
            })
        }
    }
    let (_stop, shutdown) = watch::channel(false);
    let first = spawn_consumer(
        broker.js.clone(),
        short_wait.clone(),
        Arc::new(Hangs(stuck.clone(), Mutex::new(0))),
        shutdown.clone(),
    );
    tokio::time::timeout(PATIENCE, stuck.notified())
        .await
        .expect("the first replica gets p1");
    first.abort();

    let service = FakeService::new(|_| Verdict::Applied);
    let mut second = spawn_consumer(broker.js.clone(), short_wait, service.clone(), shutdown);
    wait_for(
        "the second replica has p1, and acknowledged it",
        &mut second,
        async || service.seen() == ["p1"] && outstanding(&broker.js, "moderation").await == (0, 0),
    )
    .await;
}

#[test]
fn the_router_target_reads_statuses_as_the_http_bus_does() {
    use axum::http::StatusCode;
    assert_eq!(Verdict::from_status(StatusCode::OK, ""), Verdict::Applied);
    for again in [503, 500, 408, 429] {
        let status = StatusCode::from_u16(again).unwrap();
        assert!(
            matches!(Verdict::from_status(status, ""), Verdict::TryAgain(_)),
            "{status}"
        );
    }
    for never in [400, 404, 422] {
        let status = StatusCode::from_u16(never).unwrap();
        assert!(
            matches!(Verdict::from_status(status, ""), Verdict::Never(_)),
            "{status}"
        );
    }
}

// ---- Step 3: dead letters -----------------------------------------------------

#[tokio::test]
async fn an_event_the_service_refuses_for_good_is_parked_and_delivery_goes_on() {
    let Some(broker) = broker().await else { return };
    let publisher = JetStreamPublisher::new(broker.js.clone(), "posts");
    publisher
        .publish_outbox(&[1, 2], &[post("poison"), post("p2")])
        .await
        .unwrap();
    let service = FakeService::new(|count| {
        if count <= 3 {
            Verdict::Never("400 Bad Request: the title is not a title".into())
        } else {
            Verdict::Applied
        }
    });
    let (_stop, shutdown) = watch::channel(false);
    let mut consumer = spawn_consumer(
        broker.js.clone(),
        settings("comments"),
        service.clone(),
        shutdown,
    );
    wait_for(
        "the event after the poison one is applied",
        &mut consumer,
        async || service.seen().last().map(String::as_str) == Some("p2"),
    )
    .await;
    assert_eq!(
        service.seen(),
        ["poison", "poison", "poison", "p2"],
        "tried DEAD_LETTER_AFTER (3) times, then parked, then the next event"
    );

    let parked = broker.js.get_stream(streams::PARKED_STREAM).await.unwrap();
    let letter = parked
        .get_raw_message(1)
        .await
        .expect("the poison event must be in BLOG_PARKED");
    assert_eq!(letter.subject.as_str(), "blog.parked.comments");
    let event: Event = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(event, post("poison"), "the parked copy is the event itself");
    let header = |name: &str| {
        letter
            .headers
            .get(name)
            .map(|value| value.as_str().to_string())
    };
    assert_eq!(
        header("Nats-Msg-Id").as_deref(),
        Some("posts-1"),
        "it keeps its original headers"
    );
    let error = header(jetstream::consumer::LAST_ERROR_HEADER).unwrap_or_default();
    assert!(
        error.contains("400"),
        "it says why it was parked, in Blog-Last-Error: {error:?}"
    );
    wait_for(
        "nothing is left unacknowledged on the main stream",
        &mut consumer,
        async || outstanding(&broker.js, "comments").await == (0, 0),
    )
    .await;
}
