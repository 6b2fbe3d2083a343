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
//!    Meanwhile a probe times one comment every 50 ms the same way: does
//!    propagation keep up with intake at the highest rate the clients reach?
//! 2. **Lag** at a steady rate: each comment is timed from the moment its
//!    POST is sent until the query service shows its final status.
//! 3. **CPU** per 1,000 comments, per service and in total, during the
//!    throughput phase: user + system time from `/proc/<pid>/stat`. It moves
//!    much less than throughput on a busy machine, but still by 10 to 30 %
//!    when other work fights for the cores: compare runs made side by side.
//! 4. **Memory** of each service, idle and after the load: PSS
//!    (`/proc/<pid>/smaps_rollup`) next to RSS. The six processes run one
//!    binary, so RSS counts its pages six times; PSS shares them out.
//! 5. **Reads**: how long query's `GET /posts` takes once the read model
//!    holds at least `--read-comments` (50,000; the bench writes what the
//!    phases before left missing) and nothing changes.
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
    /// Comments the read model holds, at least, when `GET /posts` is timed:
    /// the bench writes more first if the phases before left fewer.
    pub read_comments: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seconds: 10,
            clients: 64,
            rate: 500,
            posts: 50,
            read_comments: 50_000,
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
    let report = measure(plan, settings).await?;
    println!("{report}");
    Ok(())
}

/// Runs the whole benchmark on the services of `plan` (moved to free ports)
/// and answers its [`Report`]; the progress goes to stdout meanwhile.
pub async fn measure(plan: Plan, settings: Settings) -> Result<Report> {
    let mut plan = plan.on_free_ports();
    plan.extra_env.push(("RUST_LOG".into(), "warn".into()));
    let program = &plan.programs[&Service::Posts].program;
    println!("Starting the six services from {} ...", program.display());
    let system = plan.launch().await?;
    let result = measure_on(&system, &settings).await;
    system.stop(Duration::from_secs(10)).await;
    result
}

async fn measure_on(system: &RunningSystem, settings: &Settings) -> Result<Report> {
    // Let start-up work (the bus's first deliveries, query's replay) settle
    // before memory is read "idle".
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = sample(system);

    let client = http();
    let posts = create_posts(&client, system, settings.posts).await?;

    println!(
        "Throughput: {} clients creating comments for {} s, then waiting until the query service shows every final status...",
        settings.clients, settings.seconds
    );
    let before_load = sample(system);
    let throughput = throughput(&client, system, &posts, settings).await?;
    let after_load = sample(system);

    println!(
        "Lag: {} comments/s for {} s, each timed from POST to final status in the query service...",
        settings.rate, settings.seconds
    );
    let fresh_posts = create_posts(&client, system, settings.posts).await?;
    let mut lags = lag(&client, system, &fresh_posts, settings).await?;
    lags.sort();
    let loaded = sample(system);
    let in_model = fill_read_model(&client, system, settings).await?;
    let reads = reads(&client, system, in_model).await?;
    Ok(Report {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        settings: settings.clone(),
        throughput,
        lags,
        cpu: cpu_per_service(&before_load, &after_load),
        idle,
        loaded,
        reads,
    })
}

