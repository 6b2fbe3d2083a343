//! The specification of chapter 8: the blog's image, measured.
//!
//! The first tests check your measuring functions on the small busybox
//! image; the others build your `Dockerfile` (exercises/08-dockerizing/
//! Dockerfile, tagged `blog:ex08`) and check the image it makes: small, not
//! root, one service per command, and quick to stop.
//!
//! Needs a Docker engine; without one, every test says SKIPPED and returns.

mod docker_engine;

use std::time::Duration;

use blog_testkit::docker::wait_for_output;
use blog_testkit::eventually;
use docker_engine::{BUSYBOX, Containers, built_image, engine};
use dockerizing::{image_facts, stop_timed};

/// Exits 0 on SIGTERM; prints `ready` once its handler is set.
const POLITE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
];

#[tokio::test]
async fn image_facts_reads_the_size_the_user_and_the_entrypoint() {
    let Some(docker) = engine().await else { return };
    let facts = image_facts(&docker, BUSYBOX)
        .await
        .expect("busybox can be inspected");
    assert!(
        (500_000..20_000_000).contains(&facts.size_bytes),
        "busybox is a few MB; image_facts says {} bytes",
        facts.size_bytes
    );
    assert!(
        facts.runs_as_root(),
        "busybox sets no USER, so it runs as root: {facts:?}"
    );
    assert!(
        facts.entrypoint.is_empty(),
        "busybox has no ENTRYPOINT (only CMD [\"sh\"]): {facts:?}"
    );
    assert!(
        image_facts(&docker, "no-such-image:never").await.is_err(),
        "a missing image is an error"
    );
}

// ANCHOR: stop_tests
#[tokio::test]
async fn stop_timed_sees_a_program_that_stops_on_sigterm() {
    let Some(docker) = engine().await else { return };
    let containers = Containers::new(docker.clone());
    let id = containers.start(BUSYBOX, POLITE, None).await;
    wait_for_output(&docker, &id, "ready").await;

    let grace = Duration::from_secs(20);
    let stopped = stop_timed(&docker, &id, grace)
        .await
        .expect("stop_timed should succeed");

    assert_eq!(
        stopped.exit_code, 0,
        "its SIGTERM handler exits 0: {stopped:?}"
    );
    assert!(
        !stopped.killed,
        "it stopped by itself, nobody killed it: {stopped:?}"
    );
    assert!(
        stopped.took < grace,
        "it stopped long before the grace period ended: {stopped:?}"
    );
}

#[tokio::test]
async fn stop_timed_sees_a_process_1_that_ignores_sigterm_wait_out_the_grace_period() {
    let Some(docker) = engine().await else { return };
    let containers = Containers::new(docker.clone());
    // ping has no SIGTERM handler, and as process 1 it does not die of one.
    let id = containers
        .start(BUSYBOX, &["ping", "127.0.0.1"], None)
        .await;
    wait_for_output(&docker, &id, "bytes from 127.0.0.1").await;

    let grace = Duration::from_secs(2);
    let stopped = stop_timed(&docker, &id, grace)
        .await
        .expect("stop_timed should succeed");

    assert!(
        stopped.took >= grace,
        "docker stop waited the whole {grace:?}: {stopped:?}"
    );
    assert_eq!(
        stopped.exit_code, 137,
        "then it was killed: 128 + SIGKILL (9): {stopped:?}"
    );
    assert!(
        stopped.killed,
        "stop_timed must report that it was killed: {stopped:?}"
    );
}
// ANCHOR_END: stop_tests

// ANCHOR: image_tests
#[tokio::test]
async fn the_image_holds_the_blog_and_is_smaller_than_30_mb() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let facts = image_facts(&docker, tag)
        .await
        .expect("the image was just built");
    assert_eq!(
        facts.entrypoint,
        vec!["/usr/local/bin/blog".to_string()],
        "every container of {tag} must start the blog binary: ENTRYPOINT [\"/usr/local/bin/blog\"]"
    );
    let mb = facts.size_bytes as f64 / 1e6;
    assert!(
        mb < 30.0,
        "{tag} is {mb:.1} MB; it must be under 30 MB: ship only the binary on a small base, no compiler"
    );
}

#[tokio::test]
async fn the_image_runs_as_a_user_who_is_not_root() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let facts = image_facts(&docker, tag)
        .await
        .expect("the image was just built");
    assert!(
        !facts.runs_as_root(),
        "{tag} runs as root (USER is {:?}): set a USER that is not root, e.g. 65532:65532",
        facts.user
    );
}

#[tokio::test]
async fn the_command_chooses_the_service_and_docker_stop_takes_under_2_seconds() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let containers = Containers::new(docker.clone());
    let id = containers.start(tag, &["posts"], Some(4000)).await;
    let url = format!("http://127.0.0.1:{}", containers.host_port(&id, 4000).await);

    // The posts service answers on its port: it listens on 0.0.0.0 (HOST),
    // and it can write its database (DATA_DIR belongs to its user).
    let client = reqwest::Client::new();
    let answered = eventually(Duration::from_secs(20), async || {
        client.get(format!("{url}/healthz")).send().await.is_ok()
    })
    .await;
    assert!(
        answered,
        "`docker run {tag} posts` did not answer /healthz on port 4000 within 20 s. Its logs:\n{}",
        containers.logs(&id).await
    );
    let created = client
        .post(format!("{url}/posts"))
        .json(&serde_json::json!({ "title": "from a container" }))
        .send()
        .await
        .expect("POST /posts");
    assert_eq!(
        created.status(),
        201,
        "creating a post must work (can the service's user write DATA_DIR?). Its logs:\n{}",
        containers.logs(&id).await
    );

    let stopped = stop_timed(&docker, &id, Duration::from_secs(10))
        .await
        .expect("stop");
    assert_eq!(
        stopped.exit_code, 0,
        "the service must exit 0 on SIGTERM: {stopped:?}"
    );
    assert!(
        stopped.took < Duration::from_secs(2),
        "docker stop must take under 2 s; it took {:?}. Is the blog process 1, with no shell in between? \
         (ENTRYPOINT in exec form: [\"/usr/local/bin/blog\"])",
        stopped.took
    );
}
// ANCHOR_END: image_tests
