//! Replays the book's console transcripts against the real thing.
//!
//! Each test here replays the blocks whose marker names it
//! (`<!-- replayed: xtask/tests/replay.rs::<test> -->`, which `cargo xtask
//! verify` checks): every `$ ` line is run with `bash -c` (bash, not `sh`:
//! the pages' `time` is bash's keyword, and a learner's shell), stdout and
//! stderr together, and what it prints is compared with the lines the page
//! shows under it. In the page, `[..]` matches anything within a line and a
//! line `...` matches any number of lines (trycmd's syntax); runs of spaces
//! and tabs count as one space. A container id the page shows (12 or 64 hex
//! digits) matches any id of that length, and from then on the page's id
//! stands for the real one in later commands, as it would for a learner who
//! copies the id they got (`transcript` compares).

mod transcript;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use transcript::{lines_match, with_real_ids};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the repository")
        .to_path_buf()
}

/// One `$ ` command of a transcript, and the lines the page shows for it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    command: String,
    output: Vec<String>,
}

/// The steps of every console block of `page` whose marker names `test`.
fn replayed_blocks(page: &str, test: &str) -> Vec<Vec<Step>> {
    let text = std::fs::read_to_string(repo_root().join(page)).expect("the page exists");
    let marker = format!("<!-- replayed: xtask/tests/replay.rs::{test} -->");
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.trim() != marker {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        for body in lines[index + 2..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
        {
            if let Some(command) = body.strip_prefix("$ ") {
                steps.push(Step {
                    command: command.to_string(),
                    output: Vec::new(),
                });
            } else if let Some(step) = steps.last_mut() {
                step.output.push(body.to_string());
            }
        }
        blocks.push(steps);
    }
    assert!(!blocks.is_empty(), "{page} has no block marked {marker}");
    blocks
}

/// Runs each block's steps in order; panics with the first difference.
fn replay(page: &str, test: &str) {
    for steps in replayed_blocks(page, test) {
        let mut ids = HashMap::new();
        for step in steps {
            let command = with_real_ids(&step.command, &ids);
            let output = Command::new("bash")
                .arg("-c")
                .arg(format!("exec 2>&1\n{command}"))
                .current_dir(repo_root())
                .output()
                .expect("bash runs");
            let printed = String::from_utf8_lossy(&output.stdout);
            let actual: Vec<&str> = printed.lines().collect();
            assert!(
                lines_match(&step.output, &actual, &mut ids),
                "{page}: `$ {}` printed\n{printed}\nbut the page shows\n{}",
                step.command,
                step.output.join("\n")
            );
        }
    }
}

/// Docker must answer, or the test is skipped (a failure with REQUIRE_DOCKER=1).
fn docker_ready() -> bool {
    let ready = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        blog_testkit::skip_unless_required("REQUIRE_DOCKER", "Docker is not running here");
    }
    ready
}

/// One replay at a time: a page's `docker ps --all` must see only its own
/// containers on top, not those another test is creating.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Removes the page's named containers, before (a failed run left them) and
/// after, and the unnamed ones whose ids the replay saw.
struct Containers {
    names: Vec<String>,
}

impl Containers {
    fn named(names: &[&str]) -> Containers {
        let containers = Containers {
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        containers.remove();
        containers
    }

    fn remove(&self) {
        if !self.names.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.names)
                .output();
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.remove();
    }
}

const CH07: &str = "book/src/ch07-containers/index.md";

/// Replays `test`'s blocks of chapter 7 with the page's `names` free, then
/// removes every container it made that it knows of.
fn replay_ch07(test: &str, names: &[&str]) {
    if !docker_ready() {
        return;
    }
    let _engine = ENGINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = busybox_containers();
    let _containers = Containers::named(names);
    // Also the unnamed ones (`docker run busybox ls /`), even if the replay panics.
    let _unnamed = Unnamed(before);
    replay(CH07, test);
}

