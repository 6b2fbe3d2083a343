//! The specification of the event bus (chapter 3).
//!
//! Every test starts the real bus on `127.0.0.1:0` with a fresh data
//! directory and talks to it over HTTP. Subscribers are small fake services
//! (the test kit's `FakeService`, on port 0) that record what the bus
//! delivers to them, and can be switched to failing (503) or down.

mod common;

use std::sync::Arc;

use blog_testkit::{Behaviour, FakeService, eventually, expect_json_error, send, wait_until};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn published_events_get_increasing_seqs_and_are_read_back_oldest_first() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();

    assert!(
        list(&client, &bus.url(), "").await.is_empty(),
        "a new bus has no events"
    );

    let first = publish(
        &client,
        &bus.url(),
        "PostCreated",
        json!({"id": "p1", "title": "Hello"}),
    )
    .await;
    let second = publish(&client, &bus.url(), "SomethingNew", json!([1, 2, 3])).await;
    let third = publish(
        &client,
        &bus.url(),
        "CommentCreated",
        json!({"id": "c1", "content": "Hi", "postId": "p1", "status": "pending"}),
    )
    .await;
    assert!(
        first < second && second < third,
        "seqs must increase: {first}, {second}, {third}"
    );

    let (events, id) = list_with_log_id(&client, &bus.url(), "").await;
    assert_eq!(
        events,
        vec![
            json!({"type": "PostCreated", "data": {"id": "p1", "title": "Hello"}, "seq": first, "logId": id}),
            json!({"type": "SomethingNew", "data": [1, 2, 3], "seq": second, "logId": id}),
            json!({"type": "CommentCreated", "data": {"id": "c1", "content": "Hi", "postId": "p1", "status": "pending"}, "seq": third, "logId": id}),
        ],
        "GET /events lists what was published, oldest first, each with its seq and the log's id"
    );
    stop_bus(bus).await;
}

#[tokio::test]
async fn extra_fields_are_ignored_and_a_foreign_seq_is_replaced() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();

    let body = json!({"type": "PostCreated", "data": {"id": "p1", "title": "T"}, "seq": 999, "logId": "0123", "at": "noon"});
    let (status, answer) = send(client.post(format!("{}/events", bus.url())).json(&body)).await;
    assert_eq!(
        status,
        200,
        "extra fields must not be refused: {answer}{}",
        advice(status, &answer)
    );
    assert_eq!(
        answer,
        json!({"status": "OK", "seq": 1}),
        "the bus numbers events itself"
    );

    let (events, id) = list_with_log_id(&client, &bus.url(), "").await;
    assert_ne!(id, "0123", "a `logId` sent to the bus is not its own");
    assert_eq!(
        events,
        vec![
            json!({"type": "PostCreated", "data": {"id": "p1", "title": "T"}, "seq": 1, "logId": id})
        ]
    );
    stop_bus(bus).await;
}

// ANCHOR: replay_test
#[tokio::test]
async fn after_and_limit_page_through_the_log() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    for n in 1..=25 {
        publish(&client, &bus.url(), "Counted", json!({ "n": n })).await;
    }

    let url = bus.url();
    assert_eq!(
        seqs_of(&list(&client, &url, "?limit=10").await),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs_of(&list(&client, &url, "?after=10&limit=10").await),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs_of(&list(&client, &url, "?after=20&limit=10").await),
        (21..=25).collect::<Vec<_>>()
    );
    assert!(
        list(&client, &url, "?after=25&limit=10").await.is_empty(),
        "nothing after the newest event"
    );
    for beyond in ["1000", "9223372036854775808", "18446744073709551615"] {
        assert!(
            list(&client, &url, &format!("?after={beyond}"))
                .await
                .is_empty(),
            "`after={beyond}` is beyond the end: an empty page, not an error and not page 1"
        );
    }
    assert_eq!(
        seqs_of(&list(&client, &url, "?after=22").await),
        vec![23, 24, 25],
        "without `limit`, everything after `after`"
    );
    assert_eq!(
        list(&client, &url, "").await.len(),
        25,
        "without parameters, the whole log"
    );

    let (page, id) = list_with_log_id(&client, &url, "?after=4&limit=1").await;
    assert_eq!(
        page,
        vec![json!({"type": "Counted", "data": {"n": 5}, "seq": 5, "logId": id})]
    );
    stop_bus(bus).await;
}
// ANCHOR_END: replay_test

