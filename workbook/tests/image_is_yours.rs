//! `cargo workbook image --mine` really ships the learner's code, on the real
//! Docker engine.
//!
//! On a copy of the workspace where ex05 (moderation) is solved, with one
//! difference its tests allow (an extra line at start-up), and every other
//! exercise left as handed out, the command must:
//! - say that moderation is yours and the other services the reference;
//! - build an image whose moderation prints that line (so it is the
//!   learner's crate, not the reference);
//! - and whose posts works (ex01's stub would answer a `todo!()`): an
//!   unsolved exercise falls back to the reference.
//!
//! Needs a Docker engine: without one it says SKIPPED and passes, unless
//! REQUIRE_DOCKER=1 (CI): then it fails. With `WORKBOOK_DOCKER_OFFLINE=1` it
//! builds through scripts/docker-offline-build.sh, as CI does. The build
//! reuses Docker's cached dependency layer (the copy's manifests are the
//! repository's), so it costs one release build of the workspace's own code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The line the learner's moderation prints when it starts.
const LEARNERS_LINE: &str = "moderation, as the learner wrote it, starting";

/// `docker ARGS`, its output whatever the outcome.
fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `true` when a Docker engine answers; otherwise SKIPPED, or a failure
/// under REQUIRE_DOCKER=1 (the test kit's gate).
fn engine_answers() -> bool {
    let answer = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let reason = match answer {
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
        Err(error) => format!("cannot run docker: {error}"),
    };
    blog_testkit::skip_unless_required(
        "REQUIRE_DOCKER",
        &format!("no Docker engine answers ({reason}); start Docker to run this test"),
    );
    false
}

/// Every file git knows of (tracked, or new and not ignored): what a
/// learner's checkout holds, without build output. Each copy keeps its
/// file's modification time, so that cargo, which decides by dates, finds
/// the copy's crates already built by the last run (the copy always lives
/// at the same place); only what changed since compiles again.
fn copy_workspace(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(from)
        .output()
        .expect("git runs");
    assert!(
        listed.status.success(),
        "git ls-files failed in {}",
        from.display()
    );
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).expect("UTF-8 paths"));
        let source = from.join(file);
        // Deleted but not yet committed: not part of the checkout.
        if !source.is_file() {
            continue;
        }
        let target = to.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
        let modified = std::fs::metadata(&source).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&target)
            .and_then(|file| file.set_modified(modified))
            .unwrap();
    }
}

/// Solves ex05 the way a learner might: the reference's code, plus a line
/// of their own at start-up (which the exercise's tests do not mind).
fn solve_moderation(root: &Path) {
    let solution = root.join("solutions/05-moderation/src");
    let exercise = root.join("exercises/05-moderation/src");
    for entry in std::fs::read_dir(&solution).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, exercise.join(path.file_name().unwrap())).unwrap();
    }
    let lib = exercise.join("lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    let start = code
        .find("pub async fn start(")
        .expect("moderation's lib.rs has `pub async fn start(`");
    let body = start + code[start..].find("{\n").expect("start has a body") + 2;
    let code = format!(
        "{}    eprintln!(\"{LEARNERS_LINE}\");\n{}",
        &code[..body],
        &code[body..]
    );
    std::fs::write(&lib, code).unwrap();
}

fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
}

/// Removes `<profile>/.fingerprint/<package>-*` under `target`: cargo then
/// rebuilds that package (and what depends on it) the next time it is asked.
fn forget_builds_of(target: &Path, package: &str) {
    let prefix = format!("{package}-");
    for profile in ["debug", "release"] {
        let Ok(entries) = std::fs::read_dir(target.join(profile).join(".fingerprint")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_dir_all(entry.path())
                    .unwrap_or_else(|error| panic!("removing {}: {error}", entry.path().display()));
            }
        }
    }
}

/// The image and containers of one run, removed when it ends, pass or fail.
struct Cleanup {
    image: String,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            docker(&["rm", "-f", container]);
        }
        docker(&["rmi", "-f", &self.image]);
    }
}