/// The ids of every container made from busybox, running or not.
fn busybox_containers() -> Vec<String> {
    let listed = Command::new("docker")
        .args([
            "ps",
            "--all",
            "--quiet",
            "--no-trunc",
            "--filter",
            "ancestor=busybox",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    listed.lines().map(str::to_string).collect()
}

/// On drop, removes the busybox containers that were not there before (the
/// replays hold `ENGINE`, so they are the replay's own).
struct Unnamed(Vec<String>);

impl Drop for Unnamed {
    fn drop(&mut self) {
        let made: Vec<String> = busybox_containers()
            .into_iter()
            .filter(|id| !self.0.contains(id))
            .collect();
        Containers { names: made }.remove();
    }
}

#[test]
fn ch07_docker_basics() {
    replay_ch07("ch07_docker_basics", &[]);
}

#[test]
fn ch07_create_then_start() {
    replay_ch07("ch07_create_then_start", &[]);
}

#[test]
fn ch07_stop_and_kill() {
    replay_ch07("ch07_stop_and_kill", &["polite", "victim"]);
}

/// The pinger of the page, which the learner leaves running in another
/// terminal (`docker run --name pinger busybox ping 127.0.0.1`): here in the
/// background, and running before the replay starts.
#[test]
fn ch07_pinger() {
    if !docker_ready() {
        return;
    }
    let _engine = ENGINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let _containers = Containers::named(&["pinger"]);
    let started = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            "pinger",
            "busybox",
            "ping",
            "127.0.0.1",
        ])
        .output()
        .expect("docker runs");
    assert!(started.status.success(), "{started:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !container_running("pinger") {
        assert!(std::time::Instant::now() < deadline, "pinger never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    replay(CH07, "ch07_pinger");
}

fn container_running(name: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

const CH09_EXERCISE: &str = "book/src/ch09-kubernetes/exercise.md";

/// Whether `program --version` (or `kubectl version --client`) answers.
fn answers(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes the page's scratch file, even if the replay panics before its `rm`.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Chapter 9's checks of the learner's manifests, as the page types them:
/// the schema (`kubernetes-validate --strict`, and what it says of a
/// misspelt key) and what `kubectl apply -k` would send (`kubectl
/// kustomize`). Both tools are what CI's offline checks run (.ci/run
/// installs them and sets REQUIRE_KUBECTL=1, so there they must be found).
#[test]
fn ch09_manifests_offline() {
    let missing: Vec<&str> = [
        (
            "kubernetes-validate",
            answers("kubernetes-validate", &["--version"]),
        ),
        ("kubectl", answers("kubectl", &["version", "--client"])),
    ]
    .into_iter()
    .filter(|(_, found)| !found)
    .map(|(tool, _)| tool)
    .collect();
    if !missing.is_empty() {
        blog_testkit::skip_unless_required(
            "REQUIRE_KUBECTL",
            &format!(
                "{} not found (pip install kubernetes-validate; apt-get install kubernetes-client)",
                missing.join(" and ")
            ),
        );
        return;
    }
    let _typo = Scratch(repo_root().join("typo.yaml"));
    replay(CH09_EXERCISE, "ch09_manifests_offline");
}

/// Chapter 8's look at the blog's image: `blog:0.1.0` as CI builds it from
/// the repository's Dockerfile (scripts/docker-offline-build.sh, before the
/// tests), listed as the page lists it.
#[test]
fn ch08_the_blog_image() {
    if !docker_ready() {
        return;
    }
    let built = Command::new("docker")
        .args(["image", "inspect", "blog:0.1.0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !built {
        blog_testkit::skip_unless_required(
            "REQUIRE_DOCKER",
            "the image blog:0.1.0 is not built (scripts/docker-offline-build.sh builds it offline, `docker build -t blog:0.1.0 .` with internet)",
        );
        return;
    }
    replay("book/src/ch08-dockerizing/index.md", "ch08_the_blog_image");
}
