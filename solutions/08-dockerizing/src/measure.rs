//! What the engine knows about an image, and how long a container takes to stop.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::StopContainerOptionsBuilder;

/// The facts about an image that this chapter cares about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image's size on disk, in bytes: all its layers, base included.
    pub size_bytes: u64,
    /// The user its containers run as, as the Dockerfile's `USER` set it
    /// (`"65532:65532"`, `"nonroot"`, ...). Empty means root.
    pub user: String,
    /// The program every container of the image starts (`ENTRYPOINT`).
    pub entrypoint: Vec<String>,
}

impl ImageFacts {
    /// Whether containers of this image run as root: no user at all, or
    /// user 0, by name or number.
    pub fn runs_as_root(&self) -> bool {
        let user = self.user.split(':').next().unwrap_or_default();
        matches!(user, "" | "0" | "root")
    }
}

// ANCHOR: image_facts
/// `docker image inspect`: the size, user and entrypoint of `image`.
pub async fn image_facts(docker: &Docker, image: &str) -> Result<ImageFacts> {
    let inspected = docker
        .inspect_image(image)
        .await
        .with_context(|| format!("inspecting image {image}"))?;
    let config = inspected.config.unwrap_or_default();
    Ok(ImageFacts {
        size_bytes: inspected.size.unwrap_or(0).max(0) as u64,
        user: config.user.unwrap_or_default(),
        entrypoint: config.entrypoint.unwrap_or_default(),
    })
}
// ANCHOR_END: image_facts

/// How a container stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// From the stop request until the container had stopped.
    pub took: Duration,
    pub exit_code: i64,
    /// It was still running when the grace period ended, so the engine
    /// killed it (SIGKILL): exit code 137.
    pub killed: bool,
}

// ANCHOR: stop_timed
/// `time docker stop --time GRACE ID`, and how the container ended.
pub async fn stop_timed(docker: &Docker, id: &str, grace: Duration) -> Result<Stopped> {
    let options = StopContainerOptionsBuilder::default()
        .t(grace.as_secs() as i32)
        .build();
    let started = Instant::now();
    docker
        .stop_container(id, Some(options))
        .await
        .with_context(|| format!("stopping container {id}"))?;
    let took = started.elapsed();
    let state = docker
        .inspect_container(id, None)
        .await
        .with_context(|| format!("inspecting container {id}"))?
        .state
        .unwrap_or_default();
    let exit_code = state.exit_code.unwrap_or(-1);
    Ok(Stopped {
        took,
        exit_code,
        // 137 = 128 + 9: ended by SIGKILL. Together with the clock: it
        // outlived its grace period.
        killed: exit_code == 137 && took >= grace,
    })
}
// ANCHOR_END: stop_timed
