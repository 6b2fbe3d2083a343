//! Finding the Docker engine for the tests, and cleaning up after them.
//!
//! Without an engine the tests cannot run. Then each one prints a loud
//! `SKIPPED` line and returns, unless `REQUIRE_DOCKER=1` is set (CI sets it):
//! then it fails, because a skipped test proves nothing. That gate is the
//! test kit's (`blog_testkit::docker`), shared with chapter 8.

use std::time::Duration;

use blog_testkit::docker::{TestLabel, engine_with_image, wait_for_output};
use blog_testkit::eventually;
use bollard::models::{ContainerCreateBody, ContainerState, ContainerStateStatusEnum};
use minidocker::MiniDocker;

/// The small image every test runs (Docker Hub's busybox, or the local
/// stand-in that `scripts/docker-offline-build.sh` makes).
pub const BUSYBOX: &str = "busybox:latest";

// ANCHOR: signals
/// Runs until SIGTERM, then exits 0 at once: a well-behaved service. It
/// prints `ready` once its handler is set, so a test knows when to signal it.
pub const POLITE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
];

/// Ignores SIGTERM: only SIGKILL ends it. It too prints `ready` first.
pub const STUBBORN: &[&str] = &[
    "sh",
    "-c",
    "trap '' TERM; echo ready; while :; do sleep 0.1; done",
];
// ANCHOR_END: signals

/// How long a container may take to reach the state a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// One test's containers: all carry a label unique to the test, and are
/// removed when it ends, pass or fail.
pub struct Scratch {
    pub mini: MiniDocker,
    pub label: String,
    cleanup: TestLabel,
}

impl Scratch {
    /// A connection to the engine with busybox available, or `None` (after
    /// a loud message) when there is no engine and it is not required.
    pub async fn new() -> Option<Scratch> {
        let docker = engine_with_image(BUSYBOX).await?;
        let cleanup = TestLabel::new("minidocker");
        Some(Scratch {
            mini: MiniDocker { docker },
            label: cleanup.as_str().to_string(),
            cleanup,
        })
    }

    /// The label as the `(key, value)` pair `create` takes.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        vec![self.cleanup.pair()]
    }

    /// Starts a busybox container running `cmd` through the engine itself,
    /// not through your code: so that the `exec` tests need only your `exec`.
    pub async fn start_directly(&self, cmd: &[&str]) -> String {
        let (key, value) = self.cleanup.pair();
        let body = ContainerCreateBody {
            image: Some(BUSYBOX.to_string()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some([(key.to_string(), value.to_string())].into()),
            ..Default::default()
        };
        let docker = &self.mini.docker;
        let id = docker
            .create_container(None, body)
            .await
            .expect("the engine creates a busybox container")
            .id;
        docker
            .start_container(&id, None)
            .await
            .expect("the engine starts it");
        self.wait_running(&id).await;
        id
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
        let running = eventually(PATIENCE, async || {
            self.status(id).await == ContainerStateStatusEnum::RUNNING
        })
        .await;
        assert!(
            running,
            "container {id} was not running 20 s after it was started"
        );
    }

    /// Waits (at most 20 s) until a [`POLITE`] or [`STUBBORN`] container has
    /// set its signal handler: it then prints `ready`.
    pub async fn wait_ready(&self, id: &str) {
        wait_for_output(&self.mini.docker, id, "ready").await;
    }

    /// Waits (at most 20 s) until the container has exited; returns its exit code.
    pub async fn wait_exited(&self, id: &str) -> i64 {
        let mut exit_code = None;
        eventually(PATIENCE, async || {
            let state = self.state(id).await.expect("the container exists");
            if state.status == Some(ContainerStateStatusEnum::EXITED) {
                exit_code = state.exit_code;
                assert!(exit_code.is_some(), "an exited container has an exit code");
            }
            exit_code.is_some()
        })
        .await;
        exit_code.unwrap_or_else(|| panic!("container {id} had not exited 20 s later"))
    }
}