#[tokio::test]
async fn concurrent_publishers_each_get_their_own_seq_and_limit_is_capped_at_1000() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();

    // Many publishers at once: the writer commits them in batches, and every
    // one must still get a distinct seq and be stored.
    const EVENTS: u64 = 1010;
    const PUBLISHERS: u64 = 20;
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let (client, url) = (client.clone(), bus.url());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in (publisher..EVENTS).step_by(PUBLISHERS as usize) {
                seqs.push((
                    n,
                    publish(&client, &url, "Counted", json!({ "n": n })).await,
                ));
            }
            seqs
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    let mut seqs: Vec<u64> = acknowledged.iter().map(|(_, seq)| *seq).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=EVENTS).collect::<Vec<_>>(),
        "each event gets its own seq, with no gaps"
    );

    let page = list(&client, &bus.url(), "?limit=5000").await;
    assert_eq!(page.len(), 1000, "`limit` is capped at 1000");
    let all = list(&client, &bus.url(), "").await;
    for (n, seq) in acknowledged {
        let stored = &all[seq as usize - 1];
        assert_eq!(
            stored["data"]["n"], n,
            "event {n} was acknowledged as seq {seq}, but seq {seq} holds {stored}"
        );
    }
    stop_bus(bus).await;
}

#[tokio::test]
async fn bad_events_are_refused_with_a_json_4xx_and_nothing_is_stored() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/events", bus.url());

    let one_mib = format!(r#"{{"type":"Big","data":"{}"}}"#, "x".repeat(1024 * 1024));
    let long_type = "T".repeat(event_bus::event_type::MAX_TYPE_CHARS + 1);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "a body that is not JSON",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{type:"),
            400,
        ),
        (
            "a wrong content type",
            client
                .post(&url)
                .header("content-type", "text/plain")
                .body(r#"{"type":"A","data":1}"#),
            415,
        ),
        (
            "no type",
            client.post(&url).json(&json!({"data": {"id": "1"}})),
            422,
        ),
        (
            "an empty type",
            client.post(&url).json(&json!({"type": "", "data": {}})),
            422,
        ),
        (
            "a blank type",
            client.post(&url).json(&json!({"type": "   ", "data": {}})),
            422,
        ),
        (
            "a type that is not text",
            client.post(&url).json(&json!({"type": 7, "data": {}})),
            422,
        ),
        (
            "an absurdly long type",
            client
                .post(&url)
                .json(&json!({"type": long_type, "data": {}})),
            422,
        ),
        (
            "a JSON list instead of an object",
            client.post(&url).json(&json!([{"type": "A"}])),
            422,
        ),
        (
            "a 1 MiB body",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(one_mib),
            413,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, body) = send(request).await;
        assert_eq!(
            status, expected,
            "POST /events with {what} should answer {expected}, got {status} {body}"
        );
        expect_json_error(what, &body);
    }

    assert!(
        list(&client, &bus.url(), "").await.is_empty(),
        "refused events must not be stored"
    );
    // And the numbering did not move: the next good event is seq 1.
    assert_eq!(publish(&client, &bus.url(), "A", json!(null)).await, 1);
    stop_bus(bus).await;
}

#[tokio::test]
async fn bad_paging_parameters_are_a_json_400() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    publish(&client, &bus.url(), "A", json!({})).await;

    for query in [
        "?after=abc",
        "?after=-1",
        "?after=1.5",
        "?limit=ten",
        "?limit=-3",
        "?limit=0",
        "?after=99999999999999999999999",
    ] {
        let (status, body) = send(client.get(format!("{}/events{query}", bus.url()))).await;
        assert_eq!(
            status, 400,
            "GET /events{query} should answer 400, got {status} {body}"
        );
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "GET /events{query}: the error must be JSON, got {body}"
        );
    }
    assert_eq!(
        list(&client, &bus.url(), "").await.len(),
        1,
        "bad queries change nothing"
    );
    stop_bus(bus).await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    for probe in ["/healthz", "/readyz"] {
        let (status, body) = send(client.get(format!("{}{probe}", bus.url()))).await;
        assert_eq!(
            status, 200,
            "{probe} should answer 200, got {status} {body}"
        );
    }
    stop_bus(bus).await;
}

