//! What the blog's end-to-end tests share: the blog on either bus, and
//! the client side of the wire contract (create a post, a comment, wait
//! until the query service shows something).

#![allow(dead_code)] // each test file uses its own part

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use blog::launcher::nats::{ClusterPlan, NatsCluster};
use blog::launcher::{Logs, Plan, RunningSystem};
use blog_catalogue::Service;
use serde_json::{Value, json};

/// What carries the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    Http,
    Nats,
}

/// The blog as real processes, and the NATS cluster under it on `Bus::Nats`.
pub struct Blog {
    pub system: RunningSystem,
    pub cluster: Option<NatsCluster>,
    /// Prints what the services warned about if the test fails.
    _logs: LogsOnFailure,
}

/// The log folders (the services', the NATS nodes'), shown when a test
/// fails: a timing that fails once in many runs can then be read from that
/// one run's output.
pub struct LogsOnFailure(pub Vec<std::path::PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut files: Vec<_> = self
            .0
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // Warnings, errors and (NATS) leader changes, the last 40: the
            // other lines are many.
            let lines: Vec<&str> = text
                .lines()
                .filter(|line| {
                    ["WARN", "ERROR", "[WRN]", "[ERR]", "leader"]
                        .iter()
                        .any(|mark| line.contains(mark))
                })
                .collect();
            eprintln!(
                "--- {} ({} warnings, errors and leader changes; the last 40) ---",
                file.display(),
                lines.len()
            );
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Blog {
    /// Every service on a free port, on `bus`. `None` (after a loud
    /// SKIPPED) for NATS on a machine without nats-server, unless
    /// `REQUIRE_NATS=1`, which makes that a failure.
    pub async fn launch(data: &tempfile::TempDir, bus: Bus) -> Option<Blog> {
        Blog::launch_with(data, bus, &[]).await
    }

    /// [`Blog::launch`], with extra environment for every service.
    pub async fn launch_with(
        data: &tempfile::TempDir,
        bus: Bus,
        env: &[(&str, &str)],
    ) -> Option<Blog> {
        let mut plan = Plan::reference(
            env!("CARGO_BIN_EXE_blog").as_ref(),
            data.path().join("data"),
            Logs::Dir(data.path().join("logs")),
        )
        .on_free_ports();
        plan.extra_env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let cluster = match bus {
            Bus::Http => None,
            Bus::Nats => {
                blog_testkit::nats_server_or_skip()?;
                let cluster_plan = ClusterPlan::local(&data.path().join("data"))
                    .and_then(ClusterPlan::on_free_ports)
                    .expect("nats-server is installed");
                let cluster = NatsCluster::start(cluster_plan)
                    .await
                    .expect("the three NATS nodes start and are healthy");
                plan = plan.on_nats(&cluster.urls());
                Some(cluster)
            }
        };
        let system = plan
            .launch()
            .await
            .expect("every service starts and answers /healthz");
        Some(Blog {
            system,
            cluster,
            _logs: LogsOnFailure(vec![
                data.path().join("logs"),
                data.path().join("data/nats"),
            ]),
        })
    }

    /// Stops the services (the client first), then the cluster.
    pub async fn stop(self, grace: Duration) -> Vec<(Service, blog::launcher::Stopped)> {
        let stopped = self.system.stop(grace).await;
        if let Some(cluster) = self.cluster {
            cluster.shutdown().await;
        }
        stopped
    }
}

impl Deref for Blog {
    type Target = RunningSystem;
    fn deref(&self) -> &RunningSystem {
        &self.system
    }
}

impl DerefMut for Blog {
    fn deref_mut(&mut self) -> &mut RunningSystem {
        &mut self.system
    }
}

/// The blog on the HTTP bus, every service on a free port.
pub async fn launch(data: &tempfile::TempDir) -> RunningSystem {
    let plan = Plan::reference(
        env!("CARGO_BIN_EXE_blog").as_ref(),
        data.path().join("data"),
        Logs::Dir(data.path().join("logs")),
    )
    .on_free_ports();
    plan.launch()
        .await
        .expect("all six services start and answer /healthz")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn post_json(url: String, body: Value) -> Value {
    let response = client().post(&url).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST {url} answered {status}: {body}");
    body
}

pub async fn get_json(url: String) -> Value {
    client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the query service until `check` holds, or fails after 20 s with what it saw.
pub async fn wait_for_query(
    system: &RunningSystem,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_posts(&system.url(Service::Query), what, check).await
}

/// [`wait_for_query`] for the query service (or replica) at `query`.
pub async fn wait_for_posts(query: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for_posts_within(query, what, Duration::from_secs(20), check).await
}

/// [`wait_for_posts`], for up to `within`.
pub async fn wait_for_posts_within(
    query: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let posts = get_json(format!("{query}/posts")).await;
        if check(&posts) {
            return posts;
        }
        if started.elapsed() > within {
            panic!("after {within:?} the query service still does not show {what}: {posts}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn status_of(posts: &Value, post: &str, comment: &str) -> Option<String> {
    posts[post]["comments"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == comment)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

pub async fn create_post(system: &RunningSystem, title: &str) -> String {
    let post = post_json(
        format!("{}/posts/create", system.url(Service::Posts)),
        json!({ "title": title }),
    )
    .await;
    post["id"].as_str().unwrap().to_string()
}

/// Comments only accepts comments for posts it has heard of (through the
/// bus), so right after creating a post we may have to try again briefly.
pub async fn create_comment(system: &RunningSystem, post: &str, content: &str) -> String {
    create_comment_at(&system.url(Service::Comments), post, content).await
}

/// [`create_comment`], on the comments service at `comments`.
pub async fn create_comment_at(comments: &str, post: &str, content: &str) -> String {
    let url = format!("{comments}/posts/{post}/comments");
    let started = Instant::now();
    loop {
        let response = client()
            .post(&url)
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == 201 {
            let list = body
                .as_array()
                .expect("the answer is the post's comment list");
            let mine = list
                .iter()
                .rev()
                .find(|c| c["content"] == content)
                .expect("the new comment is in the list");
            return mine["id"].as_str().unwrap().to_string();
        }
        assert_eq!(status, 404, "POST {url} answered {status}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "comments never learned about post {post}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
