//! Finding the Docker engine, building the image once, cleaning up.
//!
//! Without an engine the tests cannot run. Then each one prints a loud
//! `SKIPPED` line and returns, unless `REQUIRE_DOCKER=1` is set (CI sets it):
//! then it fails, because a skipped test proves nothing.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

/// The small image the measuring tests run.
pub const BUSYBOX: &str = "busybox:latest";

/// The engine, or `None` (after a loud message) when there is none and none is required.
pub async fn engine() -> Option<Docker> {
    let connected = tokio::time::timeout(Duration::from_secs(20), dockerizing::docker()).await;
    let docker = match connected {
        Ok(Ok(docker)) => docker,
        Ok(Err(error)) => return no_engine(format!("{error:#}")),
        Err(_) => return no_engine("no answer within 20 s".to_string()),
    };
    if docker.inspect_image(BUSYBOX).await.is_err() {
        let options = CreateImageOptionsBuilder::default()
            .from_image("busybox")
            .tag("latest")
            .build();
        let mut pull = docker.create_image(Some(options), None, None);
        while let Some(step) = pull.next().await {
            if let Err(error) = step {
                panic!(
                    "the Docker engine answers, but {BUSYBOX} is missing and cannot be pulled: {error}\n\
                     Without internet, make it locally: scripts/docker-offline-build.sh --bases-only"
                );
            }
        }
    }
    Some(docker)
}

fn no_engine(reason: String) -> Option<Docker> {
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

/// The Dockerfile under test and the tag it is built as: the exercise's own
/// `Dockerfile` (yours) as `blog:ex08`, or, for the reference crate, which
/// has none, the repository's `Dockerfile` as `blog:0.1.0`.
pub fn dockerfile_and_tag() -> (PathBuf, &'static str) {
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    if own.is_file() {
        (own, "blog:ex08")
    } else {
        (dockerizing::repo_root().join("Dockerfile"), "blog:0.1.0")
    }
}

/// Builds the image once per test run (every test that needs it waits for
/// the same build) and returns its tag.
pub fn built_image() -> &'static str {
    static BUILT: OnceLock<Result<&'static str, String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let (dockerfile, tag) = dockerfile_and_tag();
        dockerizing::build(&dockerfile, tag)
            .map(|()| tag)
            .map_err(|error| format!("{error:#}"))
    });
    match result {
        Ok(tag) => tag,
        Err(error) => panic!("the image must build: {error}"),
    }
}

/// A test's containers carry a label of their own and are removed when the
/// test ends, pass or fail.
pub struct Containers {
    pub docker: Docker,
    label: String,
}

impl Containers {
    pub fn new(docker: Docker) -> Containers {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let label = format!(
            "org.workbook.test=dockerizing-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Containers { docker, label }
    }

    /// Creates and starts a container; `port` is published on 127.0.0.1 (a
    /// free port) when given. Returns its id.
    pub async fn start(&self, image: &str, cmd: &[&str], port: Option<u16>) -> String {
        use bollard::models::{HostConfig, PortBinding};
        let (key, value) = self.label.split_once('=').expect("key=value");
        let port_bindings = port.map(|port| {
            HashMap::from([(
                format!("{port}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_string()),
                    host_port: Some(String::new()),
                }]),
            )])
        });
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(HashMap::from([(key.to_string(), value.to_string())])),
            exposed_ports: port.map(|port| vec![format!("{port}/tcp")]),
            host_config: Some(HostConfig {
                port_bindings,
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None, body)
            .await
            .unwrap_or_else(|error| panic!("creating a container of {image}: {error}"))
            .id;
        self.docker
            .start_container(&id, None)
            .await
            .unwrap_or_else(|error| {
                panic!("starting a container of {image} with {cmd:?}: {error}")
            });
        id
    }

    /// The host port that `port` of the container is published on.
    pub async fn host_port(&self, id: &str, port: u16) -> u16 {
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .expect("inspect");
        let ports = inspected
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        ports
            .get(&format!("{port}/tcp"))
            .cloned()
            .flatten()
            .and_then(|bindings| bindings.into_iter().next())
            .and_then(|binding| binding.host_port)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("port {port} of {id} is not published"))
    }

    /// The last lines the container printed, to explain a failure.
    pub async fn logs(&self, id: &str) -> String {
        use bollard::query_parameters::LogsOptionsBuilder;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("20")
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
        text
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        let label = self.label.clone();
        // Drop cannot await: clean up on a small runtime (and connection) of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let Ok(docker) = dockerizing::docker().await else {
                    return;
                };
                let filters = HashMap::from([("label", vec![label.as_str()])]);
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
