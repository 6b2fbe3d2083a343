//! Chapter 8: measuring an image and how its containers stop.
//!
//! Two questions decide whether an image is fit to ship, and the engine
//! answers both:
//!
//! - [`image_facts`]: how big is it, and which user do its containers run as?
//! - [`stop_timed`]: when Docker (or Kubernetes) stops a container, does its
//!   program finish on `SIGTERM` at once, or does it ignore the signal until
//!   the grace period is over and it gets killed?
//!
//! `cargo run -p ex08-dockerizing -- IMAGE [COMMAND...]` prints both for any image
//! (see `src/main.rs`). [`docker`] finds the engine and [`build`] builds an
//! image from a Dockerfile of this repository.

pub mod measure;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use bollard::Docker;

pub use measure::{ImageFacts, Stopped, image_facts, stop_timed};

/// Connects to the Docker engine like the `docker` command does
/// (`DOCKER_HOST`, else the local socket) and agrees on an API version.
pub async fn docker() -> Result<Docker> {
    let docker = Docker::connect_with_defaults()
        .context("cannot reach the Docker engine (is Docker running?)")?
        .negotiate_version()
        .await
        .context("the Docker engine does not answer (is Docker running?)")?;
    docker
        .ping()
        .await
        .context("the Docker engine does not answer its ping")?;
    Ok(docker)
}

/// The repository's root folder: the build context of every image.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate is two folders below the root")
        .to_path_buf()
}

/// Builds `dockerfile` (with the repository as its context) into `tag`, and
/// returns what the build printed (its steps, and cargo's `Compiling` lines).
///
/// On a machine that cannot download base images or crates it goes through
/// `scripts/docker-offline-build.sh`; otherwise it is a plain `docker
/// build`. `WORKBOOK_DOCKER_OFFLINE=1` (or `0`) decides; unset, a machine
/// counts as offline when its busybox image is the script's local stand-in.
pub fn build(dockerfile: &Path, tag: &str) -> Result<String> {
    build_from(&repo_root(), dockerfile, tag)
}

/// [`build`] with another copy of the repository, `context`, as the build
/// context. Chapter 8's cache test builds a copy with one source edited, to
/// see which layers Docker rebuilds. Offline, the copy's own script builds
/// it, with this repository's cache of vendored crates.
pub fn build_from(context: &Path, dockerfile: &Path, tag: &str) -> Result<String> {
    let offline = match std::env::var("WORKBOOK_DOCKER_OFFLINE").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => made_by_offline_script("busybox:latest"),
    };
    let offline_cache = std::env::var_os("WORKBOOK_DOCKER_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/docker-offline"));
    let mut command = if offline {
        let mut script = Command::new(context.join("scripts/docker-offline-build.sh"));
        script.arg("-f").arg(dockerfile).arg("-t").arg(tag);
        script.env("WORKBOOK_DOCKER_CACHE", &offline_cache);
        script
    } else {
        let mut docker = Command::new("docker");
        docker
            .arg("build")
            .arg("-f")
            .arg(dockerfile)
            .arg("-t")
            .arg(tag)
            .arg(context);
        // BuildKit's output as plain lines, cargo's among them.
        docker.env("BUILDKIT_PROGRESS", "plain");
        docker
    };
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    let mut log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "building {} as {tag} failed:\n{}\n(Without internet, set WORKBOOK_DOCKER_OFFLINE=1 to build through scripts/docker-offline-build.sh.)",
            dockerfile.display(),
            tail.join("\n")
        );
    }
    if offline {
        // The script keeps docker's own output in its cache, and prints it
        // only when the build fails.
        let docker_log = offline_cache.join("build.log");
        log = std::fs::read_to_string(&docker_log)
            .with_context(|| format!("reading {}", docker_log.display()))?;
    }
    Ok(log)
}

/// Whether `image` is one of the local stand-ins the offline script makes.
fn made_by_offline_script(image: &str) -> bool {
    Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            image,
        ])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("org.workbook.stand-in"))
}