/// Everything the benchmark found; its `Display` is the printed report,
/// one figure per line (throughput, keeping up, lag, cost, memory, reads).
pub struct Report {
    cores: usize,
    settings: Settings,
    throughput: Throughput,
    /// Sorted.
    lags: Vec<Duration>,
    /// CPU time each service used during the throughput phase.
    cpu: Vec<(Service, Duration)>,
    idle: Vec<ProcSample>,
    loaded: Vec<ProcSample>,
    reads: Reads,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.throughput;
        writeln!(f, "\n== Blog benchmark ({} cores) ==", self.cores)?;
        writeln!(
            f,
            "throughput : {:.0} comments/s fully propagated ({} comments created in {} s, {} pushed back, all visible with their final status after {:.2} s)",
            t.created as f64 / t.until_propagated.as_secs_f64(),
            t.created,
            self.settings.seconds,
            t.pushed_back,
            t.until_propagated.as_secs_f64()
        )?;
        let mut probes = t.probe_lags.clone();
        probes.sort();
        writeln!(
            f,
            "keeping up : lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms under that closed-loop load ({} probe comments)",
            ms(percentile(&probes, 50.0)),
            ms(percentile(&probes, 99.0)),
            ms(probes.last().copied().unwrap_or_default()),
            probes.len()
        )?;
        writeln!(
            f,
            "lag        : p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms at {} comments/s offered ({} comments)",
            ms(percentile(&self.lags, 50.0)),
            ms(percentile(&self.lags, 99.0)),
            ms(self.lags.last().copied().unwrap_or_default()),
            self.settings.rate,
            self.lags.len()
        )?;
        let per_thousand = |cpu: Duration| ms(cpu) * 1000.0 / (t.created.max(1) as f64);
        let total: Duration = self.cpu.iter().map(|(_, cpu)| *cpu).sum();
        writeln!(
            f,
            "cpu        : {:.0} ms per 1000 comments in total, during the throughput phase (user + system time from /proc)",
            per_thousand(total)
        )?;
        for (service, cpu) in &self.cpu {
            writeln!(
                f,
                "  {:<11} {:>6.0} ms per 1000 comments",
                service.name(),
                per_thousand(*cpu)
            )?;
        }
        let sum = |samples: &[ProcSample], pick: fn(&ProcSample) -> u64| -> f64 {
            samples.iter().map(pick).sum::<u64>() as f64 / 1024.0
        };
        writeln!(
            f,
            "memory     : PSS sum {:.1} MB idle -> {:.1} MB after the load (RSS sum {:.1} MB -> {:.1} MB; RSS counts the shared binary once per process)",
            sum(&self.idle, |s| s.pss_kb),
            sum(&self.loaded, |s| s.pss_kb),
            sum(&self.idle, |s| s.rss_kb),
            sum(&self.loaded, |s| s.rss_kb),
        )?;
        // Only the services that ran (on NATS there is no event-bus process).
        for service in Service::ALL
            .into_iter()
            .filter(|service| self.loaded.iter().any(|s| s.service == *service))
        {
            let of = |samples: &[ProcSample]| {
                samples
                    .iter()
                    .find(|s| s.service == service)
                    .map(|s| (s.pss_kb as f64 / 1024.0, s.rss_kb as f64 / 1024.0))
                    .unwrap_or_default()
            };
            let ((pss_idle, rss_idle), (pss_loaded, rss_loaded)) =
                (of(&self.idle), of(&self.loaded));
            writeln!(
                f,
                "  {:<11} PSS {pss_idle:>5.1} MB -> {pss_loaded:>5.1} MB   RSS {rss_idle:>5.1} MB -> {rss_loaded:>5.1} MB",
                service.name(),
            )?;
        }
        let r = &self.reads;
        write!(
            f,
            "reads      : GET /posts p50 {:.2} ms, max {:.2} ms with {} comments in the read model ({} reads)",
            ms(percentile(&r.times, 50.0)),
            ms(r.times.last().copied().unwrap_or_default()),
            r.comments,
            r.times.len()
        )
    }
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

/// What /proc says about one service at one moment.
#[derive(Clone, Debug)]
struct ProcSample {
    service: Service,
    /// User + system time so far, in clock ticks.
    cpu_ticks: u64,
    rss_kb: u64,
    /// Proportional set size: each shared page counted as a fraction, so
    /// the six processes of one binary add up to what they really use.
    pss_kb: u64,
}

/// CPU, RSS and PSS of every service, from /proc.
fn sample(system: &RunningSystem) -> Vec<ProcSample> {
    system
        .pids()
        .into_iter()
        .map(|(service, pid)| {
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}"));
            let status = read("status").unwrap_or_default();
            let rollup = read("smaps_rollup").unwrap_or_default();
            ProcSample {
                service,
                cpu_ticks: read("stat").map(|s| cpu_ticks(&s)).unwrap_or(0),
                rss_kb: kb_field(&status, "VmRSS:"),
                pss_kb: kb_field(&rollup, "Pss:"),
            }
        })
        .collect()
}

