//! The specification of dead letters (chapter 3, TODO 4): an event a
//! subscriber can never accept is parked for it, visibly, and delivery goes
//! on; once the subscriber is fixed, the parked events can be redelivered.
//!
//! The fake subscribers here (`PickySubscriber`, in `common/mod.rs`) can be
//! told to refuse one type of event with a given status, like a service that
//! cannot read it. These tests park an event after [`DEAD_LETTER_AFTER`]
//! refusals (`common/mod.rs` starts the bus with that setting).

mod common;

use blog_testkit::{send, wait_until};
use common::*;
use event_bus::delivery::{DeliveryError, Verdict};
use serde_json::{Value, json};

// ANCHOR: verdict_test
#[test]
fn a_4xx_means_never_except_408_and_429_and_a_5xx_means_try_again() {
    let verdict = |status: u16| {
        DeliveryError::Refused {
            status,
            reason: format!("answered {status}"),
        }
        .verdict()
    };
    for never in [400, 401, 403, 404, 405, 409, 410, 413, 415, 422] {
        assert_eq!(
            verdict(never),
            Verdict::Never,
            "a subscriber that answers {never} has looked at the event and refused it: sending \
             the same event again cannot change its answer"
        );
    }
    for try_again in [408, 429, 500, 502, 503, 504] {
        assert_eq!(
            verdict(try_again),
            Verdict::TryAgain,
            "{try_again} means \"not now\" (a timeout, too many requests, or a server that is \
             down or broken for the moment): the same event may be accepted later"
        );
    }
}
// ANCHOR_END: verdict_test

