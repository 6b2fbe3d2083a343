//! The Docker gate of chapters 7 and 8, and the clean-up after their tests.
//!
//! Without an engine these tests cannot run. Then each one prints a loud
//! `SKIPPED` line, with the reason, and returns, unless `REQUIRE_DOCKER=1`
//! is set (CI sets it): then it fails, because a skipped test proves nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

/// How long the engine may take to answer before the tests count it absent.
const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// The Docker engine, or `None` after a loud `SKIPPED` line saying why there
/// is none. Under `REQUIRE_DOCKER=1` a missing engine fails instead.
pub async fn engine() -> Option<Docker> {
    match tokio::time::timeout(CONNECT_WITHIN, connect()).await {
        Ok(Ok(docker)) => Some(docker),
        Ok(Err(reason)) => skip(reason),
        Err(_) => skip(format!("no answer within {CONNECT_WITHIN:?}")),
    }
}

/// [`engine`], with `image` on it: pulled when the engine does not have it.
pub async fn engine_with_image(image: &str) -> Option<Docker> {
    let docker = engine().await?;
    if docker.inspect_image(image).await.is_err() {
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut pull = docker.create_image(Some(options), None, None);
        while let Some(step) = pull.next().await {
            if let Err(error) = step {
                panic!(
                    "the Docker engine answers, but {image} is not on this machine and could not be pulled: {error}\n\
                     Without internet, make it locally: scripts/docker-offline-build.sh --bases-only"
                );
            }
        }
    }
    Some(docker)
}

/// Connects like the `docker` CLI does (`DOCKER_HOST`, else the local
/// socket), agrees on an API version and pings.
async fn connect() -> Result<Docker, String> {
    let docker = Docker::connect_with_defaults()
        .map_err(|error| format!("cannot reach the Docker engine (is Docker running?): {error}"))?
        .negotiate_version()
        .await
        .map_err(|error| {
            format!("the Docker engine does not answer (is Docker running?): {error}")
        })?;
    docker
        .ping()
        .await
        .map_err(|error| format!("the Docker engine does not answer its ping: {error}"))?;
    Ok(docker)
}

fn skip(reason: String) -> Option<Docker> {
    let reason = format!("no Docker engine answers ({reason}); start Docker to run this test");
    crate::skip_unless_required("REQUIRE_DOCKER", &reason);
    None
}

/// A label unique to one test (`org.workbook.test=NAME-PID-N`). Put it on
/// every container the test makes: when this is dropped, pass or fail,
/// every container carrying it is removed.
pub struct TestLabel {
    label: String,
}

impl TestLabel {
    /// A new label; `name` says which tests made the container.
    pub fn new(name: &str) -> TestLabel {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let label = format!(
            "org.workbook.test={name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        TestLabel { label }
    }

    /// `KEY=VALUE`, as `docker ps --filter label=...` takes it.
    pub fn as_str(&self) -> &str {
        &self.label
    }

    /// The label as a `(key, value)` pair.
    pub fn pair(&self) -> (&str, &str) {
        self.label.split_once('=').expect("a label is key=value")
    }
}

impl Drop for TestLabel {
    fn drop(&mut self) {
        let label = self.label.clone();
        // Drop cannot await: clean up on a small runtime (and connection) of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(docker) = connect().await else { return };
                let filters = HashMap::from([("label", vec![label.as_str()])]);
                let options = ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build();
                let containers = docker.list_containers(Some(options)).await;
                for container in containers.unwrap_or_default() {
                    let force = RemoveContainerOptionsBuilder::default().force(true).build();
                    let id = container.id.unwrap_or_default();
                    let _ = docker.remove_container(&id, Some(force)).await;
                }
            });
        })
        .join();
    }
}

/// The last 20 lines a container printed (stdout and stderr), to explain a failure.
pub async fn logs(docker: &Docker, id: &str) -> String {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("20")
        .build();
    let mut logs = docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.push_str(&chunk.to_string());
    }
    text
}

/// Waits (at most 20 s) until container `id` has printed `text`: how a test
/// knows a program is ready (its signal handler set, say) without guessing
/// with a sleep.
pub async fn wait_for_output(docker: &Docker, id: &str, text: &str) {
    let within = Duration::from_secs(20);
    let printed = crate::eventually(within, async || logs(docker, id).await.contains(text)).await;
    assert!(
        printed,
        "container {id} did not print {text:?} within {within:?}; its last lines:\n{}",
        logs(docker, id).await
    );
}