/// `utime + stime` of a `/proc/<pid>/stat` line: fields 14 and 15, counted
/// after the command name, which is in parentheses and may hold spaces.
fn cpu_ticks(stat: &str) -> u64 {
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // After ")": field 3 (state) is the first, so utime (14) is the 12th.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// A `Name:   1234 kB` line's number.
fn kb_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Clock ticks per second, the unit of /proc's CPU times (`getconf
/// CLK_TCK`; 100 on every Linux we know of, if getconf is missing).
fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// The CPU time each service used between two samples.
fn cpu_per_service(before: &[ProcSample], after: &[ProcSample]) -> Vec<(Service, Duration)> {
    let ticks = clock_ticks_per_second();
    after
        .iter()
        .map(|later| {
            let earlier = before
                .iter()
                .find(|s| s.service == later.service)
                .map_or(0, |s| s.cpu_ticks);
            let used = later.cpu_ticks.saturating_sub(earlier);
            (
                later.service,
                Duration::from_secs_f64(used as f64 / ticks as f64),
            )
        })
        .collect()
}

/// How long query's `GET /posts` takes once the model holds everything.
struct Reads {
    times: Vec<Duration>,
    comments: usize,
}

/// Times query's `GET /posts` twenty times in a row, the model holding
/// `comments` comments and no longer changing: every read is answered from
/// the encoded body query keeps between changes.
async fn reads(client: &reqwest::Client, system: &RunningSystem, comments: usize) -> Result<Reads> {
    let url = format!("{}/posts", system.url(Service::Query));
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let body = client.get(&url).send().await?.bytes().await?;
        times.push(started.elapsed());
        if body.is_empty() {
            bail!("GET /posts answered an empty body");
        }
    }
    times.sort();
    Ok(Reads { times, comments })
}

/// Query's `GET /posts`, decoded.
async fn read_model(client: &reqwest::Client, system: &RunningSystem) -> Result<Value> {
    let url = format!("{}/posts", system.url(Service::Query));
    Ok(client.get(url).send().await?.json().await?)
}

/// How many comments query's `GET /posts` shows, and how many of them are
/// final (approved or rejected).
async fn count_comments(
    client: &reqwest::Client,
    system: &RunningSystem,
) -> Result<(usize, usize)> {
    let model = read_model(client, system).await?;
    let comments = || {
        model
            .as_object()
            .into_iter()
            .flat_map(|posts| posts.values())
            .flat_map(|post| post["comments"].as_array().into_iter().flatten())
    };
    let done = comments().filter(|c| c["status"] != "pending").count();
    Ok((comments().count(), done))
}

