//! `cargo workbook` tells the truth, run as a learner runs it, on a tiny
//! workbook of one exercise whose test skips itself the way the Docker
//! chapters' tests do when no engine answers:
//!
//! - a test that skipped itself is "not verified on this machine", never
//!   "done", in `status`, in watch mode and for `solution`;
//! - into a pipe, `status` prints whole lines: no carriage returns, no colours;
//! - the exercise's steps get a line each.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// One exercise (`ex01-x`, with one step) and its solution. Its test skips
/// itself, loudly, when `FAKE_ENGINE=missing`; otherwise it checks the answer,
/// which the stub leaves at a `todo!()`.
fn tiny_workbook() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"exercises/01-x\", \"solutions/01-x\"]\nresolver = \"3\"\n",
    );
    write(
        "exercises/01-x/Cargo.toml",
        r#"[package]
name = "ex01-x"
version = "0.1.0"
edition = "2024"

[lib]
name = "x"

[package.metadata.workbook]
chapter = 1
title = "The answer"
solution = "solutions/01-x"
book = "book/x.md"
needs = []
steps = [{ name = "Find the answer", tests = ["the_answer_"] }]
"#,
    );
    write(
        "exercises/01-x/src/lib.rs",
        "pub fn answer() -> u32 {\n    todo!(\"TODO 1 in src/lib.rs: the answer\")\n}\n",
    );
    write(
        "exercises/01-x/tests/x_spec.rs",
        r#"use std::io::Write;

#[test]
fn the_answer_is_42() {
    if std::env::var("FAKE_ENGINE").is_ok_and(|v| v == "missing") {
        let _ = writeln!(std::io::stderr(), "SKIPPED: no Docker engine (FAKE_ENGINE=missing). Start Docker to run this test.");
        return;
    }
    assert_eq!(x::answer(), 42);
}
"#,
    );
    write(
        "solutions/01-x/Cargo.toml",
        r#"[package]
name = "x"
version = "0.1.0"
edition = "2024"

[[test]]
name = "x_spec"
path = "../../exercises/01-x/tests/x_spec.rs"
"#,
    );
    write(
        "solutions/01-x/src/lib.rs",
        "pub fn answer() -> u32 {\n    42\n}\n",
    );
    root
}

/// Runs `cargo workbook <args>` on the tiny workbook, its output into pipes
/// (not a terminal) and `stdin` as what the learner types.
fn workbook(root: &Path, args: &[&str], engine: &str, stdin: &str) -> (Output, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbook"))
        .args(args)
        .env("WORKBOOK_ROOT", root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .env("FAKE_ENGINE", engine)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

fn passed_in_state(root: &Path) -> bool {
    let state = std::fs::read_to_string(root.join(".workbook-state.toml")).unwrap_or_default();
    state
        .lines()
        .any(|l| l.starts_with("passed") && l.contains("ex01-x"))
}

#[test]
fn status_says_not_verified_for_skipped_tests_in_plain_lines() {
    let root = tiny_workbook();
    let (output, stdout) = workbook(root.path(), &["status"], "missing", "");
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains('\r') && !stdout.contains('\u{1b}'),
        "into a pipe, whole lines only: {stdout:?}"
    );
    assert!(stdout.contains("not verified"), "{stdout}");
    assert!(
        stdout.contains("0/1 exercises done"),
        "a skipped test is not done: {stdout}"
    );
    assert!(!passed_in_state(root.path()), "not remembered as passed");
}

#[test]
fn status_shows_a_line_per_step() {
    let root = tiny_workbook();
    let (_, stdout) = workbook(root.path(), &["status"], "here", "");
    let step = stdout
        .lines()
        .find(|l| l.contains("Find the answer"))
        .unwrap_or_else(|| panic!("no step line: {stdout}"));
    assert!(
        step.contains("step 1") && step.contains("not started"),
        "{step}"
    );
    assert!(stdout.contains("todo chapter  1"), "{stdout}");
}

#[test]
fn watch_does_not_count_skipped_tests_as_passed() {
    let root = tiny_workbook();
    // One run, then `q`.
    let (output, stdout) = workbook(root.path(), &[], "missing", "q\n");
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("not verified on this machine"), "{stdout}");
    assert!(!stdout.contains("Well done"), "{stdout}");
    assert!(!passed_in_state(root.path()), "not remembered as passed");
}

#[test]
fn solution_asks_first_when_the_tests_only_skipped() {
    let root = tiny_workbook();
    // The learner answers nothing (Enter): no.
    let (_, stdout) = workbook(root.path(), &["solution", "1"], "missing", "\n");
    assert!(
        stdout.contains("not verified"),
        "says why it asks: {stdout}"
    );
    assert!(stdout.contains("[y/N]"), "asks: {stdout}");
    assert!(
        !stdout.contains("+    42"),
        "and shows nothing when told no: {stdout}"
    );

    let (_, stdout) = workbook(root.path(), &["solution", "1", "--yes"], "missing", "");
    assert!(
        stdout.contains("exercises/01-x/src/lib.rs"),
        "names the file to change: {stdout}"
    );
    assert!(stdout.contains("+    42"), "the diff: {stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no colours into a pipe: {stdout:?}"
    );
}
