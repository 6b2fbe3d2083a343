//! `serve_from_env`, as a service's `main` runs it: in a process of its own.
//!
//! The test runs this very test binary again, with `SERVE_FROM_ENV_CHILD`
//! set, so that the child calls `serve_from_env` as `main` would, and the
//! parent looks at what a person would see: stderr and the exit code.

use std::process::Command;

use blog_runtime::{Server, Service, Settings, serve_from_env};

const CHILD: &str = "SERVE_FROM_ENV_CHILD";

/// The child's side: a service whose settings are read from the environment.
#[test]
fn child_process() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let code = serve_from_env(
        || Settings::from_env().listen_addr(Service::Posts),
        |addr| async move {
            // Bound, but told to stop at once: a clean start is not what this test is about.
            let server = Server::start(addr, axum::Router::new()).await?;
            server.stop().await;
            Err::<Server, std::io::Error>(std::io::Error::other("started, then asked to stop"))
        },
    );
    // `ExitCode` cannot be read back, so say which it was through the exit status.
    std::process::exit(if code == std::process::ExitCode::from(2) {
        2
    } else {
        1
    });
}

fn run_child(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_LOG", "off")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

#[test]
fn a_bad_setting_is_one_line_and_exit_code_2() {
    let (code, stderr) = run_child(&[("PORT", "abc")]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr,
        "error: PORT=\"abc\" is not valid: expected a port number from 0 to 65535"
    );
}

#[test]
fn a_service_that_cannot_start_is_one_line_and_exit_code_1() {
    let (code, stderr) = run_child(&[("PORT", "0")]);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(stderr, "error: started, then asked to stop");
}
