//! `GET /events` without a limit answers the whole log (the Node.js query
//! service reads it so at start-up). This test gives the real bus process a
//! log of 200,000 events, reads all of it, and checks that the bus's memory
//! hardly grew: it streams the answer a page at a time instead of building
//! it whole (which would take well over 100 MB for this log).
//!
//! Linux only: the bus's peak memory is read from `/proc/<pid>/status`.

#![cfg(target_os = "linux")]

mod common;

use blog_testkit::FakeService;
use common::*;
use event_bus::EventType;
use event_bus::log::{self, NewEvent};
use serde_json::{Value, json};

const EVENTS: u64 = 200_000;
/// How much the bus's peak memory may grow while it sends the whole log.
const MAX_GROWTH_KIB: u64 = 24 * 1024;

/// A line of `/proc/<pid>/status`, in KiB: `VmRSS` (resident now) or
/// `VmHWM` (the most that was ever resident).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {field}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_log_is_streamed_in_constant_memory() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut conn = log::open(&data.path().join("event-bus.db")).unwrap();
        let text = "a line of text, as a comment would have it, to give each event some weight";
        for start in (0..EVENTS).step_by(10_000) {
            let batch: Vec<NewEvent> = (start..start + 10_000)
                .map(|n| NewEvent {
                    kind: EventType::parse("Counted").unwrap(),
                    data: json!({ "n": n, "text": text }),
                })
                .collect();
            log::append_batch(&mut conn, &batch).unwrap();
        }
    }
    // A subscriber that is down: delivery reads one page and waits.
    let nobody = FakeService::start_down("a subscriber that is down").await;
    let bus = spawn_bus(data.path(), &nobody.url()).await;
    let pid = bus.child.id().expect("the bus is running");
    let client = reqwest::Client::new();
    // Warm up: one page through every code path, so what is measured next
    // is the cost of the length of the log, not of the first request.
    list(&client, &bus.url, "?limit=1000").await;
    let before = memory_kib(pid, "VmRSS");

    let response = client
        .get(format!("{}/events", bus.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let peak = memory_kib(pid, "VmHWM");

    let events: Vec<Value> = serde_json::from_slice(&body).expect("the whole log is one JSON list");
    assert_eq!(
        events.len() as u64,
        EVENTS,
        "GET /events without a limit answers every event"
    );
    assert_eq!(events[EVENTS as usize - 1]["data"]["n"], EVENTS - 1);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "the bus sent {EVENTS} events ({} MB) with its resident memory at {before} KiB before \
         and a peak of {peak} KiB",
        body.len() / 1_000_000
    );
    assert!(
        growth <= MAX_GROWTH_KIB,
        "sending the whole log grew the bus's memory by {growth} KiB (from {before} to {peak} \
         KiB): GET /events must stream the log a page at a time, not build the answer whole"
    );
    nobody.stop().await;
}
