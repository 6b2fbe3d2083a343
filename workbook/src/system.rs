//! `cargo workbook up`: run the blog, with your own services where they pass.
//!
//! The services run under `blog::launcher`, which looks after them as
//! Kubernetes would: one that dies is reported and started again, none
//! outlives `up`, and Ctrl-C stops them in order, the client first and the
//! bus last.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use blog::launcher::nats::{ClusterPlan, NatsCluster, up_on_nats};
use blog::launcher::{Logs, Plan, Program};
use blog_catalogue::Service;

use crate::bench;
use crate::exercises;
use crate::testrun;

/// Where cargo puts binaries.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A service the learner has written, and whether it is used.
#[derive(Debug)]
pub struct Choice {
    pub service: Service,
    pub package: String,
    pub slug: String,
    /// Its tests pass, so it runs in place of the reference service.
    pub used: bool,
}

/// Decides, for each exercise that is a service, whether the learner's
/// version runs: only when its tests pass (a half-written service would
/// only make the whole system look broken).
pub fn choose_mine(root: &Path) -> Result<Vec<Choice>> {
    let mut choices = Vec::new();
    for exercise in exercises::discover(root)? {
        let Some(service) = exercise.service.as_deref() else {
            continue;
        };
        let service: Service = service.parse().with_context(|| {
            format!(
                "`service` in {}'s [package.metadata.workbook]",
                exercise.package
            )
        })?;
        println!(
            "Checking your {service} service: cargo test -p {} ...",
            exercise.package
        );
        let (outcome, _) = testrun::run(root, &exercise.package)?;
        choices.push(Choice {
            service,
            slug: exercise.slug(),
            package: exercise.package,
            used: outcome.is_pass(),
        });
    }
    Ok(choices)
}

/// The plan for `up`: the reference `blog` binary, with the learner's
/// binaries swapped in for the chosen services.
pub fn plan(root: &Path, data_dir: PathBuf, choices: &[Choice]) -> Plan {
    plan_from(
        &target_dir(root).join("debug"),
        data_dir,
        Logs::Prefixed,
        choices,
    )
}

/// The same plan, with the binaries of `bin` (cargo's `debug` or `release` folder).
fn plan_from(bin: &Path, data_dir: PathBuf, logs: Logs, choices: &[Choice]) -> Plan {
    let mut plan = Plan::reference(&bin.join("blog"), data_dir, logs);
    for choice in choices.iter().filter(|c| c.used) {
        plan.programs.insert(
            choice.service,
            Program {
                program: bin.join(&choice.package),
                args: Vec::new(),
                origin: format!("yours: exercises/{}", choice.slug),
            },
        );
    }
    plan
}

/// Builds what the plan runs, showing cargo's progress.
pub fn build(root: &Path, choices: &[Choice]) -> Result<()> {
    cargo_build(root, choices, &[])
}

fn cargo_build(root: &Path, choices: &[Choice], flags: &[&str]) -> Result<()> {
    let mut command = Command::new(testrun::cargo());
    command
        .current_dir(root)
        .arg("build")
        .args(flags)
        .args(["-p", "blog"]);
    for choice in choices.iter().filter(|c| c.used) {
        command.args(["-p", &choice.package]);
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("the services did not build");
    }
    Ok(())
}

/// Tells which of the learner's services run, and why.
fn print_choices(choices: &[Choice]) {
    println!();
    for choice in choices {
        if choice.used {
            println!(
                "  {:<11} yours (exercises/{}): its tests pass",
                choice.service.name(),
                choice.slug
            );
        } else {
            println!(
                "  {:<11} reference: `cargo test -p {}` does not pass yet",
                choice.service.name(),
                choice.package
            );
        }
    }
}

/// What carries the events (`up --bus`, `bench --bus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bus {
    /// The blog's own event bus (chapter 3).
    Http,
    /// A three-node NATS JetStream cluster from the system's nats-server (chapter 10).
    Nats,
}