/// Writes comments until the read model holds [`Settings::read_comments`]
/// (on posts of their own, a thousand each), and waits until query shows
/// every one final, so that the reads are timed on a model that is large
/// and still. Answers how many comments it holds.
async fn fill_read_model(
    client: &reqwest::Client,
    system: &RunningSystem,
    settings: &Settings,
) -> Result<usize> {
    let (held, _) = count_comments(client, system).await?;
    let missing = settings.read_comments.saturating_sub(held);
    if missing > 0 {
        println!(
            "Reads: writing {missing} more comments, so that the read model holds {} ...",
            settings.read_comments
        );
        let posts = create_posts(client, system, missing.div_ceil(1000)).await?;
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..settings.clients.max(1) {
            let (client, next, posts) = (client.clone(), next.clone(), posts.clone());
            let comments = system.url(Service::Comments);
            workers.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= missing {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let url = format!("{comments}/posts/{}/comments", posts[n % posts.len()]);
                    // Pushed back: come back when asked to, with the same comment.
                    loop {
                        let response = client
                            .post(&url)
                            .json(&json!({ "content": format!("read {n}") }))
                            .send()
                            .await?;
                        match response.status().as_u16() {
                            201 => break,
                            429 | 503 => tokio::time::sleep(retry_after(&response)).await,
                            status => bail!("creating a comment answered {status}"),
                        }
                    }
                }
            }));
        }
        for worker in workers {
            worker.await??;
        }
    }
    // The first comment of each new post is written by `create_posts`.
    let expected = settings.read_comments.max(held);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (comments, done) = count_comments(client, system).await?;
        if comments >= expected && done == comments {
            return Ok(comments);
        }
        if Instant::now() > deadline {
            bail!(
                "the read model shows {comments} comments, {done} of them final, 120 s after \
                 the bench wrote {expected}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    /// Answers 429 or 503: the system asked the client to come back later.
    pushed_back: usize,
    /// Lags of the comments a probe sent, one every [`PROBE_EVERY`], while
    /// the clients were writing as fast as they could.
    probe_lags: Vec<Duration>,
}

/// How often the probe measures the lag during the closed-loop load.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// The watcher's pause between rounds. The lag target is 10 ms, so the
/// measurement must not round it up by more than about one.
const POLL_EVERY: Duration = Duration::from_millis(1);

async fn throughput(
    client: &reqwest::Client,
    system: &RunningSystem,
    posts: &[String],
    settings: &Settings,
) -> Result<Throughput> {
    let created = Arc::new(Mutex::new(HashSet::new()));
    let pushed_back = Arc::new(AtomicUsize::new(0));
    // The probe's comments go on a post of their own, so that looking for
    // them costs query little, whatever the clients write.
    let probe_post = create_posts(client, system, 1).await?.remove(0);
    let watcher = Watcher::start(client, system);
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(settings.seconds);
    let mut workers = Vec::new();
    for worker in 0..settings.clients {
        let (client, created, pushed_back, posts) = (
            client.clone(),
            created.clone(),
            pushed_back.clone(),
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
                match response {
                    Ok(response) if response.status() == 201 => {
                        created.lock().await.insert(content);
                    }
                    Ok(response) if matches!(response.status().as_u16(), 429 | 503) => {
                        // Pushed back: come back when asked to, as a polite client does.
                        pushed_back.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(retry_after(&response)).await;
                    }
                    _ => {}
                }
                n += 1;
            }
        }));
    }
    let probe = {
        let (client, watcher) = (client.clone(), watcher.clone());
        let comments = system.url(Service::Comments);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROBE_EVERY);
            let mut probes = Vec::new();
            let mut n = 0;
            while Instant::now() < stop_at {
                ticker.tick().await;
                let (client, post, comments, watcher) = (
                    client.clone(),
                    probe_post.clone(),
                    comments.clone(),
                    watcher.clone(),
                );
                n += 1;
                probes.push(tokio::spawn(async move {
                    let content = format!("probe {n}");
                    time_until_final(&client, &comments, &watcher, &post, &content).await
                }));
            }
            probes
        })
    };
    for worker in workers {
        worker.await?;
    }
    let created = created.lock().await.clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let model = read_model(client, system).await?;
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
            let until_propagated = started.elapsed();
            let mut probe_lags = Vec::new();
            for probe in probe.await? {
                // A probe pushed back (429/503) has no lag to report.
                if let Ok(lag) = probe.await?? {
                    probe_lags.push(lag);
                }
            }
            return Ok(Throughput {
                created: created.len(),
                until_propagated,
                pushed_back: pushed_back.load(Ordering::Relaxed),
                probe_lags,
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

/// How long a 429 or 503 asks us to wait: its `Retry-After` in seconds, or
/// a tenth of a second without one.
fn retry_after(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse::<f64>().ok())
        .map_or(Duration::from_millis(100), Duration::from_secs_f64)
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
    let watcher = Watcher::start(client, system);
    let mut tasks = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let (client, post) = (client.clone(), posts[n as usize % posts.len()].clone());
        let (comments_url, watcher) = (system.url(Service::Comments), watcher.clone());
        tasks.push(tokio::spawn(async move {
            let content = if n.is_multiple_of(10) {
                format!("orange lag {n}")
            } else {
                format!("lag {n}")
            };
            time_until_final(&client, &comments_url, &watcher, &post, &content).await
        }));
    }
    let mut lags = Vec::new();
    for task in tasks {
        match task.await?? {
            Ok(lag) => lags.push(lag),
            Err(PushedBack) => bail!("the system pushed back at {} comments/s", settings.rate),
        }
    }
    Ok(lags)
}

/// The comments service answered 429 or 503: not now.
struct PushedBack;

/// Creates a comment and waits until the [`Watcher`] sees its final status
/// in the query service: the time from sending the POST until then.
async fn time_until_final(
    client: &reqwest::Client,
    comments_url: &str,
    watcher: &Watcher,
    post: &str,
    content: &str,
) -> Result<Result<Duration, PushedBack>> {
    let sent = Instant::now();
    let Some(id) = create_comment_at(client, comments_url, post, content).await? else {
        return Ok(Err(PushedBack));
    };
    let seen = watcher.wait_for(post, id.clone(), sent);
    match tokio::time::timeout(Duration::from_secs(60), seen).await {
        Ok(Ok(lag)) => Ok(Ok(lag)),
        Ok(Err(_)) => bail!("the watcher stopped before comment {id} was final"),
        Err(_) => bail!("comment {id} was not final after 60 s"),
    }
}