// ANCHOR: parked_test
#[tokio::test]
async fn an_event_a_subscriber_refuses_for_good_is_parked_and_the_next_ones_go_on() {
    let data = tempfile::tempdir().unwrap();
    let picky = PickySubscriber::start().await;
    picky.refuse("Poison", 422);
    let other = PickySubscriber::start().await;
    let bus = start_bus(data.path(), &[picky.url(), other.url()]).await;
    let client = reqwest::Client::new();

    publish(&client, &bus.url(), "Counted", json!({"n": 1})).await;
    publish(&client, &bus.url(), "Poison", json!({"n": 2})).await;
    for n in 3..=5 {
        publish(&client, &bus.url(), "Counted", json!({ "n": n })).await;
    }

    // The events after the poison one reach the picky subscriber, in order.
    wait_until(
        "the picky subscriber has received seq 5",
        PATIENCE,
        async || picky.received_seqs().contains(&5),
    )
    .await;
    assert_eq!(
        picky.received_seqs(),
        vec![1, 3, 4, 5],
        "the refused event (seq 2) is set aside, and the others still arrive in order"
    );
    assert_eq!(
        picky.attempts(2),
        DEAD_LETTER_AFTER as usize,
        "an event refused with 422 is tried {DEAD_LETTER_AFTER} times (DEAD_LETTER_AFTER), \
         then parked"
    );
    // The other subscriber is not affected at all.
    other.wait_for_all("the other subscriber", 5).await;
    assert_in_order("the other subscriber", &other.received_seqs(), 5);

    // Visible: GET /subscribers ...
    wait_until(
        "GET /subscribers shows the picky subscriber caught up",
        PATIENCE,
        async || subscriber_status(&client, &bus.url(), &picky.url()).await["lag"] == 0,
    )
    .await;
    let status = subscriber_status(&client, &bus.url(), &picky.url()).await;
    assert_eq!(
        status["parked"], 1,
        "GET /subscribers counts its parked events: {status}"
    );
    assert_eq!(
        status["cursor"], 5,
        "its cursor is past the parked event: {status}"
    );
    assert_eq!(status["lag"], 0, "it has nothing left to receive: {status}");
    assert_eq!(
        status["lastError"]["seq"], 2,
        "its last error is about seq 2: {status}"
    );
    assert_eq!(status["lastError"]["verdict"], "never", "{status}");
    assert!(
        status["lastError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("422")),
        "the last error says what the subscriber answered: {status}"
    );
    let name = status["name"]
        .as_str()
        .expect("each subscriber has a name")
        .to_string();
    let others = subscriber_status(&client, &bus.url(), &other.url()).await;
    assert_eq!(others["parked"], 0, "{others}");
    assert_eq!(others["lastError"], Value::Null, "{others}");

    // ... and GET /subscribers/{name}/parked.
    let parked = get_ok(&client, &bus.url(), &format!("/subscribers/{name}/parked")).await;
    let parked = parked.as_array().expect("a list of parked events").clone();
    assert_eq!(parked.len(), 1, "one parked event: {parked:?}");
    assert_eq!(parked[0]["seq"], 2);
    assert_eq!(parked[0]["type"], "Poison");
    assert_eq!(parked[0]["data"], json!({"n": 2}));
    assert_eq!(parked[0]["attempts"], DEAD_LETTER_AFTER);
    assert!(
        parked[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("422")),
        "{}",
        parked[0]
    );
    stop_bus(bus).await;
    picky.stop().await;
    other.stop().await;
}
// ANCHOR_END: parked_test

#[tokio::test]
async fn answers_that_mean_not_now_are_retried_and_never_parked() {
    let data = tempfile::tempdir().unwrap();
    let mut fakes = Vec::new();
    for status in [408, 429, 500, 503] {
        let fake = PickySubscriber::start().await;
        fake.refuse("Flaky", status);
        fakes.push((status, fake));
    }
    let urls: Vec<String> = fakes.iter().map(|(_, fake)| fake.url()).collect();
    let bus = start_bus(data.path(), &urls).await;
    let client = reqwest::Client::new();
    publish(&client, &bus.url(), "Flaky", json!({})).await;
    publish(&client, &bus.url(), "Counted", json!({})).await;

    let enough = DEAD_LETTER_AFTER as usize + 2;
    for (status, fake) in &fakes {
        wait_until(
            &format!("the subscriber answering {status} was tried {enough} times"),
            PATIENCE,
            async || fake.attempts(1) >= enough,
        )
        .await;
        assert!(
            fake.received().is_empty(),
            "while it answers {status}, the subscriber must not get seq 2: it is still owed seq 1"
        );
        let line = subscriber_status(&client, &bus.url(), &fake.url()).await;
        assert_eq!(
            line["parked"], 0,
            "{status} means \"try again\": nothing is parked: {line}"
        );
        assert_eq!(line["lastError"]["verdict"], "try again", "{line}");
        fake.refuse_nothing();
    }
    for (status, fake) in &fakes {
        fake.wait_for_all(&format!("the subscriber that answered {status}"), 2)
            .await;
        assert_eq!(
            fake.received_seqs(),
            vec![1, 2],
            "once it accepts, it gets both, in order"
        );
    }
    stop_bus(bus).await;
    for (_, fake) in fakes {
        fake.stop().await;
    }
}

// ANCHOR: redeliver_test
#[tokio::test]
async fn parked_events_survive_a_restart_and_are_redelivered_once_the_subscriber_is_fixed() {
    let data = tempfile::tempdir().unwrap();
    let picky = PickySubscriber::start().await;
    picky.refuse("Poison", 400);
    let client = reqwest::Client::new();

    let bus = start_bus(data.path(), &[picky.url()]).await;
    publish(&client, &bus.url(), "Poison", json!({"n": 1})).await;
    publish(&client, &bus.url(), "Poison", json!({"n": 2})).await;
    publish(&client, &bus.url(), "Counted", json!({"n": 3})).await;
    wait_until(
        "the picky subscriber has received seq 3",
        PATIENCE,
        async || picky.received_seqs() == [3],
    )
    .await;
    stop_bus(bus).await;

    // Parked on disk: still there after a restart.
    let bus = start_bus(data.path(), &[picky.url()]).await;
    let name = subscriber_status(&client, &bus.url(), &picky.url()).await["name"]
        .as_str()
        .unwrap()
        .to_string();
    let parked = get_ok(&client, &bus.url(), &format!("/subscribers/{name}/parked")).await;
    let seqs: Vec<Value> = parked
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].clone())
        .collect();
    assert_eq!(
        seqs,
        vec![json!(1), json!(2)],
        "parked events survive a restart: {parked}"
    );

    // The subscriber is fixed; redeliver.
    picky.refuse_nothing();
    let redeliver = format!("{}/subscribers/{name}/parked/redeliver", bus.url());
    let (status, body) = send(client.post(&redeliver)).await;
    assert_eq!(
        status, 202,
        "POST .../parked/redeliver answers 202, got {status} {body}"
    );
    assert_eq!(
        body["parked"], 2,
        "it says how many parked events will be sent again: {body}"
    );
    wait_until(
        "both parked events have been redelivered",
        PATIENCE,
        async || {
            let seqs = picky.received_seqs();
            seqs.contains(&1) && seqs.contains(&2)
        },
    )
    .await;
    assert_eq!(
        picky.received_seqs(),
        vec![3, 1, 2],
        "parked events are redelivered oldest first"
    );
    wait_until("nothing is parked any more", PATIENCE, async || {
        subscriber_status(&client, &bus.url(), &picky.url()).await["parked"] == 0
    })
    .await;
    let parked = get_ok(&client, &bus.url(), &format!("/subscribers/{name}/parked")).await;
    assert_eq!(parked, json!([]));

    // Delivery goes on as before.
    publish(&client, &bus.url(), "Counted", json!({"n": 4})).await;
    picky.wait_for_all("the fixed subscriber", 4).await;

    // A name nobody has is a JSON 404.
    for (method, path) in [
        ("GET", "/subscribers/nobody/parked"),
        ("POST", "/subscribers/nobody/parked/redeliver"),
    ] {
        let request = match method {
            "GET" => client.get(format!("{}{path}", bus.url())),
            _ => client.post(format!("{}{path}", bus.url())),
        };
        let (status, body) = send(request).await;
        assert_eq!(
            status, 404,
            "{method} {path} should answer 404, got {status} {body}"
        );
        assert!(
            body["error"].is_string(),
            "{method} {path}: the 404 is JSON: {body}"
        );
    }
    stop_bus(bus).await;
    picky.stop().await;
}
// ANCHOR_END: redeliver_test

