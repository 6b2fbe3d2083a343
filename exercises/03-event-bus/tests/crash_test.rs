//! The fault test: kill the real `event-bus` process with SIGKILL while
//! events are being published, start it again on the same data directory,
//! and check that nothing it acknowledged is lost.
//!
//! SIGKILL gives the process no chance to flush or clean up, like a power
//! cut or the kernel's OOM killer. The bus promises that an event it
//! answered "OK" for is already on disk. A bus that kept events only in
//! memory (like the Node.js bus this one is modelled on) fails this test:
//! after the restart its `GET /events` would be empty, and the subscriber
//! would never receive the events acknowledged before the kill.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blog_testkit::{FakeService, wait_until};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_acknowledged_before_a_kill_9_survive_and_are_delivered() {
    let data = tempfile::tempdir().unwrap();
    let subscriber = FakeService::start("the subscriber").await;
    let mut bus = spawn_bus(data.path(), &subscriber.url()).await;

    // Publishers send events as fast as they are answered and record every
    // one the bus acknowledged: (n, seq). They stop at their first failure,
    // which is the kill.
    const PUBLISHERS: u64 = 16;
    const MAX_EVENTS: u64 = 50_000; // a bound, never reached: the kill comes first
    const KILL_AFTER: usize = 300;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let acknowledged: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    // The first answer that was not 200 (before the kill, there must be none).
    let refused: Arc<Mutex<Option<String>>> = Arc::default();
    let mut publishers = Vec::new();
    for publisher in 0..PUBLISHERS {
        let (client, url, acknowledged, refused) = (
            client.clone(),
            bus.url.clone(),
            acknowledged.clone(),
            refused.clone(),
        );
        publishers.push(tokio::spawn(async move {
            for n in (publisher..MAX_EVENTS).step_by(PUBLISHERS as usize) {
                let request = client
                    .post(format!("{url}/events"))
                    .json(&json!({"type": "Counted", "data": {"n": n}}));
                let Ok(response) = request.send().await else {
                    return;
                };
                if response.status() != 200 {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    refused
                        .lock()
                        .unwrap()
                        .get_or_insert(format!("{status} {body}"));
                    return;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    return;
                };
                let seq = body["seq"].as_u64().expect("an OK answer carries a seq");
                acknowledged.lock().unwrap().push((n, seq));
            }
        }));
    }

    wait_until(
        &format!("the bus has acknowledged {KILL_AFTER} events"),
        PATIENCE,
        async || {
            acknowledged.lock().unwrap().len() >= KILL_AFTER || refused.lock().unwrap().is_some()
        },
    )
    .await;
    if let Some(answer) = refused.lock().unwrap().clone() {
        panic!(
            "before the kill, POST /events with a valid event should answer 200, got {answer}\n\
             The bus could not store the event: look at src/log.rs, and at any panic message \
             printed above this one."
        );
    }
    // SIGKILL, with sixteen publishers mid-request.
    bus.child
        .kill()
        .await
        .expect("the bus process can be killed");
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);

    let bus = spawn_bus(data.path(), &subscriber.url()).await;

    // ANCHOR: after_the_kill
    // 1. Every acknowledged event is in the log, under the seq it was given.
    let stored: BTreeMap<u64, u64> = list(&client, &bus.url, "")
        .await
        .iter()
        .map(|event| {
            (
                event["seq"].as_u64().unwrap(),
                event["data"]["n"].as_u64().unwrap(),
            )
        })
        .collect();
    for &(n, seq) in &acknowledged {
        assert_eq!(
            stored.get(&seq),
            Some(&n),
            "event n={n} was acknowledged as seq {seq} before the kill, but after the restart the log has {:?} there \
             ({} events stored, {} acknowledged)",
            stored.get(&seq),
            stored.len(),
            acknowledged.len()
        );
    }

    // 2. The subscriber gets every one of them, in order, with no gaps.
    let last = *stored.keys().next_back().unwrap();
    subscriber.wait_for_all("the subscriber", last).await;
    let mut seen = HashSet::new();
    for seq in subscriber.received_seqs() {
        // Re-delivery after the crash is allowed; skipping ahead is not.
        assert!(
            (1..seq).all(|earlier| seen.contains(&earlier)),
            "seq {seq} reached the subscriber before some earlier event: delivery must be in order"
        );
        seen.insert(seq);
    }

    // 3. The restarted bus goes on numbering after everything it stored.
    let next = publish(
        &client,
        &bus.url,
        "Counted",
        json!({"n": "after the crash"}),
    )
    .await;
    assert_eq!(next, last + 1, "seqs continue after the last stored event");
    // ANCHOR_END: after_the_kill

    drop(bus); // kill_on_drop
    subscriber.stop().await;
}

/// A busy delivery task writes its cursor only now and then (a page of
/// events, or `SAVE_EVERY`, whichever comes first), so a kill under load
/// resends a little. An idle one must not leave it behind: a moment after
/// the subscriber has everything, the cursor is on disk, and a bus killed
/// then resends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_bus_has_written_its_cursor_before_a_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let subscriber = FakeService::start("the subscriber").await;
    let mut bus = spawn_bus(data.path(), &subscriber.url()).await;
    for n in 1..=50 {
        publish(&client, &bus.url, "Counted", json!({ "n": n })).await;
    }
    subscriber.wait_for_all("the subscriber", 50).await;
    // Idle now: give the task its moment to write the cursor, then SIGKILL.
    tokio::time::sleep(event_bus::delivery::SAVE_EVERY * 4).await;
    bus.child
        .kill()
        .await
        .expect("the bus process can be killed");
    let before_the_kill = subscriber.received().len();

    let bus = spawn_bus(data.path(), &subscriber.url()).await;
    publish(&client, &bus.url, "Counted", json!({ "n": 51 })).await;
    wait_until(
        "the subscriber has received seq 51 after the restart",
        PATIENCE,
        async || subscriber.received_seqs().contains(&51),
    )
    .await;
    let resent: Vec<u64> = subscriber.received_seqs()[before_the_kill..]
        .iter()
        .copied()
        .filter(|&seq| seq <= 50)
        .collect();
    assert!(
        resent.is_empty(),
        "the bus sat idle for {:?} with every event delivered, then was killed; after the restart \
         it resent {resent:?}: an idle delivery task must write its cursor (wait_for_newer_events)",
        event_bus::delivery::SAVE_EVERY * 4
    );
    drop(bus); // kill_on_drop
    subscriber.stop().await;
}
