//! `cargo workbook bench`: how fast the whole system propagates comments, and
//! what it costs. A maintainers' tool: it lives here, not in the `blog`
//! binary that ships in the Docker image.
//!
//! It starts the six services of the release `blog` binary as separate
//! processes (`cargo workbook bench` builds it first), then measures:
//!
//! 1. **Throughput**: many clients create comments as fast as the system
//!    accepts them for a fixed time; the clock stops when the query service
//!    shows *every* one of them with its final status (approved or
//!    rejected). Comments per second *fully propagated*, not merely accepted.
//! 2. **Lag** at a steady rate: each comment is timed from the moment its
//!    POST is sent until the query service shows its final status.
//! 3. **Resident memory** of each service, idle and after the load.
//!
//! Every event is durable: the bus commits to disk before it answers
//! (several events share a commit when they arrive together).
//!
//! [`lag`] is the other measurement, the one chapter 4 shows: one comment at
//! a time, and how long until the read model shows it (`--lag`).

pub mod lag;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use blog::launcher::{Plan, RunningSystem};
use blog_catalogue::Service;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub seconds: u64,
    pub clients: usize,
    pub rate: u32,
    pub posts: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seconds: 10,
            clients: 64,
            rate: 200,
            posts: 50,
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()
        .expect("client builds")
}

/// Runs the whole benchmark on the services of `plan` (moved to free ports)
/// and prints the report.
pub async fn run(plan: Plan, settings: Settings) -> Result<()> {
    let mut plan = plan.on_free_ports();
    plan.extra_env.push(("RUST_LOG".into(), "warn".into()));
    let program = &plan.programs[&Service::Posts].program;
    println!("Starting the six services from {} ...", program.display());
    let system = plan.launch().await?;
    // Let start-up work (the bus's first deliveries, query's replay) settle
    // before memory is read "idle".
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = memory(&system);

    let client = http();
    let posts = create_posts(&client, &system, settings.posts).await?;

    println!(
        "Throughput: {} clients creating comments for {} s, then waiting until the query service shows every final status...",
        settings.clients, settings.seconds
    );
    let throughput = throughput(&client, &system, &posts, &settings).await?;

    println!(
        "Lag: {} comments/s for {} s, each timed from POST to final status in the query service...",
        settings.rate, settings.seconds
    );
    let fresh_posts = create_posts(&client, &system, settings.posts).await?;
    let mut lags = lag(&client, &system, &fresh_posts, &settings).await?;
    let loaded = memory(&system);
    system.stop(Duration::from_secs(10)).await;

    lags.sort();
    println!(
        "\n== Blog benchmark ({} cores) ==",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "throughput : {:.0} comments/s fully propagated ({} comments created in {} s, all visible with their final status after {:.2} s)",
        throughput.created as f64 / throughput.until_propagated.as_secs_f64(),
        throughput.created,
        settings.seconds,
        throughput.until_propagated.as_secs_f64()
    );
    println!(
        "lag        : p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms at {} comments/s offered ({} comments)",
        ms(percentile(&lags, 50.0)),
        ms(percentile(&lags, 99.0)),
        ms(*lags.last().unwrap_or(&Duration::ZERO)),
        settings.rate,
        lags.len()
    );
    println!("memory     : resident set size, idle -> after the load");
    // Only the services that ran (on NATS there is no event-bus process).
    for service in Service::ALL
        .into_iter()
        .filter(|s| loaded.iter().any(|(l, _)| l == s))
    {
        let before = idle
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, kb)| *kb)
            .unwrap_or(0);
        let after = loaded
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, kb)| *kb)
            .unwrap_or(0);
        println!(
            "  {:<11} {:>6.1} MB -> {:>6.1} MB",
            service.name(),
            before as f64 / 1024.0,
            after as f64 / 1024.0
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The value below which `p` percent of the sorted samples fall.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Resident memory in KiB of every service, from /proc.
fn memory(system: &RunningSystem) -> Vec<(Service, u64)> {
    system
        .pids()
        .into_iter()
        .map(|(service, pid)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            (service, kb)
        })
        .collect()
}