/// One task that looks at the query service for every comment being timed.
///
/// A task per comment, each polling every millisecond, would measure the
/// bench more than the blog: with a thousand comments in flight, a million
/// requests a second. The watcher looks only at the posts that have
/// comments waiting, one request per post, all at once, and pauses
/// [`POLL_EVERY`] between rounds. Sent one after another, fifty requests
/// would make a round last many milliseconds, and every lag would be rounded
/// up by that; sent together, a round lasts about as long as one request,
/// so a lag is seen within about a millisecond or two of when it ends.
#[derive(Clone)]
struct Watcher {
    waiting: Arc<std::sync::Mutex<Waiting>>,
}

/// A comment being timed: its id, when it was sent, who to tell.
type Waiter = (String, Instant, tokio::sync::oneshot::Sender<Duration>);
/// Per post, the comments not final yet.
type Waiting = std::collections::HashMap<String, Vec<Waiter>>;

impl Watcher {
    /// Starts the task; it ends once every `Watcher` handle is dropped.
    fn start(client: &reqwest::Client, system: &RunningSystem) -> Watcher {
        let watcher = Watcher {
            waiting: Arc::default(),
        };
        let weak = Arc::downgrade(&watcher.waiting);
        let (client, query) = (client.clone(), system.url(Service::Query));
        tokio::spawn(async move {
            while let Some(waiting) = weak.upgrade() {
                let posts: Vec<String> = lock(&waiting).keys().cloned().collect();
                drop(waiting);
                let mut round = tokio::task::JoinSet::new();
                for post in posts {
                    let (client, query) = (client.clone(), query.clone());
                    round.spawn(async move {
                        let final_ids = final_comments(&client, &query, &post).await;
                        (post, final_ids)
                    });
                }
                while let Some(looked) = round.join_next().await {
                    let Ok((post, Ok(final_ids))) = looked else {
                        continue;
                    };
                    let Some(waiting) = weak.upgrade() else {
                        return;
                    };
                    let mut waiting = lock(&waiting);
                    if let Some(list) = waiting.get_mut(&post) {
                        let (done, left): (Vec<Waiter>, Vec<Waiter>) = list
                            .drain(..)
                            .partition(|(id, _, _)| final_ids.contains(id));
                        *list = left;
                        for (_, sent, tell) in done {
                            let _ = tell.send(sent.elapsed());
                        }
                        if list.is_empty() {
                            waiting.remove(&post);
                        }
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
        watcher
    }

    /// Resolves with the lag once the comment `id` on `post` is final.
    fn wait_for(
        &self,
        post: &str,
        id: String,
        sent: Instant,
    ) -> tokio::sync::oneshot::Receiver<Duration> {
        let (tell, told) = tokio::sync::oneshot::channel();
        lock(&self.waiting)
            .entry(post.to_string())
            .or_default()
            .push((id, sent, tell));
        told
    }
}

fn lock(waiting: &std::sync::Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The ids of the post's comments that query shows approved or rejected.
async fn final_comments(
    client: &reqwest::Client,
    query: &str,
    post: &str,
) -> Result<HashSet<String>> {
    let view: Value = client
        .get(format!("{query}/posts/{post}"))
        .send()
        .await?
        .json()
        .await?;
    Ok(view["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| matches!(c["status"].as_str(), Some("approved" | "rejected")))
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect())
}

/// Creates a comment and answers its id, or `None` when pushed back.
async fn create_comment_at(
    client: &reqwest::Client,
    comments: &str,
    post: &str,
    content: &str,
) -> Result<Option<String>> {
    let response = client
        .post(format!("{comments}/posts/{post}/comments"))
        .json(&json!({ "content": content }))
        .send()
        .await?;
    let status = response.status();
    if matches!(status.as_u16(), 429 | 503) {
        return Ok(None);
    }
    let list: Value = response.json().await?;
    if status != 201 {
        bail!("creating a comment answered {status}: {list}");
    }
    let mine = list
        .as_array()
        .and_then(|l| l.iter().rev().find(|c| c["content"] == content))
        .context("the new comment is in the answer")?;
    Ok(Some(mine["id"].as_str().unwrap_or_default().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name_even_with_spaces_in_it() {
        let stat = "4242 (blog (posts) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), 42);
        assert_eq!(kb_field("Rss:  100 kB\nPss:    7 kB\n", "Pss:"), 7);
    }

    #[test]
    fn percentiles_pick_the_right_sample() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
