//! Chapter 7: `minidocker`, a small Docker CLI of your own.
//!
//! The `docker` command is only a client: every `docker run`, `docker ps` or
//! `docker stop` becomes an HTTP request to the Docker *engine* (`dockerd`),
//! which owns the images and containers. This crate sends those same requests
//! through the [`bollard`] crate, so each command is a few lines you can read.
//!
//! - [`MiniDocker::connect`]: find the engine (`DOCKER_HOST` or the local socket).
//! - [`containers`]: create, start, `run` (= create + start, attached), ps,
//!   stop (SIGTERM, then SIGKILL after a grace period), kill and prune.
//! - [`exec`]: run another command in a running container (`docker exec`),
//!   fed from a pipe (`-i`) or on a terminal of its own (`-it`).
//! - [`terminal`]: the local terminal that `-it` attaches: size, raw mode, resizes.
//!
//! Every container minidocker creates carries the label [`LABEL`], so you can
//! tell them apart from the others on your machine.

pub mod containers;
pub mod exec;
pub mod terminal;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

pub use containers::{ContainerRow, Finished, Pruned};

/// The label (with value "1") on every container minidocker creates.
pub const LABEL: &str = "org.workbook.minidocker";

// ANCHOR: connect
/// A connection to the Docker engine.
#[derive(Clone, Debug)]
pub struct MiniDocker {
    /// The engine's API, through bollard. Public so tests and curious readers
    /// can ask the engine directly what happened.
    pub docker: Docker,
}

impl MiniDocker {
    /// Connects like the `docker` CLI does: `DOCKER_HOST` if set, else the
    /// local socket (`/var/run/docker.sock`). It then agrees on an API
    /// version with the engine, so an older engine is fine too, and pings it.
    pub async fn connect() -> Result<MiniDocker> {
        let docker = Docker::connect_with_defaults()
            .context("cannot reach the Docker engine (is Docker running?)")?
            .negotiate_version()
            .await
            .context("the Docker engine does not answer (is Docker running?)")?;
        docker
            .ping()
            .await
            .context("the Docker engine does not answer its ping")?;
        Ok(MiniDocker { docker })
    }
    // ANCHOR_END: connect

    /// Makes sure `image` is on this machine, downloading it from its
    /// registry (Docker Hub by default) when it is not. `docker run` does
    /// this by itself; the API does not, so we do it before `create`.
    pub async fn ensure_image(&self, image: &str) -> Result<()> {
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let (name, tag) = match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (image, "latest"),
        };
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut progress = self.docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.with_context(|| format!("pulling {image}"))?;
        }
        Ok(())
    }
}