// ANCHOR: in_order_test
#[tokio::test]
async fn every_subscriber_gets_every_event_once_in_order_with_its_seq() {
    let data = tempfile::tempdir().unwrap();
    let (one, two) = (
        FakeService::start("subscriber one").await,
        FakeService::start("subscriber two").await,
    );
    let bus = start_bus(data.path(), &[one.url(), two.url()]).await;
    let client = reqwest::Client::new();

    for n in 1..=30 {
        publish(&client, &bus.url(), "Counted", json!({ "n": n })).await;
    }
    one.wait_for_all("subscriber one", 30).await;
    two.wait_for_all("subscriber two", 30).await;
    assert_in_order("subscriber one", &one.received_seqs(), 30);
    assert_in_order("subscriber two", &two.received_seqs(), 30);
    let id = log_id(&client, &bus.url()).await;
    assert_eq!(
        one.received()[4],
        json!({"type": "Counted", "data": {"n": 5}, "seq": 5, "logId": id}),
        "a delivered event is {{\"type\",\"data\",\"seq\",\"logId\"}}, as stored"
    );
    stop_bus(bus).await;
    one.stop().await;
    two.stop().await;
}
// ANCHOR_END: in_order_test

// ANCHOR: down_test
#[tokio::test]
async fn a_subscriber_that_is_down_or_failing_does_not_block_the_others() {
    let data = tempfile::tempdir().unwrap();
    let healthy = FakeService::start("the healthy subscriber").await;
    let failing = FakeService::start("the failing subscriber").await;
    failing.set(Behaviour::Failing); // answers 503
    let nobody_home = FakeService::start_down("nobody home").await; // hangs up on every connection
    let bus = start_bus(
        data.path(),
        &[nobody_home.url(), failing.url(), healthy.url()],
    )
    .await;
    let client = reqwest::Client::new();

    for n in 1..=20 {
        publish(&client, &bus.url(), "Counted", json!({ "n": n })).await;
    }
    healthy.wait_for_all("the healthy subscriber", 20).await;
    assert_in_order("the healthy subscriber", &healthy.received_seqs(), 20);
    assert!(
        failing.received().is_empty(),
        "a subscriber answering 503 has not accepted anything"
    );

    // The failing one recovers: it gets everything, still in order.
    failing.set(Behaviour::Up);
    failing.wait_for_all("the recovered subscriber", 20).await;
    assert_in_order("the recovered subscriber", &failing.received_seqs(), 20);
    stop_bus(bus).await;
    healthy.stop().await;
    failing.stop().await;
    nobody_home.stop().await;
}
// ANCHOR_END: down_test

#[tokio::test]
async fn a_subscriber_that_comes_back_gets_everything_it_missed() {
    let data = tempfile::tempdir().unwrap();
    // Down at first: its address is known, but it hangs up on everyone.
    let late = FakeService::start_down("the subscriber that came back").await;
    let bus = start_bus(data.path(), &[late.url()]).await;
    let client = reqwest::Client::new();

    for n in 1..=10 {
        publish(&client, &bus.url(), "WhileAway", json!({ "n": n })).await;
    }
    // Let the bus fail and back off before the subscriber comes back. (A bus
    // that never tries is caught below, by `wait_for_all`, which says where to look.)
    eventually(PATIENCE, async || late.refusals() > 0).await;
    late.set(Behaviour::Up);
    for n in 11..=15 {
        publish(&client, &bus.url(), "AfterReturn", json!({ "n": n })).await;
    }
    late.wait_for_all("the subscriber that came back", 15).await;
    assert_in_order("the subscriber that came back", &late.received_seqs(), 15);
    stop_bus(bus).await;
    late.stop().await;
}

#[tokio::test]
async fn a_new_subscriber_gets_the_whole_history() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let bus = start_bus(data.path(), &[]).await;
    for n in 1..=12 {
        publish(&client, &bus.url(), "Old", json!({ "n": n })).await;
    }
    stop_bus(bus).await;

    let newcomer = FakeService::start("a subscriber added later").await;
    let bus = start_bus(data.path(), &[newcomer.url()]).await;
    newcomer.wait_for_all("a subscriber added later", 12).await;
    assert_in_order("a subscriber added later", &newcomer.received_seqs(), 12);
    stop_bus(bus).await;
    newcomer.stop().await;
}

#[tokio::test]
async fn events_survive_a_restart_and_numbering_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let bus = start_bus(data.path(), &[]).await;
    for n in 1..=5 {
        publish(&client, &bus.url(), "Durable", json!({ "n": n })).await;
    }
    let before = list(&client, &bus.url(), "").await;
    stop_bus(bus).await;

    let bus = start_bus(data.path(), &[]).await;
    assert_eq!(
        list(&client, &bus.url(), "").await,
        before,
        "a restarted bus still has every event"
    );
    let next = publish(&client, &bus.url(), "Durable", json!({ "n": 6 })).await;
    assert_eq!(next, 6, "seqs continue after a restart, never reused");
    stop_bus(bus).await;
}

