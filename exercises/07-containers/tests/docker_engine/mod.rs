//! Finding the Docker engine for the tests, and cleaning up after them.
//!
//! Without an engine the tests cannot run. Then each one prints a loud
//! `SKIPPED` line and returns, unless `REQUIRE_DOCKER=1` is set (CI sets it):
//! then it fails, because a skipped test proves nothing.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::models::{ContainerState, ContainerStateStatusEnum};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use minidocker::MiniDocker;

/// The small image every test runs (Docker Hub's busybox, or the local
/// stand-in that `scripts/docker-offline-build.sh` makes).
pub const BUSYBOX: &str = "busybox:latest";

// ANCHOR: signals
/// Runs until SIGTERM, then exits 0 at once: a well-behaved service.
pub const POLITE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; while :; do sleep 0.1; done",
];

/// Ignores SIGTERM: only SIGKILL ends it.
pub const STUBBORN: &[&str] = &["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"];
// ANCHOR_END: signals

/// A connection to the engine with busybox available, or `None` (after a
/// loud message) when there is no engine and it is not required.
pub async fn engine() -> Option<MiniDocker> {
    let connected = tokio::time::timeout(Duration::from_secs(20), MiniDocker::connect()).await;
    let mini = match connected {
        Ok(Ok(mini)) => mini,
        Ok(Err(error)) => return no_engine(format!("{error:#}")),
        Err(_) => return no_engine("no answer within 20 s".to_string()),
    };
    if let Err(error) = mini.ensure_image(BUSYBOX).await {
        panic!(
            "the Docker engine answers, but {BUSYBOX} is not on this machine and could not be pulled: {error:#}\n\
             Without internet, make it locally: scripts/docker-offline-build.sh --bases-only"
        );
    }
    Some(mini)
}

fn no_engine(reason: String) -> Option<MiniDocker> {
    if std::env::var("REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_DOCKER=1, but no Docker engine answers: {reason}");
    }
    // Straight to stderr, past the test harness's capture, so it is seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no Docker engine ({reason}). Start Docker to run this test; REQUIRE_DOCKER=1 makes this a failure."
    );
    None
}

/// One test's containers: all carry a label unique to the test, and are
/// removed when it ends, pass or fail.
pub struct Scratch {
    pub mini: MiniDocker,
    pub label: String,
}

impl Scratch {
    pub async fn new() -> Option<Scratch> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let mini = engine().await?;
        let label = format!(
            "org.workbook.test=minidocker-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Some(Scratch { mini, label })
    }

    /// The label as the `(key, value)` pair `create` takes.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        let (key, value) = self.label.split_once('=').expect("key=value");
        vec![(key, value)]
    }

    /// What the engine itself says about a container (`docker inspect`), or
    /// `None` when it does not exist.
    pub async fn state(&self, id: &str) -> Option<ContainerState> {
        let found = self.mini.docker.inspect_container(id, None).await.ok()?;
        Some(found.state.expect("the engine reports a state"))
    }

    /// The container's status (created, running, exited, ...).
    pub async fn status(&self, id: &str) -> ContainerStateStatusEnum {
        let state = self.state(id).await.unwrap_or_else(|| {
            panic!("container {id} should exist, but the engine does not know it")
        });
        state.status.expect("a status")
    }

    /// Waits (at most 20 s) until the container runs.
    pub async fn wait_running(&self, id: &str) {
        for _ in 0..200 {
            if self.status(id).await == ContainerStateStatusEnum::RUNNING {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("container {id} was not running 20 s after it was started");
    }

    /// Waits (at most 20 s) until the container has exited; returns its exit code.
    pub async fn wait_exited(&self, id: &str) -> i64 {
        for _ in 0..200 {
            let state = self.state(id).await.expect("the container exists");
            if state.status == Some(ContainerStateStatusEnum::EXITED) {
                return state
                    .exit_code
                    .expect("an exited container has an exit code");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("container {id} had not exited 20 s later");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let label = self.label.clone();
        // Drop cannot await: clean up on a small runtime (and connection) of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let Ok(MiniDocker { docker }) = MiniDocker::connect().await else {
                    return;
                };
                let filters = std::collections::HashMap::from([("label", vec![label.as_str()])]);
                let options = ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build();
                for container in docker
                    .list_containers(Some(options))
                    .await
                    .unwrap_or_default()
                {
                    let force = RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker
                        .remove_container(&container.id.unwrap_or_default(), Some(force))
                        .await;
                }
            });
        })
        .join();
    }
}
