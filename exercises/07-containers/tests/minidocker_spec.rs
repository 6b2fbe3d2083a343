//! The specification of minidocker. Each test drives the real Docker engine
//! through your functions, then asks the engine itself (`docker inspect`)
//! what happened: does the container exist, does it run, how did it end?
//!
//! Needs a Docker engine; without one, every test says SKIPPED and returns.

mod docker_engine;
mod pseudo_terminal;

use std::time::{Duration, Instant};

use bollard::models::ContainerStateStatusEnum as Status;
use docker_engine::{BUSYBOX, POLITE, STUBBORN, Scratch};
use pseudo_terminal::PseudoTerminal;

// ANCHOR: run_test
#[tokio::test]
async fn run_creates_and_starts_a_container_streams_its_output_and_returns_its_exit_code() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let mut output = Vec::new();
    let finished = scratch
        .mini
        .run(
            BUSYBOX,
            &[
                "sh",
                "-c",
                "echo hello from a container; echo oops >&2; exit 3",
            ],
            &scratch.labels(),
            &mut output,
        )
        .await
        .expect("run should succeed: the command exists in busybox");
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.contains("hello from a container") && output.contains("oops"),
        "run must copy the container's stdout and stderr to `out`; got {output:?}"
    );
    assert_eq!(
        finished.exit_code, 3,
        "run must return the command's exit code"
    );

    // The engine agrees: the container exists and has exited with code 3.
    let state = scratch.state(&finished.id).await.unwrap_or_else(|| {
        panic!(
            "run returned id {:?}, but the engine has no such container",
            finished.id
        )
    });
    assert_eq!(
        state.status,
        Some(Status::EXITED),
        "after run the container has exited"
    );
    assert_eq!(state.exit_code, Some(3));
}
// ANCHOR_END: run_test

#[tokio::test]
async fn create_only_creates_and_start_runs_it() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch
        .mini
        .create(BUSYBOX, &["sh", "-c", "exit 7"], &scratch.labels())
        .await
        .expect("create should succeed");
    assert_eq!(
        scratch.status(&id).await,
        Status::CREATED,
        "create must not start the container"
    );
    scratch.mini.start(&id).await.expect("start should succeed");
    assert_eq!(
        scratch.wait_exited(&id).await,
        7,
        "start must run the container's command"
    );
}

#[tokio::test]
async fn the_command_must_exist_in_the_image() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let mut output = Vec::new();
    let result = scratch
        .mini
        .run(
            BUSYBOX,
            &["no-such-program"],
            &scratch.labels(),
            &mut output,
        )
        .await;
    let error = match result {
        Err(error) => format!("{error:#}"),
        Ok(finished) => panic!(
            "busybox has no `no-such-program`, so the container cannot start and run must fail; it returned {finished:?}"
        ),
    };
    assert!(
        error.contains("no-such-program"),
        "the error should come from the engine and name the missing command: {error}"
    );
}

// ANCHOR: ps_test
#[tokio::test]
async fn ps_lists_running_containers_and_ps_all_also_the_stopped_ones() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let running = scratch
        .mini
        .run_detached(BUSYBOX, POLITE, &scratch.labels())
        .await
        .expect("run_detached = create + start");
    scratch.wait_running(&running).await;
    let done = scratch
        .mini
        .run(BUSYBOX, &["true"], &scratch.labels(), &mut Vec::new())
        .await
        .expect("run should succeed")
        .id;

    let ps = scratch.mini.list(false).await.expect("ps should succeed");
    let row = ps
        .iter()
        .find(|row| row.id == running)
        .unwrap_or_else(|| panic!("ps must list the running container {running}: {ps:#?}"));
    assert_eq!(row.state, "running");
    assert_eq!(row.image, BUSYBOX);
    assert!(
        row.status.starts_with("Up"),
        "status of a running container: {:?}",
        row.status
    );
    assert!(
        !ps.iter().any(|row| row.id == done),
        "ps without --all must not list the container that has exited"
    );

    let all = scratch
        .mini
        .list(true)
        .await
        .expect("ps --all should succeed");
    let row = all
        .iter()
        .find(|row| row.id == done)
        .unwrap_or_else(|| panic!("ps --all must list the exited container {done}"));
    assert_eq!(row.state, "exited");
    assert!(
        row.status.starts_with("Exited (0)"),
        "status: {:?}",
        row.status
    );
    assert!(
        all.iter().any(|row| row.id == running),
        "ps --all lists running ones too"
    );
}
// ANCHOR_END: ps_test

