//! The bus delivers in batches to subscribers that take `POST /events/batch`,
//! one by one to those that do not (the Node services), and its promises
//! hold either way: every event, in order, and a refused event parked alone.
//! The real bus runs as its own process; the subscribers are recorders here.

#[path = "support/blog_binary.rs"]
mod blog_binary;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};

/// What one recording subscriber saw.
#[derive(Default)]
struct Seen {
    /// The titles of the events it took, in the order it took them.
    titles: Vec<String>,
    singles: usize,
    batches: usize,
}

type Recorder = Arc<Mutex<Seen>>;

/// Takes an event unless its title is "poison" (422, for ever).
fn take(seen: &mut Seen, event: &Value) -> Result<(), StatusCode> {
    let title = event["data"]["title"].as_str().unwrap_or_default();
    if title == "poison" {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    seen.titles.push(title.to_string());
    Ok(())
}

async fn one(State(seen): State<Recorder>, body: String) -> StatusCode {
    let event: Value = serde_json::from_str(&body).unwrap();
    let mut seen = seen.lock().unwrap();
    seen.singles += 1;
    take(&mut seen, &event).map_or_else(|status| status, |()| StatusCode::OK)
}

async fn many(State(seen): State<Recorder>, body: String) -> StatusCode {
    let events: Vec<Value> = serde_json::from_str(&body).unwrap();
    let mut seen = seen.lock().unwrap();
    seen.batches += 1;
    for event in &events {
        if let Err(status) = take(&mut seen, event) {
            return status;
        }
    }
    StatusCode::OK
}

/// A subscriber on 127.0.0.1:0; with `batches`, it also has `/events/batch`.
async fn subscriber(batches: bool) -> (String, Recorder) {
    let seen = Recorder::default();
    let mut routes = Router::new().route("/events", post(one));
    if batches {
        routes = routes.route("/events/batch", post(many));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = routes.with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn start_bus(data: &std::path::Path, subscribers: &[&str]) -> (blog_binary::Running, String) {
    blog_binary::start(
        "event-bus",
        &[
            ("DATA_DIR", data.display().to_string()),
            ("SUBSCRIBERS", subscribers.join(",")),
            ("DEAD_LETTER_AFTER", "2".to_string()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn our_subscribers_get_batches_foreign_ones_single_events_all_in_order_poison_parked_alone() {
    let (ours, ours_seen) = subscriber(true).await;
    let (foreign, foreign_seen) = subscriber(false).await;
    let data = tempfile::tempdir().unwrap();
    let (_bus, bus) = start_bus(data.path(), &[&ours, &foreign]);

    // 300 events, one of them poison, stored before anyone could take them.
    let titles: Vec<String> = (0..300)
        .map(|n| {
            if n == 150 {
                "poison".to_string()
            } else {
                format!("post {n}")
            }
        })
        .collect();
    let client = reqwest::Client::new();
    for chunk in titles.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(n, title)| json!({"type": "PostCreated", "data": {"id": format!("{title}-{n}"), "title": title}}))
            .collect();
        let answer = client
            .post(format!("{bus}/events/batch"))
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    let wanted: Vec<String> = titles.into_iter().filter(|t| t != "poison").collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for seen in [&ours_seen, &foreign_seen] {
        while seen.lock().unwrap().titles.len() < wanted.len() {
            assert!(Instant::now() < deadline, "not every event was delivered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for (name, seen) in [("ours", &ours_seen), ("foreign", &foreign_seen)] {
        let seen = seen.lock().unwrap();
        // At least once: a batch refused part-way is sent again, so a title
        // may come twice; in order: the first time each is seen, in log order.
        let mut firsts: Vec<&String> = Vec::new();
        for title in &seen.titles {
            if !firsts.contains(&title) {
                firsts.push(title);
            }
        }
        assert_eq!(
            firsts,
            wanted.iter().collect::<Vec<_>>(),
            "{name}: every event, in order"
        );
    }
    {
        let (ours, foreign) = (ours_seen.lock().unwrap(), foreign_seen.lock().unwrap());
        assert!(
            ours.batches > 0 && ours.batches + ours.singles < 100,
            "ours took 299 events in {} batches and {} single requests: batches, please",
            ours.batches,
            ours.singles
        );
        assert_eq!(foreign.batches, 0);
        assert!(
            foreign.singles >= 300,
            "the foreign subscriber gets every event alone"
        );
    }

    // The poison event was parked, alone, for each subscriber, and both
    // are caught up.
    loop {
        let subscribers: Value = client
            .get(format!("{bus}/subscribers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let settled = subscribers
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["parked"] == 1 && s["lag"] == 0);
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected one parked event each and no lag: {subscribers}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
