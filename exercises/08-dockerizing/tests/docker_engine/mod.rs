//! Finding the Docker engine, building the image once, looking inside it,
//! cleaning up.
//!
//! Without an engine the tests cannot run. Then each one prints a loud
//! `SKIPPED` line and returns, unless `REQUIRE_DOCKER=1` is set (CI sets it):
//! then it fails, because a skipped test proves nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use blog_testkit::docker::TestLabel;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use futures_util::StreamExt;

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
            .map(|_log| tag)
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
        self.start_with(image, None, cmd, port).await
    }

    /// [`Containers::start`] with another entrypoint than the image's
    /// (`docker run --entrypoint`).
    pub async fn start_with(
        &self,
        image: &str,
        entrypoint: Option<&[&str]>,
        cmd: &[&str],
        port: Option<u16>,
    ) -> String {
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
            entrypoint: entrypoint.map(|e| e.iter().map(|s| s.to_string()).collect()),
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

    /// Whether the image can run `program` at all: `docker run --entrypoint
    /// program image`. The engine refuses to start a program the image does
    /// not have.
    pub async fn can_run(&self, image: &str, program: &str) -> bool {
        let (key, value) = self.label.pair();
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec![program.to_string()]),
            cmd: Some(vec!["-c".to_string(), "exit 0".to_string()]),
            labels: Some(HashMap::from([(key.to_string(), value.to_string())])),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None, body)
            .await
            .unwrap_or_else(|error| panic!("creating a container of {image}: {error}"))
            .id;
        self.docker.start_container(&id, None).await.is_ok()
    }

    /// The user id that the container's process 1 runs as, as the host sees
    /// it (`docker top`), once it runs; `None` if it ended first.
    pub async fn uid_of_process(&self, id: &str) -> Option<String> {
        let options = bollard::query_parameters::TopOptionsBuilder::new()
            .ps_args("-o pid,uid,comm")
            .build();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(top) = self.docker.top_processes(id, Some(options.clone())).await {
                let titles = top.titles.unwrap_or_default();
                let column = titles.iter().position(|t| t == "UID")?;
                if let Some(process) = top.processes.unwrap_or_default().first() {
                    return process.get(column).cloned();
                }
            }
            let running = self
                .docker
                .inspect_container(id, None)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.running)
                .unwrap_or(false);
            if !running {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Every path in the image's file system (`docker export` of a container
    /// that is created but never started), relative to `/`.
    pub async fn files_of(&self, image: &str) -> Vec<String> {
        let (key, value) = self.label.pair();
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(HashMap::from([(key.to_string(), value.to_string())])),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None, body)
            .await
            .unwrap_or_else(|error| panic!("creating a container of {image}: {error}"))
            .id;
        let mut tar = Vec::new();
        let mut export = self.docker.export_container(&id);
        while let Some(chunk) = export.next().await {
            tar.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("docker export {id}: {e}")));
        }
        tar_paths(&tar)
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

/// The names in a tar archive, folders left out (ustar headers: the name at 0..100, a prefix
/// at 345..500, the size in octal at 124..136, 512-byte blocks).
fn tar_paths(tar: &[u8]) -> Vec<String> {
    let text = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let mut paths = Vec::new();
    let mut long_name: Option<String> = None;
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = usize::from_str_radix(text(&header[124..136]).trim(), 8).unwrap_or(0);
        let data = at + 512;
        match header[156] {
            // GNU long name: the next entry's name is this entry's data.
            b'L' => long_name = Some(text(&tar[data..(data + size).min(tar.len())])),
            // A pax header: its `path=` record, if any, names the next entry.
            b'x' => {
                let records = text(&tar[data..(data + size).min(tar.len())]);
                long_name = records
                    .lines()
                    .find_map(|r| r.split_once(" path=").map(|(_, p)| p.to_string()));
            }
            // A folder (`usr/share/gcc` holds no compiler): only what can be run counts.
            b'5' => long_name = None,
            _ => {
                let name = long_name.take().unwrap_or_else(|| {
                    let (prefix, name) = (text(&header[345..500]), text(&header[..100]));
                    if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    }
                });
                paths.push(
                    name.trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_string(),
                );
            }
        }
        at = data + size.div_ceil(512) * 512;
    }
    paths
}

/// The user the last stage of `dockerfile` sets with its last `USER` line,
/// if it has one: the stage that becomes the image.
pub fn user_line_of_final_stage(dockerfile: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dockerfile).unwrap_or_default();
    let mut user = None;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("FROM") => user = None,
            Some("USER") => user = words.next().map(str::to_string),
            _ => {}
        }
    }
    user
}

