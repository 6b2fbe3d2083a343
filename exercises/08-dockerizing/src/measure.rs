//! What the engine knows about an image, and how long a container takes to stop.
//!
//! TODO 1: `image_facts`, what `docker image inspect` knows.
//! TODO 2: `stop_timed`, `time docker stop`, and how the container ended.
//! TODO 3 to 5 are in exercises/08-dockerizing/Dockerfile.

#![allow(unused_imports)] // the stub does not use them all yet; your code will

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
    // TODO 1: `docker.inspect_image(image)` answers an `ImageInspect`. Its
    // `size` is the size in bytes; its `config` (an `Option`) holds `user`
    // and `entrypoint` (both `Option`s too). Missing means empty.
    let _ = docker;
    todo!("TODO 1 in src/measure.rs: inspect {image} for its size, user and entrypoint")
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
    // TODO 2: start a clock (`Instant::now()`), stop the container with
    // `docker.stop_container` and the grace period as its `t` option (whole
    // seconds), read the clock, then `docker.inspect_container` for the exit
    // code (in `state`). It was killed if the code is 137 and the stop took
    // the whole grace period.
    let _ = (docker, grace);
    todo!("TODO 2 in src/measure.rs: stop {id}, timed, and read its exit code")
}
// ANCHOR_END: stop_timed
