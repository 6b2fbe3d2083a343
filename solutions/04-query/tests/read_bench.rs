//! A maintainers' measurement, not a test of the specification: how fast
//! `GET /posts` answers when the read model is big.
//!
//! ```sh
//! cargo test -p query --release --test read_bench -- --ignored --nocapture
//! ```
//!
//! It fills the model with 50,000 comments over 500 posts through the real
//! `POST /events` handler, then times 200 `GET /posts` over a real socket
//! (request sent to body fully read), once with the model at rest and once
//! while another connection keeps changing it. It prints the numbers and
//! checks no threshold: a busy machine makes timings wander, and a number
//! is read, not asserted.

use std::time::{Duration, Instant};

use blog_runtime::{Readiness, Server};
use serde_json::{Value, json};
use tokio::sync::watch;

const POSTS: usize = 500;
const COMMENTS_PER_POST: usize = 100;
const READS: usize = 200;
/// Connections that fill the model at the same time.
const FILLERS: usize = 8;

/// 16 hex digits, the shape of the services' ids.
fn id(kind: u64, n: usize) -> String {
    format!(
        "{:016x}",
        (kind << 56) ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

fn post_created(post: usize) -> Value {
    json!({"type": "PostCreated", "data": {"id": id(1, post), "title": format!("Post number {post}")}})
}

fn comment(post: usize, n: usize, kind: &str, status: &str) -> Value {
    json!({"type": kind, "data": {
        "id": id(2, post * COMMENTS_PER_POST + n),
        "postId": id(1, post),
        "content": format!("comment {n} on post {post}: a few words, like people write"),
        "status": status,
    }})
}

async fn deliver(client: &reqwest::Client, base: &str, event: &Value) {
    let response = client
        .post(format!("{base}/events"))
        .json(event)
        .send()
        .await
        .expect("query should answer POST /events");
    assert_eq!(response.status(), 200, "POST /events refused {event}");
}

/// Every post, then every comment, from [`FILLERS`] connections at once.
/// The events carry no bus number, so their order between connections
/// does not matter (the projection is idempotent and order-free).
async fn fill(base: &str) {
    let client = reqwest::Client::new();
    for post in 0..POSTS {
        deliver(&client, base, &post_created(post)).await;
    }
    let fillers: Vec<_> = (0..FILLERS)
        .map(|filler| {
            let (client, base) = (client.clone(), base.to_string());
            tokio::spawn(async move {
                for n in (filler..POSTS * COMMENTS_PER_POST).step_by(FILLERS) {
                    let event = comment(
                        n / COMMENTS_PER_POST,
                        n % COMMENTS_PER_POST,
                        "CommentCreated",
                        "pending",
                    );
                    deliver(&client, &base, &event).await;
                }
            })
        })
        .collect();
    for filler in fillers {
        filler.await.unwrap();
    }
}

/// One `GET /posts`, from sending the request to the last byte of the body.
async fn timed_read(client: &reqwest::Client, base: &str) -> (Duration, usize) {
    let started = Instant::now();
    let response = client.get(format!("{base}/posts")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    (started.elapsed(), body.len())
}

async fn timed_reads(client: &reqwest::Client, base: &str) -> Vec<Duration> {
    let mut times = Vec::with_capacity(READS);
    for _ in 0..READS {
        times.push(timed_read(client, base).await.0);
    }
    times.sort();
    times
}

fn print_times(label: &str, sorted: &[Duration]) {
    let at = |percent: usize| sorted[(sorted.len() * percent).div_ceil(100) - 1];
    println!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} reads)",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        sorted[sorted.len() - 1].as_secs_f64() * 1e3,
        sorted.len(),
    );
}

/// Moderates comments one after the other, round the whole model, until
/// told to stop; answers how many events it sent.
async fn keep_writing(base: String, mut stop: watch::Receiver<bool>) -> usize {
    let client = reqwest::Client::new();
    let mut sent = 0;
    while !*stop.borrow_and_update() {
        let n = sent % (POSTS * COMMENTS_PER_POST);
        let status = if sent % 2 == 0 {
            "approved"
        } else {
            "rejected"
        };
        let event = comment(
            n % POSTS,
            n / POSTS % COMMENTS_PER_POST,
            "CommentUpdated",
            status,
        );
        deliver(&client, &base, &event).await;
        sent += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn get_posts_with_50_000_comments() {
    let state = query::QueryState::new(Readiness::ready(), "http://127.0.0.1:9");
    let server = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        query::app(state, &Default::default()),
    )
    .await
    .unwrap();
    let base = server.url();

    let started = Instant::now();
    fill(&base).await;
    let filled = started.elapsed();
    let client = reqwest::Client::new();
    let all: Value = client
        .get(format!("{base}/posts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let comments: usize = all
        .as_object()
        .unwrap()
        .values()
        .map(|post| post["comments"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        comments,
        POSTS * COMMENTS_PER_POST,
        "the fill lost comments"
    );
    println!(
        "filled {POSTS} posts and {comments} comments through POST /events in {:.1} s",
        filled.as_secs_f64()
    );

    let (first, size) = timed_read(&client, &base).await;
    println!(
        "GET /posts body: {size} bytes ({:.2} MB); first read after the fill {:.2} ms",
        size as f64 / 1e6,
        first.as_secs_f64() * 1e3
    );
    print_times(
        "GET /posts, model at rest",
        &timed_reads(&client, &base).await,
    );

    let (stop, stopped) = watch::channel(false);
    let writer = tokio::spawn(keep_writing(base.clone(), stopped));
    let started = Instant::now();
    let under_writes = timed_reads(&client, &base).await;
    stop.send(true).unwrap();
    let writes = writer.await.unwrap();
    print_times("GET /posts, while one connection writes", &under_writes);
    println!(
        "  (meanwhile {writes} CommentUpdated events were applied, {:.0}/s)",
        writes as f64 / started.elapsed().as_secs_f64()
    );
    server.stop().await;
}