impl Cleanup {
    /// `docker run -d` of one service of the image, its port published on 127.0.0.1.
    fn run(&mut self, service: &str, port: u16) -> String {
        let name = format!("{}-{service}", self.image.replace([':', '/'], "-"));
        let publish = format!("127.0.0.1::{port}");
        let started = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &publish,
            &self.image,
            service,
        ]);
        assert!(
            started.status.success(),
            "docker run {service}: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        self.containers.push(name.clone());
        name
    }
}

fn logs(container: &str) -> String {
    let output = docker(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits for `ready` with a deadline; what it last saw if it never came.
fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match ready() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: not within 60 s; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn the_image_mine_runs_the_learners_moderation_and_the_reference_posts() {
    if !engine_answers() {
        return;
    }
    let repo = workbook::repo_root();
    let target = target_dir(&repo);
    // Under the build folder, where cargo and git leave it alone; made anew each run.
    let copy = target.join("image-is-yours/workspace");
    copy_workspace(&repo, &copy);
    solve_moderation(&copy);

    let image = format!("blog:mine-test-{}", std::process::id());
    let mut cleanup = Cleanup {
        image: image.clone(),
        containers: Vec::new(),
    };
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_workbook"))
        .args(["image", "--mine", "--tag", &image])
        .env("WORKBOOK_ROOT", &copy)
        // The repository's build cache: only the copy's own crates compile again.
        .env("CARGO_TARGET_DIR", &target)
        // Offline, the vendored crates stay here between runs.
        .env(
            "WORKBOOK_DOCKER_CACHE",
            target.join("docker-offline-mine-test"),
        )
        .output()
        .unwrap();
    // The copy's solved ex05 was built into the repository's cache under the
    // same name as the real, unsolved stub, and with newer dates: cargo would
    // take it for the stub's build (and `cargo xtask verify` would find the
    // untouched stub passing its tests). Forget ex05's fingerprints, so the
    // next build of the real stub compiles it again. Not `cargo clean -p`:
    // that deletes every `libmoderation-*`, the reference service's too,
    // which later doctests in the same `cargo test` still link against.
    forget_builds_of(&target, "ex05-moderation");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // What the learner sees (shown with --nocapture, or when the test fails).
    eprintln!(
        "{shown}\n`cargo workbook image --mine` took {} s",
        started.elapsed().as_secs()
    );
    assert!(
        output.status.success(),
        "cargo workbook image --mine failed:\n{shown}"
    );
    for (service, whose) in [
        ("moderation", "yours      exercises/05-moderation"),
        (
            "posts",
            "reference  `cargo test -p ex01-posts` does not pass yet",
        ),
    ] {
        assert!(
            shown
                .lines()
                .any(|line| line.trim_start().starts_with(service) && line.contains(whose)),
            "it says {service} is {whose:?}:\n{shown}"
        );
    }
    let label = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.workbook.mine\"}}",
        &image,
    ]);
    assert_eq!(
        stdout(&label),
        "moderation",
        "the image's label lists the learner's services"
    );

    // The learner's moderation: its own line, which the reference never prints.
    let moderation = cleanup.run("moderation", 4003);
    wait_for("the learner's line in moderation's logs", || {
        let logs = logs(&moderation);
        if logs.contains(LEARNERS_LINE) {
            Ok(())
        } else {
            Err(logs)
        }
    });

    // The reference posts: it creates a post (ex01's stub would stop at a todo!()).
    let posts = cleanup.run("posts", 4000);
    let port = stdout(&docker(&["port", &posts, "4000/tcp"]));
    let address = port
        .lines()
        .next()
        .expect("posts' port is published")
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let created: serde_json::Value = wait_for("a post created by the image's posts", || {
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("http://{address}/posts/create"))
                .json(&serde_json::json!({ "title": "Mine, or not?" }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status() != 201 {
                return Err(format!("{}: {}", response.status(), logs(&posts)));
            }
            response.json().await.map_err(|e| e.to_string())
        })
    });
    assert_eq!(created["title"], "Mine, or not?");
    assert!(
        !logs(&posts).contains("not yet implemented"),
        "posts is the reference, not ex01's stub:\n{}",
        logs(&posts)
    );
}