#[tokio::test]
async fn a_refused_redelivery_parks_the_event_again() {
    let data = tempfile::tempdir().unwrap();
    let picky = PickySubscriber::start().await;
    picky.refuse("Poison", 422);
    let bus = start_bus(data.path(), &[picky.url()]).await;
    let client = reqwest::Client::new();
    publish(&client, &bus.url(), "Poison", json!({})).await;
    publish(&client, &bus.url(), "Counted", json!({})).await;
    wait_until(
        "seq 2 has arrived past the parked seq 1",
        PATIENCE,
        async || picky.received_seqs() == [2],
    )
    .await;
    let name = subscriber_status(&client, &bus.url(), &picky.url()).await["name"]
        .as_str()
        .unwrap()
        .to_string();

    // Not fixed yet: a redelivery is refused again and parks the event again.
    let (status, _) =
        send(client.post(format!("{}/subscribers/{name}/parked/redeliver", bus.url()))).await;
    assert_eq!(status, 202);
    let twice = 2 * DEAD_LETTER_AFTER as usize;
    wait_until(
        &format!("seq 1 was tried {twice} times"),
        PATIENCE,
        async || picky.attempts(1) >= twice,
    )
    .await;
    publish(&client, &bus.url(), "Counted", json!({})).await;
    wait_until(
        "seq 3 arrives after the refused redelivery",
        PATIENCE,
        async || picky.received_seqs() == [2, 3],
    )
    .await;
    assert_eq!(
        picky.attempts(1),
        twice,
        "refused again, the event is parked again, not retried forever"
    );
    let line = subscriber_status(&client, &bus.url(), &picky.url()).await;
    assert_eq!(line["parked"], 1, "still parked: {line}");
    stop_bus(bus).await;
    picky.stop().await;
}
