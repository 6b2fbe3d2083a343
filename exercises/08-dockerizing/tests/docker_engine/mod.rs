//! Finding the Docker engine, building the image once, cleaning up.
//!
//! Without an engine the tests cannot run. Then each one prints a loud
//! `SKIPPED` line and returns, unless `REQUIRE_DOCKER=1` is set (CI sets it):
//! then it fails, because a skipped test proves nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use blog_testkit::docker::TestLabel;
use bollard::Docker;
use bollard::models::ContainerCreateBody;

/// The small image the measuring tests run.
pub const BUSYBOX: &str = "busybox:latest";

/// The engine with busybox on it, or `None` (after a loud message) when
/// there is none and none is required. The gate is the test kit's,
/// shared with chapter 7.
pub async fn engine() -> Option<Docker> {
    blog_testkit::docker::engine_with_image(BUSYBOX).await
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
    label: TestLabel,
}

impl Containers {
    pub fn new(docker: Docker) -> Containers {
        let label = TestLabel::new("dockerizing");
        Containers { docker, label }
    }

    /// Creates and starts a container; `port` is published on 127.0.0.1 (a
    /// free port) when given. Returns its id.
    pub async fn start(&self, image: &str, cmd: &[&str], port: Option<u16>) -> String {
        use bollard::models::{HostConfig, PortBinding};
        let (key, value) = self.label.pair();
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
        blog_testkit::docker::logs(&self.docker, id).await
    }
}