#[tokio::test]
async fn a_cursor_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let subscriber = FakeService::start("the subscriber").await;

    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    for n in 1..=50 {
        publish(&client, &bus.url(), "Counted", json!({ "n": n })).await;
    }
    subscriber.wait_for_all("the subscriber", 50).await;
    stop_bus(bus).await;
    // What arrives from here on was sent by the restarted bus.
    let before_the_restart = subscriber.received().len();

    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    publish(&client, &bus.url(), "Counted", json!({ "n": 51 })).await;
    wait_until(
        "the subscriber has received seq 51 after the restart",
        PATIENCE,
        async || subscriber.received_seqs().contains(&51),
    )
    .await;
    let resent: Vec<u64> = subscriber.received_seqs()[before_the_restart..]
        .iter()
        .copied()
        .filter(|&seq| seq <= 50)
        .collect();
    assert!(
        resent.len() <= 5,
        "after a restart the bus must resume from the subscriber's cursor, not resend the history; it resent {resent:?}"
    );
    stop_bus(bus).await;
    subscriber.stop().await;
}

#[tokio::test]
async fn events_published_while_a_subscriber_is_down_are_delivered_after_a_restart_of_the_bus() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let subscriber = FakeService::start("the subscriber").await;
    subscriber.set(Behaviour::Failing);

    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    for n in 1..=8 {
        publish(&client, &bus.url(), "Pending", json!({ "n": n })).await;
    }
    stop_bus(bus).await;

    subscriber.set(Behaviour::Up);
    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    subscriber.wait_for_all("the subscriber", 8).await;
    assert_in_order("the subscriber", &subscriber.received_seqs(), 8);
    let _: Vec<Value> = list(&client, &bus.url(), "").await;
    stop_bus(bus).await;
    subscriber.stop().await;
}

#[tokio::test]
async fn a_batch_is_stored_in_order_all_or_nothing() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/events/batch", bus.url());
    publish(
        &client,
        &bus.url(),
        "PostCreated",
        json!({"id": "p0", "title": "T"}),
    )
    .await;

    let batch = json!([
        {"type": "PostCreated", "data": {"id": "p1", "title": "T"}},
        {"type": "PostCreated", "data": {"id": "p2", "title": "T"}},
        {"type": "PostCreated", "data": {"id": "p3", "title": "T"}}
    ]);
    let (status, body) = send(client.post(&url).json(&batch)).await;
    assert_eq!(
        status,
        200,
        "POST /events/batch answered {status}: {body}{}",
        advice(status, &body)
    );
    let seqs: Vec<u64> = body["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3, "{body}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "a batch gets consecutive numbers: {seqs:?}"
    );
    let ids: Vec<Value> = list(&client, &bus.url(), "")
        .await
        .iter()
        .map(|e| e["data"]["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("p0"), json!("p1"), json!("p2"), json!("p3")],
        "stored in the order sent"
    );

    // One bad event refuses the whole batch; an empty batch is refused too.
    let bad = json!([{"type": "Anything", "data": {}}, {"type": "  ", "data": {}}]);
    for (what, body) in [
        ("a batch with a blank type", bad),
        ("an empty batch", json!([])),
    ] {
        let (status, answer) = send(client.post(&url).json(&body)).await;
        assert_eq!(status, 422, "{what} must be refused: {answer}");
    }
    assert_eq!(
        list(&client, &bus.url(), "").await.len(),
        4,
        "refused batches store nothing"
    );
    stop_bus(bus).await;
}

// ANCHOR: contract_test
#[tokio::test]
async fn known_types_must_carry_the_contracts_data_and_unknown_types_pass_through() {
    let data = tempfile::tempdir().unwrap();
    let subscriber = FakeService::start("the subscriber").await;
    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    let client = reqwest::Client::new();
    let events = format!("{}/events", bus.url());

    // The request of issue 11: a `PostCreated` whose id is a number and
    // whose title is missing. Every consumer of `PostCreated` would refuse it.
    let poison = [
        json!({"type": "PostCreated", "data": {"id": 1}}),
        json!({"type": "PostCreated"}),
        json!({"type": "CommentCreated", "data": {"id": "c1", "content": "Hi", "postId": "p1", "status": "maybe"}}),
        json!({"type": "CommentModerated", "data": "approved"}),
        json!({"type": "CommentUpdated", "data": {"id": "c1"}}),
    ];
    for event in &poison {
        let (status, body) = send(client.post(&events).json(event)).await;
        assert_eq!(
            status, 422,
            "POST /events with {event} must be refused with 422: it does not fit the contract \
             (blog_events::Event), got {status} {body}"
        );
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "the refusal must be JSON like {{\"error\": \"...\"}}, got {body}"
        );
    }
    // A batch is all or nothing: one bad event refuses the others too.
    let batch = json!([
        {"type": "PostCreated", "data": {"id": "p1", "title": "Fine"}},
        {"type": "PostCreated", "data": {"id": 1}}
    ]);
    let (status, body) = send(client.post(format!("{events}/batch")).json(&batch)).await;
    assert_eq!(
        status, 422,
        "a batch holding a bad PostCreated must be refused, got {status} {body}"
    );
    assert!(
        list(&client, &bus.url(), "").await.is_empty(),
        "refused events are not stored"
    );

    // The contract's fields are checked, extra ones are not refused, and a
    // type the contract does not know is stored and delivered as it is.
    let fine = json!({"id": "p1", "title": "Fine", "tags": ["new"]});
    assert_eq!(publish(&client, &bus.url(), "PostCreated", fine).await, 1);
    assert_eq!(
        publish(&client, &bus.url(), "InvoiceSent", json!({"id": 7})).await,
        2
    );
    subscriber.wait_for_all("the subscriber", 2).await;
    assert_eq!(subscriber.received()[1]["data"], json!({"id": 7}));
    stop_bus(bus).await;
    subscriber.stop().await;
}
// ANCHOR_END: contract_test