// ANCHOR: stop_tests
#[tokio::test]
async fn stop_sends_sigterm_first_so_the_container_can_finish_cleanly() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch
        .mini
        .run_detached(BUSYBOX, POLITE, &scratch.labels())
        .await
        .expect("started");
    scratch.wait_ready(&id).await;

    let grace = Duration::from_secs(20);
    let started = Instant::now();
    scratch
        .mini
        .stop(&id, grace)
        .await
        .expect("stop should succeed");
    let took = started.elapsed();

    assert_eq!(
        scratch.wait_exited(&id).await,
        0,
        "the container exits 0 only when its SIGTERM handler runs: stop must send SIGTERM first"
    );
    assert!(
        took < grace,
        "the container finished at once, so stop must return before the {grace:?} grace period is over; it took {took:?}"
    );
}

#[tokio::test]
async fn stop_kills_a_container_that_ignores_sigterm_once_the_grace_period_is_over() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch
        .mini
        .run_detached(BUSYBOX, STUBBORN, &scratch.labels())
        .await
        .expect("started");
    scratch.wait_ready(&id).await;

    let grace = Duration::from_secs(2);
    let started = Instant::now();
    scratch
        .mini
        .stop(&id, grace)
        .await
        .expect("stop should succeed");
    let took = started.elapsed();

    assert!(
        took >= grace,
        "stop must give the container its whole grace period ({grace:?}) before killing it; it returned after {took:?}"
    );
    assert_eq!(
        scratch.wait_exited(&id).await,
        137,
        "after the grace period the engine kills it: exit code 137 = 128 + SIGKILL (9)"
    );
}

#[tokio::test]
async fn kill_does_not_ask_it_ends_the_container_at_once() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch
        .mini
        .run_detached(BUSYBOX, POLITE, &scratch.labels())
        .await
        .expect("started");
    scratch.wait_ready(&id).await;

    scratch.mini.kill(&id).await.expect("kill should succeed");

    assert_eq!(
        scratch.wait_exited(&id).await,
        137,
        "kill sends SIGKILL, which no handler can catch: exit code 137, not the 0 of a clean SIGTERM exit"
    );
}
// ANCHOR_END: stop_tests

// ANCHOR: exec_test
#[tokio::test]
async fn exec_runs_another_command_inside_the_running_container() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch.start_directly(POLITE).await;

    let mut output = Vec::new();
    let code = scratch
        .mini
        .exec(
            &id,
            &[
                "sh",
                "-c",
                "echo $((6 * 7)) > /tmp/answer; cat /tmp/answer; exit 5",
            ],
            None,
            &mut output,
        )
        .await
        .expect("exec should succeed");
    assert_eq!(
        String::from_utf8_lossy(&output).trim(),
        "42",
        "exec must copy the command's output"
    );
    assert_eq!(code, 5, "exec must return the command's exit code");

    // A shell fed from standard input, like `docker exec -i ID sh`: it sees
    // the file the first command wrote, because it is the same container.
    let mut output = Vec::new();
    let code = scratch
        .mini
        .exec(
            &id,
            &["sh"],
            Some(b"cat /tmp/answer\nhostname\nexit 0\n"),
            &mut output,
        )
        .await
        .expect("exec with input should succeed");
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.contains("42"),
        "the shell runs in the same container and sees /tmp/answer: {output:?}"
    );
    assert!(
        output.contains(&id[..12]),
        "a container's hostname is its short id, {}: {output:?}",
        &id[..12]
    );
    assert_eq!(code, 0);
    assert_eq!(
        scratch.status(&id).await,
        Status::RUNNING,
        "exec does not stop the container"
    );
}
// ANCHOR_END: exec_test

// ANCHOR: prune_test
#[tokio::test]
async fn prune_removes_stopped_containers_and_keeps_running_ones() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let Some(bystander) = Scratch::new().await else {
        return;
    };
    let mut finished = Vec::new();
    for _ in 0..2 {
        let run = scratch
            .mini
            .run(BUSYBOX, &["true"], &scratch.labels(), &mut Vec::new())
            .await;
        finished.push(run.expect("run should succeed").id);
    }
    let running = scratch
        .mini
        .run_detached(BUSYBOX, POLITE, &scratch.labels())
        .await
        .expect("started");
    scratch.wait_running(&running).await;
    let other = bystander
        .mini
        .run(BUSYBOX, &["true"], &bystander.labels(), &mut Vec::new())
        .await;
    let other = other.expect("run should succeed").id;

    let pruned = scratch
        .mini
        .prune(Some(&scratch.label))
        .await
        .expect("prune should succeed");

    for id in &finished {
        assert!(
            pruned.containers.contains(id),
            "prune must report the stopped container {id} it removed: {pruned:?}"
        );
        assert!(
            scratch.state(id).await.is_none(),
            "the stopped container {id} must be gone"
        );
    }
    assert!(
        scratch.state(&running).await.is_some(),
        "prune must keep running containers"
    );
    assert!(
        bystander.state(&other).await.is_some(),
        "prune with a label must keep stopped containers without that label"
    );
}
// ANCHOR_END: prune_test