/// What cargo compiled in a build, from its `Compiling <crate> v<version>`
/// lines: (the workspace's own crates, the dependencies). A crate of the
/// workspace is printed with its folder in parentheses; a dependency from
/// crates.io (or vendored from it) without.
pub fn compiled_crates(log: &str) -> (Vec<String>, Vec<String>) {
    let (mut own, mut dependencies) = (Vec::new(), Vec::new());
    for line in blog_testkit::without_colours(log).lines() {
        let Some((_, after)) = line.split_once("Compiling ") else {
            continue;
        };
        let mut words = after.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        if !version.starts_with('v') {
            continue;
        }
        if after.contains("(/") {
            own.push(name.to_string());
        } else {
            dependencies.push(name.to_string());
        }
    }
    (own, dependencies)
}

/// Builds a copy of the repository in which one source file of the blog
/// has changed (a comment added, new every run), with the same Dockerfile,
/// right after [`built_image`]: what a developer's next build after an edit
/// does. Returns the build's output; removes the image, and the layers only
/// this build made, afterwards.
pub async fn build_after_a_source_change(docker: &Docker) -> String {
    built_image();
    let (dockerfile, tag) = dockerfile_and_tag();
    let root = dockerizing::repo_root();
    let copy = tempfile::tempdir().expect("a temporary folder");
    copy_repository(&root, copy.path());
    let edited = copy.path().join("solutions/blog/src/main.rs");
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut source = std::fs::read_to_string(&edited).expect("solutions/blog/src/main.rs");
    source.push_str(&format!(
        "// an edit, to see what Docker rebuilds: {stamp}\n"
    ));
    std::fs::write(&edited, source).expect("editing the copy");
    let probe = format!("{tag}-after-an-edit");
    let dockerfile_in_copy = copy
        .path()
        .join(dockerfile.strip_prefix(&root).expect("in the repository"));
    let result = dockerizing::build_from(copy.path(), &dockerfile_in_copy, &probe);
    remove_what_the_build_made(docker, &probe, result.as_deref().unwrap_or_default()).await;
    result.unwrap_or_else(|error| panic!("the image must build after a source change: {error:#}"))
}

/// Copies the repository as `docker build` would see it: without what
/// `.dockerignore` leaves out (build output, data, history) and without
/// vendored crates.
fn copy_repository(from: &Path, to: &Path) {
    let ignored: Vec<PathBuf> = std::fs::read_to_string(from.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| from.join(l.trim_start_matches('/')))
        .chain([from.join("vendor")])
        .collect();
    copy_tree(from, to, &ignored);
}

fn copy_tree(from: &Path, to: &Path, ignored: &[PathBuf]) {
    std::fs::create_dir_all(to).expect("creating a folder of the copy");
    for entry in std::fs::read_dir(from)
        .expect("reading the repository")
        .flatten()
    {
        let path = entry.path();
        if ignored.contains(&path) || path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            copy_tree(&path, &target, ignored);
        } else if kind.is_file() {
            std::fs::copy(&path, &target).expect("copying a file");
        }
    }
}

/// Removes the probe's tag and, for the classic builder, the images of the
/// steps it ran instead of taking them from the cache (each `---> <id>`
/// after a step that did not say `Using cache`), newest first: they hold a
/// stage's whole build and would fill the disk run after run. A `FROM`
/// step names its base, which is never removed, and neither is any image
/// that has a tag (the cache the next build needs, or someone else's).
async fn remove_what_the_build_made(docker: &Docker, tag: &str, log: &str) {
    use bollard::query_parameters::RemoveImageOptions;
    let mut made = Vec::new();
    let mut kept = false;
    for line in blog_testkit::without_colours(log).lines() {
        let line = line.trim();
        if let Some(step) = line.strip_prefix("Step ") {
            let instruction = step.split_once(" : ").map(|(_, i)| i).unwrap_or_default();
            kept = instruction.to_ascii_uppercase().starts_with("FROM ");
        } else if line == "---> Using cache" {
            kept = true;
        } else if let Some(id) = line.strip_prefix("---> ")
            && !kept
            && id.chars().all(|c| c.is_ascii_hexdigit())
        {
            made.push(id.to_string());
        }
    }
    let _ = docker
        .remove_image(tag, None::<RemoveImageOptions>, None)
        .await;
    for id in made.iter().rev() {
        let untagged = docker
            .inspect_image(id)
            .await
            .is_ok_and(|image| image.repo_tags.unwrap_or_default().is_empty());
        if untagged {
            let _ = docker
                .remove_image(id, None::<RemoveImageOptions>, None)
                .await;
        }
    }
}

/// The configuration the engine keeps for an image: its user and its
/// entrypoint, read directly (not through your `image_facts`).
pub async fn config_of(docker: &Docker, image: &str) -> bollard::models::ImageConfig {
    docker
        .inspect_image(image)
        .await
        .unwrap_or_else(|error| panic!("inspecting {image}: {error}"))
        .config
        .unwrap_or_default()
}

/// The image's size in bytes, as `docker images` shows it.
pub async fn size_of(docker: &Docker, image: &str) -> u64 {
    docker
        .inspect_image(image)
        .await
        .unwrap_or_else(|error| panic!("inspecting {image}: {error}"))
        .size
        .unwrap_or(0)
        .max(0) as u64
}