#[tokio::test]
async fn the_log_has_an_id_that_a_restart_keeps_and_a_new_log_changes() {
    let data = tempfile::tempdir().unwrap();
    let subscriber = FakeService::start("the subscriber").await;
    let client = reqwest::Client::new();

    let bus = start_bus(data.path(), &[subscriber.url()]).await;
    let (events, first_id) = list_with_log_id(&client, &bus.url(), "").await;
    assert!(events.is_empty());
    assert!(
        first_id.len() == 32 && first_id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "the log id is 32 lowercase hex characters, got {first_id:?}"
    );
    publish(&client, &bus.url(), "Counted", json!({"n": 1})).await;
    subscriber.wait_for_all("the subscriber", 1).await;
    assert_eq!(
        subscriber.received()[0]["logId"],
        first_id,
        "a delivered event carries the log's id as `logId`"
    );
    stop_bus(bus).await;

    let bus = start_bus(data.path(), &[]).await;
    assert_eq!(
        log_id(&client, &bus.url()).await,
        first_id,
        "a restart keeps the log, and its id"
    );
    stop_bus(bus).await;

    // A reset: the log is deleted, and the bus starts again from seq 1.
    std::fs::remove_dir_all(data.path()).unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let new_id = log_id(&client, &bus.url()).await;
    assert_ne!(
        new_id, first_id,
        "a new log must get a new id, or consumers could not tell its seq 1 from the old one's"
    );
    stop_bus(bus).await;
    subscriber.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_disk_fills_the_writers_queue_and_then_publishers_hear_503_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let bus = start_bus(data.path(), &[]).await;
    let client = reqwest::Client::new();
    publish(&client, &bus.url(), "Warmup", json!(null)).await;

    // Another connection holds the write lock: the writer waits for it, and
    // the events sent meanwhile queue up in memory.
    let blocker = rusqlite::Connection::open(data.path().join("event-bus.db")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    // 200 events of 60 KB: 12 MB, more than the queue may hold.
    let big = "x".repeat(60 * 1000);
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for n in 0..200 {
        let (client, url, big, busy) = (client.clone(), bus.url(), big.clone(), busy.clone());
        senders.push(tokio::spawn(async move {
            let request = client
                .post(format!("{url}/events"))
                .json(&json!({"type": "Big", "data": {"n": n, "text": big}}));
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").is_some();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == 503 {
                busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (status, retry_after, body)
        }));
    }
    wait_until(
        "some publisher has been told the bus is busy",
        PATIENCE,
        async || busy.load(std::sync::atomic::Ordering::SeqCst) > 0,
    )
    .await;
    blocker.execute_batch("COMMIT").unwrap();

    let mut stored = 0;
    for sender in senders {
        let (status, retry_after, body) = sender.await.unwrap();
        match status {
            200 => stored += 1,
            503 => {
                assert!(
                    retry_after,
                    "a 503 for a full queue says when to come back (Retry-After)"
                );
                assert!(
                    body["error"].is_string(),
                    "the 503 is JSON {{\"error\"}}: {body}"
                );
            }
            other => panic!("a publisher got {other} {body}; expected 200 or 503"),
        }
    }
    assert!(
        stored > 0,
        "the events that fitted in the queue are stored once the disk is free"
    );
    let events = list(&client, &bus.url(), "?after=1").await;
    assert_eq!(events.len(), stored, "every 200 is stored, no 503 is");
    stop_bus(bus).await;
}
