//! The specification of chapter 8: the blog's image, measured.
//!
//! The first tests (step 1) check your measuring functions on the small
//! busybox image; the others build your `Dockerfile` (exercises/08-dockerizing/
//! Dockerfile, tagged `blog:ex08`) and check the image it makes: a second
//! build after an edit that reuses the compiled dependencies (step 2), only
//! the binary on a small base without shell or compiler (step 3), and a user
//! who is not root, one service per command, quick to stop (step 4).
//!
//! The image is built once per run, and once more after an edit; Docker's
//! cache keeps both quick after the first run. The image tests read the
//! image with the engine directly, not through your `image_facts`, so each
//! step's tests fail for that step's reason only.
//!
//! Needs a Docker engine; without one, every test says SKIPPED and returns.

mod docker_engine;

use std::time::Duration;

use blog_testkit::docker::wait_for_output;
use blog_testkit::eventually;
use docker_engine::{
    BUSYBOX, Containers, build_after_a_source_change, built_image, compiled_crates, config_of,
    dockerfile_and_tag, engine, size_of, user_line_of_final_stage,
};
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

// ANCHOR: cache_test
#[tokio::test]
async fn a_source_only_change_recompiles_the_blog_but_no_dependency() {
    let Some(docker) = engine().await else { return };
    let log = build_after_a_source_change(&docker).await;
    let (own, dependencies) = compiled_crates(&log);
    assert!(
        own.iter().any(|name| name == "blog"),
        "after an edit of solutions/blog/src/main.rs, the build compiled no `blog` \
         (it compiled {own:?}). TODO 3 in exercises/08-dockerizing/Dockerfile (step 2): \
         a build stage that runs cargo build --release --package blog on the sources"
    );
    assert!(
        dependencies.is_empty(),
        "an edit of one source file recompiled {} dependencies ({}...): their layer was \
         not taken from Docker's cache. TODO 3 in exercises/08-dockerizing/Dockerfile (step 2): \
         build the dependencies in a layer made only of the manifests and Cargo.lock, \
         and copy the sources after it",
        dependencies.len(),
        dependencies
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
}
// ANCHOR_END: cache_test

// ANCHOR: runtime_tests
/// What an image must not carry: a shell (anyone who gets into the container
/// gets one) or the tools that built it (hundreds of MB, and a compiler for
/// whoever gets in).
const NOT_SHIPPED: &[&str] = &[
    "sh", "bash", "dash", "ash", "busybox", "cargo", "rustc", "cc", "gcc", "c++", "apt-get",
];

#[tokio::test]
async fn the_image_holds_the_blog_binary_and_no_shell_or_compiler() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let containers = Containers::new(docker.clone());
    let files = containers.files_of(tag).await;
    assert!(
        files.iter().any(|f| f == "usr/local/bin/blog"),
        "{tag} has no /usr/local/bin/blog. TODO 4 in exercises/08-dockerizing/Dockerfile \
         (step 3): a last stage that copies the binary from the build stage to /usr/local/bin/blog"
    );
    let shipped: Vec<&String> = files
        .iter()
        .filter(|f| NOT_SHIPPED.contains(&f.rsplit('/').next().unwrap_or_default()))
        .collect();
    assert!(
        shipped.is_empty(),
        "{tag} ships {shipped:?}. TODO 4 in exercises/08-dockerizing/Dockerfile (step 3): \
         the last stage starts from a base with no shell and no compiler, and only the binary comes in"
    );
    assert!(
        !containers.can_run(tag, "sh").await,
        "`docker run --entrypoint sh {tag}` opens a shell. TODO 4 (step 3): a base without one"
    );
}

/// Under 30 MB: the distroless `cc` base (glibc, libgcc, libssl, CA
/// certificates, time zones) is about 23 MB, and the blog's release binary a
/// few more. An image over it ships something it should not: the Rust image
/// alone is 900 MB, `target/` gigabytes, even a Debian slim base 75 MB.
const MAX_MB: f64 = 30.0;

#[tokio::test]
async fn the_image_is_smaller_than_30_mb() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let files = Containers::new(docker.clone()).files_of(tag).await;
    assert!(
        files.iter().any(|f| f == "usr/local/bin/blog"),
        "{tag} has no /usr/local/bin/blog, so its size says nothing yet. TODO 4 in \
         exercises/08-dockerizing/Dockerfile (step 3): copy the binary into the last stage"
    );
    let mb = size_of(&docker, tag).await as f64 / 1e6;
    assert!(
        mb < MAX_MB,
        "{tag} is {mb:.1} MB; it must be under {MAX_MB} MB. TODO 4 (step 3): ship only the \
         binary, on a small base, and build it for size (the chapter's release settings)"
    );
}
// ANCHOR_END: runtime_tests

// ANCHOR: user_tests
#[tokio::test]
async fn the_image_runs_as_the_user_its_own_user_line_names() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let (dockerfile, _) = dockerfile_and_tag();
    let Some(user) = user_line_of_final_stage(&dockerfile) else {
        panic!(
            "the last stage of {} has no USER line, so its containers run as whatever user its \
             base says (root, for the base the exercise starts from). TODO 5 (step 4): a USER \
             that is not root, e.g. 65532:65532",
            dockerfile.display()
        )
    };
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "0" && uid != "root",
        "the USER line names {user}, which is root. TODO 5 (step 4): a user who is not root"
    );
    let config = config_of(&docker, tag).await;
    assert_eq!(
        config.user.as_deref(),
        Some(user.as_str()),
        "{tag}'s user must be the one your USER line names"
    );
    // Where it counts: the process, as the host's `ps` sees it.
    let containers = Containers::new(docker.clone());
    let id = containers
        .start_with(tag, Some(&["/usr/local/bin/blog"]), &["posts"], None)
        .await;
    let seen = containers.uid_of_process(&id).await;
    assert_eq!(
        seen.as_deref(),
        Some(uid),
        "`blog posts` in {tag} must run as uid {uid} (docker top); it ran as {seen:?}. Its logs:\n{}",
        containers.logs(&id).await
    );
}

#[tokio::test]
async fn the_command_chooses_the_service_and_docker_stop_takes_under_2_seconds() {
    let Some(docker) = engine().await else { return };
    let tag = built_image();
    let entrypoint = config_of(&docker, tag).await.entrypoint.unwrap_or_default();
    assert_eq!(
        entrypoint,
        vec!["/usr/local/bin/blog".to_string()],
        "every container of {tag} must start the blog binary. TODO 5 (step 4): \
         ENTRYPOINT in exec form, naming /usr/local/bin/blog"
    );
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
// ANCHOR_END: user_tests
