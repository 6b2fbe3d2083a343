//! Containers: what `docker run`, `ps`, `stop`, `kill` and `system prune` ask
//! the engine to do.
//!
//! `docker run IMAGE CMD` is two requests, not one: *create* a container from
//! the image (its own filesystem, a copy-on-write layer over the image, and
//! the command to run), then *start* it and stay attached to its output.
//! That is why `docker run` = `docker create` + `docker start -a`, and why the
//! functions below come in those pieces.
//!
//! Your part (the tests in tests/minidocker_spec.rs say exactly what is wanted):
//! - TODO 1: `create`, a container from an image, not started.
//! - TODO 2: `start` and `start_attached`, run it and stream its output.
//! - TODO 3: `list`, what `docker ps` and `docker ps --all` show.
//! - TODO 4: `stop` (SIGTERM, a grace period, then SIGKILL) and `kill`.
//! - TODO 5 is `exec` and TODO 6 `exec_tty` (`exec -it`), in src/exec.rs.
//!
//! `prune`, at the end of this file, is given: read it as an example of the
//! engine's API. Every engine call is a method of `self.docker` (a
//! `bollard::Docker`); its options are built with the `...OptionsBuilder`s
//! imported below.

#![allow(unused_imports)] // the stub does not use them all yet; your code will

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bollard::errors::Error as EngineError;
use bollard::models::{ContainerCreateBody, ContainerSummary};
use bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    PruneContainersOptionsBuilder, PruneImagesOptionsBuilder, PruneNetworksOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::{LABEL, MiniDocker};

/// A container that ran to the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub id: String,
    /// What its command returned: 0 for success. 137 means it was killed
    /// (128 + 9, the number of SIGKILL); 143 that SIGTERM ended it (128 + 15).
    pub exit_code: i64,
}

/// One line of `docker ps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRow {
    /// The full id; `docker ps` shows its first 12 characters.
    pub id: String,
    pub image: String,
    pub command: String,
    /// The machine-readable state: `created`, `running`, `exited`, ...
    pub state: String,
    /// The human one: `Up 3 seconds`, `Exited (0) 2 minutes ago`, ...
    pub status: String,
    pub name: String,
}

/// A row from what the engine says about a container, where every field is
/// an `Option` (the engine may leave any out).
impl From<ContainerSummary> for ContainerRow {
    fn from(c: ContainerSummary) -> ContainerRow {
        ContainerRow {
            id: c.id.unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            command: c.command.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            status: c.status.unwrap_or_default(),
            // The engine names containers "/name"; `docker ps` drops the slash.
            name: c
                .names
                .and_then(|names| names.into_iter().next())
                .map(|name| name.trim_start_matches('/').to_string())
                .unwrap_or_default(),
        }
    }
}

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The ids of the stopped containers that were removed.
    pub containers: Vec<String>,
    /// How many unused images (untagged layers nobody needs) were removed.
    pub images: usize,
    /// The names of the unused networks that were removed.
    pub networks: Vec<String>,
    /// Disk space given back, in bytes.
    pub space_reclaimed: u64,
}

impl MiniDocker {
    // ANCHOR: create
    /// `docker create IMAGE CMD...`: makes a container, does not start it.
    /// Returns its id. `labels` are extra `key=value` tags to find it by.
    pub async fn create(
        &self,
        image: &str,
        cmd: &[&str],
        labels: &[(&str, &str)],
    ) -> Result<String> {
        // TODO 1: the engine must hold a new container, created and not
        // started, from `image`, running `cmd` (the image's own command when
        // `cmd` is empty), carrying the caller's labels and `LABEL`="1";
        // return its id. Checked by `create_only_creates_and_start_runs_it`
        // and the `run_` tests in tests/minidocker_spec.rs.
        let _ = (image, cmd, labels, LABEL);
        todo!("TODO 1 in src/containers.rs: create a container from {image}")
    }
    // ANCHOR_END: create

    // ANCHOR: start
    /// `docker start ID`: runs the container's command, in the background.
    pub async fn start(&self, id: &str) -> Result<()> {
        // TODO 2a: container `id` must be running when this returns (its
        // command runs in the background). Checked by
        // `create_only_creates_and_start_runs_it`.
        let _ = id;
        todo!("TODO 2a in src/containers.rs: start container {id}")
    }

    /// `docker start -a ID`: starts the container, copies everything it
    /// prints (stdout and stderr) to `out` while it runs, and returns its
    /// exit code once it has finished.
    pub async fn start_attached(&self, id: &str, out: &mut impl Write) -> Result<i64> {
        // TODO 2b: everything the container prints, stdout and stderr, from
        // its very first byte to its end, must reach `out`, and its exit code
        // be returned once it has stopped. Checked by
        // `run_creates_and_starts_a_container_streams_its_output_and_returns_its_exit_code`.
        let _ = out;
        todo!("TODO 2b in src/containers.rs: start {id}, copy its output, return its exit code")
    }
    // ANCHOR_END: start