/// The minidocker command of the crate under test (the exercise's or the
/// reference's: cargo names the binary after its package).
fn minidocker_command() -> std::process::Command {
    let program = option_env!("CARGO_BIN_EXE_ex07-containers")
        .or(option_env!("CARGO_BIN_EXE_minidocker"))
        .expect("cargo builds the crate's binary for its tests");
    let mut command = std::process::Command::new(program);
    // A panic (a `todo!()`) shows its message on the screen, not a backtrace.
    command.env("RUST_BACKTRACE", "0");
    command
}

// ANCHOR: exec_tty_test
#[tokio::test]
async fn exec_it_opens_a_shell_on_a_terminal_of_its_own() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let id = scratch.start_directly(POLITE).await;

    // `minidocker exec -it ID sh`, typed in a terminal 37 rows by 111 columns.
    let mut pty = PseudoTerminal::open(37, 111);
    let mut minidocker = pty.spawn(minidocker_command().args(["exec", "-it", &id, "sh"]));
    let patience = Duration::from_secs(20);
    let deadline = Instant::now() + patience;
    let mut prompt = false;
    while !prompt && Instant::now() < deadline {
        prompt = pty.wait_for("# ", Duration::from_millis(200));
        if !prompt
            && minidocker
                .0
                .try_wait()
                .expect("minidocker's status")
                .is_some()
        {
            pty.wait_for("\n\n", Duration::from_millis(200)); // its last words
            break;
        }
    }
    assert!(
        prompt,
        "`minidocker exec -it {} sh` should show the shell's prompt `/ # ` (sh prints \
         one only on a terminal); the screen shows {:?} (TODO 6 in src/exec.rs)",
        &id[..12],
        pty.screen()
    );
    assert!(
        pty.is_raw(),
        "while attached, our terminal must be raw: every key goes to the container's \
         terminal as it is typed, and only that terminal echoes"
    );

    pty.type_keys("tty; stty size; echo $((6 * 7))\r");
    for (expected, why) in [
        ("/dev/pts/", "the command runs on a terminal of its own"),
        ("37 111", "that terminal has the size of ours"),
        (
            "42",
            "what we type reaches the shell, and its output our screen",
        ),
    ] {
        assert!(
            pty.wait_for(expected, patience),
            "{why}: expected {expected:?} on the screen, which shows {:?}",
            pty.screen()
        );
    }

    // The window grows. A terminal tells the program in front (SIGWINCH);
    // ours is not minidocker's controlling terminal, so the test signals it.
    pty.resize(50, 132);
    let pid = rustix::process::Pid::from_child(&minidocker.0);
    let deadline = Instant::now() + patience;
    let mut resized = false;
    while !resized && Instant::now() < deadline {
        rustix::process::kill_process(pid, rustix::process::Signal::WINCH).expect("SIGWINCH");
        pty.type_keys("stty size\r");
        resized = pty.wait_for("50 132", Duration::from_millis(500));
    }
    assert!(
        resized,
        "after a resize (SIGWINCH), the container's terminal must get our new size, \
         50 x 132; the screen shows {:?}",
        pty.screen()
    );

    pty.type_keys("exit 3\r");
    let deadline = Instant::now() + patience;
    let status = loop {
        if let Some(status) = minidocker.0.try_wait().expect("minidocker's status") {
            break status;
        }
        if Instant::now() > deadline {
            panic!(
                "minidocker still runs 20 s after `exit 3` in its shell: {:?}",
                pty.screen()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.code(),
        Some(3),
        "minidocker exits with the shell's exit code; the screen shows {:?}",
        pty.screen()
    );
    assert!(
        !pty.is_raw(),
        "once the command has ended, our terminal must be back as it was (not raw)"
    );
    assert_eq!(
        scratch.status(&id).await,
        Status::RUNNING,
        "exec -it does not stop the container"
    );
}
// ANCHOR_END: exec_tty_test
