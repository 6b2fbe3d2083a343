//! Containers: what `docker run`, `ps`, `stop`, `kill` and `system prune` ask
//! the engine to do.
//!
//! `docker run IMAGE CMD` is two requests, not one: *create* a container from
//! the image (its own filesystem, a copy-on-write layer over the image, and
//! the command to run), then *start* it and stay attached to its output.
//! That is why `docker run` = `docker create` + `docker start -a`, and why the
//! functions below come in those pieces.

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
        let mut all_labels: HashMap<String, String> = labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        all_labels.insert(LABEL.to_string(), "1".to_string());
        let config = ContainerCreateBody {
            image: Some(image.to_string()),
            // No command: the image's default (its CMD) runs, as with `docker run IMAGE`.
            cmd: (!cmd.is_empty()).then(|| cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(all_labels),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None, config)
            .await
            .with_context(|| format!("creating a container from {image}"))?;
        Ok(created.id)
    }
    // ANCHOR_END: create

    // ANCHOR: start
    /// `docker start ID`: runs the container's command, in the background.
    pub async fn start(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None)
            .await
            .with_context(|| format!("starting container {id}"))
    }

    /// `docker start -a ID`: starts the container, copies everything it
    /// prints (stdout and stderr) to `out` while it runs, and returns its
    /// exit code once it has finished.
    pub async fn start_attached(&self, id: &str, out: &mut impl Write) -> Result<i64> {
        self.start(id).await?;
        // Following the logs from the beginning misses nothing, however fast
        // the command is; the stream ends when the container stops.
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut output = self.docker.logs(id, Some(options));
        while let Some(chunk) = output.next().await {
            let chunk = chunk.with_context(|| format!("reading the output of {id}"))?;
            out.write_all(chunk.as_ref())?;
            out.flush()?;
        }
        self.wait(id).await
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
        let options = ListContainersOptionsBuilder::default().all(all).build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .context("listing containers")?;
        Ok(containers.into_iter().map(ContainerRow::from).collect())
    }
    // ANCHOR_END: list

    // ANCHOR: stop
    /// `docker stop --time SECONDS ID`: asks the container's main process to
    /// finish (SIGTERM), gives it `grace` to do so, and only then kills it
    /// (SIGKILL). Returns when the container has stopped.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        self.docker
            .stop_container(id, Some(options))
            .await
            .with_context(|| format!("stopping container {id}"))
    }

    /// `docker kill ID`: SIGKILL at once. The process gets no chance to
    /// finish its work: no cleanup, no last write, no goodbye.
    pub async fn kill(&self, id: &str) -> Result<()> {
        let options = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        self.docker
            .kill_container(id, Some(options))
            .await
            .with_context(|| format!("killing container {id}"))
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