    /// `docker wait ID`: waits until the container is not running, and
    /// returns its exit code.
    pub async fn wait(&self, id: &str) -> Result<i64> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        match self.docker.wait_container(id, Some(options)).next().await {
            Some(Ok(answer)) => Ok(answer.status_code),
            // bollard reports a non-zero exit code as an error; here it is an answer.
            Some(Err(EngineError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(error)) => Err(error).with_context(|| format!("waiting for {id}")),
            None => bail!("the engine stopped answering while we waited for {id}"),
        }
    }

    // ANCHOR: run
    /// `docker run IMAGE CMD...`: create, then start attached. That is all
    /// `docker run` is.
    pub async fn run(
        &self,
        image: &str,
        cmd: &[&str],
        labels: &[(&str, &str)],
        out: &mut impl Write,
    ) -> Result<Finished> {
        let id = self.create(image, cmd, labels).await?;
        let exit_code = self.start_attached(&id, out).await?;
        Ok(Finished { id, exit_code })
    }

    /// `docker run --detach IMAGE CMD...`: create, then start, without
    /// waiting. Returns the id.
    pub async fn run_detached(
        &self,
        image: &str,
        cmd: &[&str],
        labels: &[(&str, &str)],
    ) -> Result<String> {
        let id = self.create(image, cmd, labels).await?;
        self.start(&id).await?;
        Ok(id)
    }
    // ANCHOR_END: run

    // ANCHOR: list
    /// `docker ps` (running containers only) and `docker ps --all` (every
    /// container on this machine, also the created and exited ones).
    pub async fn list(&self, all: bool) -> Result<Vec<ContainerRow>> {
        // TODO 3: one `ContainerRow` per running container, or per container
        // of any state with `all` (the given `From` above makes a row from
        // what the engine says). Checked by
        // `ps_lists_running_containers_and_ps_all_also_the_stopped_ones`.
        let _ = all;
        todo!("TODO 3 in src/containers.rs: list the containers (ps, ps --all)")
    }
    // ANCHOR_END: list

    // ANCHOR: stop
    /// `docker stop --time SECONDS ID`: asks the container's main process to
    /// finish (SIGTERM), gives it `grace` to do so, and only then kills it
    /// (SIGKILL). Returns when the container has stopped.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        // TODO 4a: the container must get SIGTERM first, and SIGKILL only
        // once `grace` (in whole seconds) is over. Checked by the two `stop_`
        // tests in tests/minidocker_spec.rs.
        let _ = grace;
        todo!("TODO 4a in src/containers.rs: stop {id} with a grace period")
    }

    /// `docker kill ID`: SIGKILL at once. The process gets no chance to
    /// finish its work: no cleanup, no last write, no goodbye.
    pub async fn kill(&self, id: &str) -> Result<()> {
        // TODO 4b: the container must end at once, with no chance to clean
        // up (exit code 137). Checked by `kill_does_not_ask_it_ends_the_container_at_once`.
        todo!("TODO 4b in src/containers.rs: kill {id}")
    }
    // ANCHOR_END: stop

    // ANCHOR: prune
    /// `docker system prune`: removes every stopped container, the images no
    /// tag or container uses, and the networks no container uses. With
    /// `label` (`key` or `key=value`), only what carries that label.
    pub async fn prune(&self, label: Option<&str>) -> Result<Pruned> {
        let mut filters: HashMap<&str, Vec<&str>> = HashMap::new();
        if let Some(label) = label {
            filters.insert("label", vec![label]);
        }
        let containers = self
            .docker
            .prune_containers(Some(
                PruneContainersOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .context("removing stopped containers")?;

        let mut image_filters = filters.clone();
        image_filters.insert("dangling", vec!["true"]);
        let images = self
            .docker
            .prune_images(Some(
                PruneImagesOptionsBuilder::default()
                    .filters(&image_filters)
                    .build(),
            ))
            .await
            .context("removing unused images")?;

        let networks = self
            .docker
            .prune_networks(Some(
                PruneNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .context("removing unused networks")?;

        Ok(Pruned {
            containers: containers.containers_deleted.unwrap_or_default(),
            images: images
                .images_deleted
                .map(|deleted| deleted.len())
                .unwrap_or(0),
            networks: networks.networks_deleted.unwrap_or_default(),
            space_reclaimed: [containers.space_reclaimed, images.space_reclaimed]
                .into_iter()
                .flatten()
                .map(|bytes| bytes.max(0) as u64)
                .sum(),
        })
    }
    // ANCHOR_END: prune
}