/// `cargo workbook up [--mine] [--data-dir DIR] [--bus nats]`.
pub async fn up(root: &Path, data_dir: PathBuf, mine: bool, bus: Bus) -> Result<()> {
    let choices = if mine { choose_mine(root)? } else { Vec::new() };
    if bus == Bus::Nats {
        // Before the build: a missing nats-server is said at once.
        ClusterPlan::local(&data_dir)?;
    }
    build(root, &choices)?;
    if mine {
        print_choices(&choices);
    }
    let plan = plan(root, data_dir, &choices);
    match bus {
        Bus::Http => plan.launch().await?.run_until_signal().await,
        Bus::Nats => up_on_nats(plan, false).await?,
    }
    Ok(())
}

/// What `cargo workbook bench` measures.
#[derive(Clone, Debug)]
pub enum Measure {
    /// The whole system under load: throughput, lag at a steady rate, memory.
    System(bench::Settings),
    /// One comment at a time, until the query service shows it (chapter 4).
    Lag { comments: usize },
}

/// `cargo workbook bench`: builds the release binaries (optimised, as they
/// would be deployed) and measures them running as separate processes,
/// with the learner's services where they pass if `mine`.
/// On `Bus::Nats` the services run on a three-node cluster (on free
/// ports, its data in the scratch folder), started before them.
pub async fn bench(root: &Path, measure: Measure, mine: bool, bus: Bus) -> Result<()> {
    let choices = if mine { choose_mine(root)? } else { Vec::new() };
    println!("Building the release binaries (optimised, as they would be deployed)...");
    cargo_build(root, &choices, &["--release"])?;
    if mine {
        print_choices(&choices);
    }
    let scratch = std::env::temp_dir().join(format!("blog-bench-{}", std::process::id()));
    let mut plan = plan_from(
        &target_dir(root).join("release"),
        scratch.join("data"),
        Logs::Dir(scratch.join("logs")),
        &choices,
    );
    // Only the system bench prints a memory table for the nodes to join.
    let memory_table = matches!(measure, Measure::System(_));
    let cluster = match bus {
        Bus::Http => None,
        Bus::Nats => {
            let cluster =
                NatsCluster::start(ClusterPlan::local(&scratch.join("data"))?.on_free_ports()?)
                    .await?;
            println!(
                "On NATS JetStream: a three-node cluster at {}",
                cluster.urls()
            );
            plan = plan.on_nats(&cluster.urls());
            Some(cluster)
        }
    };
    let before = cluster.as_ref().map(nats_memory).unwrap_or_default();
    let result = match measure {
        Measure::System(settings) => bench::run(plan, settings).await,
        Measure::Lag { comments } => bench::lag::run(plan, comments).await,
    };
    if let Some(cluster) = cluster {
        if result.is_ok() && memory_table {
            print_nats_memory(&before, &nats_memory(&cluster));
        }
        cluster.shutdown().await;
    }
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Err(_) => eprintln!(
            "The services' logs are in {}",
            scratch.join("logs").display()
        ),
    }
    result
}

/// One NATS node's memory: its name, resident set size and proportional
/// set size (shared pages split between the processes sharing them), in KiB.
type NodeMemory = (String, u64, u64);

/// The memory of every running node of `cluster`, from /proc.
fn nats_memory(cluster: &NatsCluster) -> Vec<NodeMemory> {
    let kb = |pid: u32, file: &str, field: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    cluster
        .pids()
        .into_iter()
        .map(|(name, pid)| {
            let (rss, pss) = (kb(pid, "status", "VmRSS:"), kb(pid, "smaps_rollup", "Pss:"));
            (name, rss, pss)
        })
        .collect()
}

/// On NATS there is no event-bus process: the three nodes are the bus, so
/// the memory table goes on with them.
fn print_nats_memory(before: &[NodeMemory], after: &[NodeMemory]) {
    println!("memory of the NATS nodes (the bus): started -> after the load");
    for (name, rss, pss) in after {
        let (rss_before, pss_before) = before
            .iter()
            .find(|(node, ..)| node == name)
            .map(|(_, rss, pss)| (*rss, *pss))
            .unwrap_or_default();
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "  nats {name:<6} RSS {:>6.1} MB -> {:>6.1} MB   PSS {:>6.1} MB -> {:>6.1} MB",
            mb(rss_before),
            mb(*rss),
            mb(pss_before),
            mb(*pss)
        );
    }
}