async fn create_posts(
    client: &reqwest::Client,
    system: &RunningSystem,
    count: usize,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for n in 0..count {
        let response = client
            .post(format!("{}/posts/create", system.url(Service::Posts)))
            .json(&json!({ "title": format!("bench post {n}") }))
            .send()
            .await?;
        let post: Value = response.json().await?;
        ids.push(
            post["id"]
                .as_str()
                .context("posts answers an id")?
                .to_string(),
        );
    }
    // Comments learns about posts through the bus; wait until it knows them
    // all (a first comment is accepted), and query has them too.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        loop {
            let accepted = client
                .post(format!(
                    "{}/posts/{id}/comments",
                    system.url(Service::Comments)
                ))
                .json(&json!({ "content": "first!" }))
                .send()
                .await?
                .status()
                == 201;
            let visible = client
                .get(format!("{}/posts/{id}", system.url(Service::Query)))
                .send()
                .await?
                .status()
                == 200;
            if accepted && visible {
                break;
            }
            if Instant::now() > deadline {
                bail!("comments or query never learned about post {id}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(ids)
}

struct Throughput {
    created: usize,
    until_propagated: Duration,
}

async fn throughput(
    client: &reqwest::Client,
    system: &RunningSystem,
    posts: &[String],
    settings: &Settings,
) -> Result<Throughput> {
    let created = Arc::new(Mutex::new(HashSet::new()));
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(settings.seconds);
    let mut workers = Vec::new();
    for worker in 0..settings.clients {
        let (client, created, counter, posts) = (
            client.clone(),
            created.clone(),
            counter.clone(),
            posts.to_vec(),
        );
        let comments = system.url(Service::Comments);
        workers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < stop_at {
                let post = &posts[(worker + n) % posts.len()];
                // Every tenth comment mentions the forbidden fruit, so both outcomes are exercised.
                let content = if n.is_multiple_of(10) {
                    format!("orange {worker}-{n}")
                } else {
                    format!("comment {worker}-{n}")
                };
                let response = client
                    .post(format!("{comments}/posts/{post}/comments"))
                    .json(&json!({ "content": content }))
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status() == 201
                {
                    created.lock().await.insert(content);
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let created = created.lock().await.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let model: Value = client
            .get(format!("{}/posts", system.url(Service::Query)))
            .send()
            .await?
            .json()
            .await?;
        let done = model
            .as_object()
            .into_iter()
            .flat_map(|posts| posts.values())
            .flat_map(|post| post["comments"].as_array().cloned().unwrap_or_default())
            .filter(|c| {
                c["status"] != "pending"
                    && created.contains(c["content"].as_str().unwrap_or_default())
            })
            .count();
        if done >= created.len() {
            return Ok(Throughput {
                created: created.len(),
                until_propagated: started.elapsed(),
            });
        }
        if Instant::now() > deadline {
            bail!(
                "only {done} of {} comments propagated within 120 s after the load",
                created.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lag(
    client: &reqwest::Client,
    system: &RunningSystem,
    posts: &[String],
    settings: &Settings,
) -> Result<Vec<Duration>> {
    let total = settings.rate as u64 * settings.seconds;
    let interval = Duration::from_secs_f64(1.0 / settings.rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let (client, post) = (client.clone(), posts[n as usize % posts.len()].clone());
        let (comments_url, query_url) = (system.url(Service::Comments), system.url(Service::Query));
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let content = if n.is_multiple_of(10) {
                format!("orange lag {n}")
            } else {
                format!("lag {n}")
            };
            let id = create_comment_at(&client, &comments_url, &post, &content).await?;
            loop {
                let view: Value = client
                    .get(format!("{query_url}/posts/{post}"))
                    .send()
                    .await?
                    .json()
                    .await?;
                let status = view["comments"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["id"] == id.as_str()))
                    .and_then(|c| c["status"].as_str().map(str::to_string));
                if matches!(status.as_deref(), Some("approved" | "rejected")) {
                    return Ok::<Duration, anyhow::Error>(sent.elapsed());
                }
                if sent.elapsed() > Duration::from_secs(30) {
                    bail!("comment {id} was not final after 30 s");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let mut lags = Vec::new();
    for task in tasks {
        lags.push(task.await??);
    }
    Ok(lags)
}

async fn create_comment_at(
    client: &reqwest::Client,
    comments: &str,
    post: &str,
    content: &str,
) -> Result<String> {
    let response = client
        .post(format!("{comments}/posts/{post}/comments"))
        .json(&json!({ "content": content }))
        .send()
        .await?;
    let status = response.status();
    let list: Value = response.json().await?;
    if status != 201 {
        bail!("creating a comment answered {status}: {list}");
    }
    let mine = list
        .as_array()
        .and_then(|l| l.iter().rev().find(|c| c["content"] == content))
        .context("the new comment is in the answer")?;
    Ok(mine["id"].as_str().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_sample() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
