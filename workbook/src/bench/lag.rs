//! How far behind is the query service? A measurement of eventual consistency
//! (`cargo workbook bench --lag`; chapter 4 shows it).
//!
//! Starts the blog's services as separate processes, each on a free port of
//! 127.0.0.1 with its data in a temporary folder, exactly as `cargo workbook
//! up` would. Then it writes comments one at a time, as a reader would, and
//! for each one measures, from the moment the comment is sent, how long until
//!
//! - the comments service answers 201 (the comment is stored: the truth),
//! - the query service's `GET /posts` shows it at all (still `pending`),
//! - and shows its final status (`approved` or `rejected`), after moderation.
//!
//! At the end it stops every service except query, and reads from query once
//! more: the read model keeps answering while the services it copies are down.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blog::launcher::{Plan, RunningSystem};
use blog_catalogue::Service;
use serde_json::{Value, json};

/// How often we look at the query service while waiting. Smaller is more
/// precise, but every look costs the machine a little work too.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// A comment not visible after this long means something is broken.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Runs the measurement on the services of `plan` (on free ports) and
/// prints the report: `count` comments, one at a time.
pub async fn run(plan: Plan, count: usize) -> Result<()> {
    if count == 0 {
        bail!("--comments must be at least 1");
    }
    let blog = plan.on_free_ports().launch().await?;
    let result = measure(&blog, count).await;
    // The other half of the bargain, once the numbers are in: query answers on its own.
    let blog = match result {
        Ok(post_id) => stop_all_but_query(blog, &post_id).await?,
        Err(error) => {
            blog.stop(Duration::from_secs(10)).await;
            return Err(error);
        }
    };
    blog.stop(Duration::from_secs(10)).await;
    Ok(())
}

/// Writes the comments and prints the report; answers the post they are on.
async fn measure(blog: &RunningSystem, count: usize) -> Result<String> {
    let http = reqwest::Client::new();

    // One post to comment on, and a first comment to be sure everything runs.
    let post: Value = http
        .post(format!("{}/posts", blog.url(Service::Posts)))
        .json(&json!({"title": "Measuring the lag"}))
        .send()
        .await?
        .json()
        .await?;
    let post_id = post["id"]
        .as_str()
        .context("posts answers the new post's id")?
        .to_string();
    warm_up(&http, blog, &post_id).await?;

    println!("Writing {count} comments, one at a time, and watching the query service...");
    let mut until_stored = Vec::with_capacity(count);
    let mut until_visible = Vec::with_capacity(count);
    let mut until_final = Vec::with_capacity(count);
    // ANCHOR: measure
    for n in 0..count {
        // Every tenth comment mentions an orange, so moderation rejects it.
        let content = if n % 10 == 9 {
            format!("comment {n}, about an orange")
        } else {
            format!("comment {n}")
        };
        let sent_at = Instant::now();
        let id = add_comment(&http, blog, &post_id, &content).await?;
        until_stored.push(sent_at.elapsed());
        let expected = if content.contains("orange") {
            "rejected"
        } else {
            "approved"
        };
        loop {
            let status = status_in_query(&http, blog, &post_id, &id).await?;
            if status.is_some() && until_visible.len() == n {
                until_visible.push(sent_at.elapsed());
            }
            if status.as_deref() == Some(expected) {
                until_final.push(sent_at.elapsed());
                break;
            }
            if sent_at.elapsed() > GIVE_UP_AFTER {
                bail!(
                    "comment {id} was not {expected} in the query service after {GIVE_UP_AFTER:?} (it shows {status:?})"
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    // ANCHOR_END: measure

    println!();
    println!("Time from sending a comment until...");
    report("comments answered 201", &mut until_stored);
    report("query shows it (pending)", &mut until_visible);
    report("query shows its final status", &mut until_final);
    Ok(post_id)
}

/// Stops every service but query, then reads from it once more.
async fn stop_all_but_query(mut blog: RunningSystem, post_id: &str) -> Result<RunningSystem> {
    for service in Service::ALL.into_iter().rev() {
        if service != Service::Query {
            blog.stop_service(service, Duration::from_secs(10)).await?;
        }
    }
    let http = reqwest::Client::new();
    let (status, body) = get_posts(&http, &blog.url(Service::Query)).await?;
    let comments = body[post_id]["comments"].as_array().map_or(0, Vec::len);
    println!();
    println!(
        "With the bus, posts, comments and moderation stopped, query still answers GET /posts: {status}, {comments} comments."
    );
    Ok(blog)
}

/// Adds a comment and returns its id, once comments has stored it.
async fn add_comment(
    http: &reqwest::Client,
    blog: &RunningSystem,
    post_id: &str,
    content: &str,
) -> Result<String> {
    let url = format!("{}/posts/{post_id}/comments", blog.url(Service::Comments));
    let response = http
        .post(&url)
        .json(&json!({ "content": content }))
        .send()
        .await?;
    let status = response.status();
    let list: Value = response.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("POST {url} answered {status}: {list}");
    }
    // The answer is the post's whole comment list; ours is the last one.
    let id = list
        .as_array()
        .and_then(|comments| comments.last())
        .and_then(|comment| comment["id"].as_str())
        .with_context(|| format!("comments answered a list with our comment last, got {list}"))?;
    Ok(id.to_string())
}

async fn get_posts(http: &reqwest::Client, query: &str) -> Result<(reqwest::StatusCode, Value)> {
    let response = http.get(format!("{query}/posts")).send().await?;
    Ok((response.status(), response.json().await?))
}

/// The comment's status as the query service shows it, if it shows it at all.
async fn status_in_query(
    http: &reqwest::Client,
    blog: &RunningSystem,
    post_id: &str,
    id: &str,
) -> Result<Option<String>> {
    let (_, posts) = get_posts(http, &blog.url(Service::Query)).await?;
    let comments = posts[post_id]["comments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(comments
        .iter()
        .find(|comment| comment["id"] == id)
        .and_then(|comment| comment["status"].as_str())
        .map(str::to_string))
}

/// Sends a first comment, not measured, and waits until query shows it
/// approved: by then every service is up and has caught up with the start.
/// Comments refuses comments on a post it has not heard of yet (404), so
/// that first comment is retried until it is accepted.
async fn warm_up(http: &reqwest::Client, blog: &RunningSystem, post_id: &str) -> Result<()> {
    let started = Instant::now();
    let url = format!("{}/posts/{post_id}/comments", blog.url(Service::Comments));
    let id = loop {
        let response = http
            .post(&url)
            .json(&json!({"content": "first!"}))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::CREATED {
            let list: Value = response.json().await?;
            break list[0]["id"].as_str().unwrap_or_default().to_string();
        }
        if started.elapsed() > GIVE_UP_AFTER {
            bail!(
                "comments still answers {} for the post {post_id} after {GIVE_UP_AFTER:?}",
                response.status()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    while status_in_query(http, blog, post_id, &id).await?.as_deref() != Some("approved") {
        if started.elapsed() > GIVE_UP_AFTER {
            bail!(
                "the query service did not show the first comment approved within {GIVE_UP_AFTER:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Prints the spread of `times`: the median (p50), p90, p99 and the extremes.
fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |percent: usize| times[((times.len() * percent).div_ceil(100)).saturating_sub(1)];
    let ms = |time: Duration| format!("{:.1} ms", time.as_secs_f64() * 1000.0);
    println!(
        "  {what:<29} p50 {:>9}   p90 {:>9}   p99 {:>9}   min {:>9}   max {:>9}   ({} comments)",
        ms(at(50)),
        ms(at(90)),
        ms(at(99)),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
