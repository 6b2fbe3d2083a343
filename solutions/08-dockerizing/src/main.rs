//! `IMAGE [COMMAND...]`: the image's size and user, then one container of it
//! started and stopped with `docker stop`, timed.
//!
//!     cargo run -p ex08-dockerizing -- blog:0.1.0 posts
//!     cargo run -p ex08-dockerizing -- busybox ping 127.0.0.1
//!
//! (`-p ex08-dockerizing` runs yours; `-p dockerizing` runs the reference.)

use std::time::Duration;

use anyhow::{Context, Result};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::RemoveContainerOptionsBuilder;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((image, command)) = args.split_first() else {
        eprintln!("usage: IMAGE [COMMAND...]   e.g. blog:0.1.0 posts");
        std::process::exit(2);
    };
    let docker = dockerizing::docker().await?;

    let facts = dockerizing::image_facts(&docker, image).await?;
    println!("image      {image}");
    println!("size       {:.1} MB", facts.size_bytes as f64 / 1e6);
    println!(
        "user       {}",
        if facts.runs_as_root() {
            format!("root ({:?})", facts.user)
        } else {
            facts.user.clone()
        }
    );
    println!("entrypoint {:?}", facts.entrypoint);

    let body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: (!command.is_empty()).then(|| command.to_vec()),
        ..Default::default()
    };
    let id = docker
        .create_container(None, body)
        .await
        .context("creating a container")?
        .id;
    docker
        .start_container(&id, None)
        .await
        .context("starting it")?;
    // Give the program a moment to start properly (and install its handlers).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grace = Duration::from_secs(10);
    let stopped = dockerizing::stop_timed(&docker, &id, grace).await;
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(&id, Some(remove)).await;
    let stopped = stopped?;
    println!(
        "docker stop took {:.2} s (grace {} s): exit code {}{}",
        stopped.took.as_secs_f64(),
        grace.as_secs(),
        stopped.exit_code,
        if stopped.killed {
            ", killed after the grace period"
        } else {
            ""
        }
    );
    Ok(())
}
