//! Runs a package's tests with cargo and reads what happened: the outcome,
//! every test with the file it came from (for the steps of an exercise), and
//! the tests that skipped themselves because this machine lacks something.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::exercises::Step;

/// The start of the line a test prints when it cannot run on this machine
/// (the Docker chapters' tests, without a Docker engine) and returns without
/// checking anything. Such a test "passes", but it proves nothing: a run that
/// printed this line is "not verified on this machine", never "done".
///
/// The tests print `SKIPPED: no Docker engine (<why>). Start Docker ...`.
/// Matching is lenient: the marker anywhere in a line of either stream counts,
/// and what follows it is the reason shown to the learner.
pub const SKIP_MARKER: &str = "SKIPPED:";

/// What `cargo test -p <package>` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every test passed; how many ran.
    Passed { tests: usize },
    /// The code compiled and at least one test failed.
    Failed {
        passed: usize,
        failed: Vec<String>,
        /// The first failing test's message, as the learner should read it.
        first_message: String,
    },
    /// The code did not compile; the first error.
    DidNotCompile { error: String },
}

impl Outcome {
    /// Cargo's verdict: every test that ran passed. Whether that proves
    /// anything is [`TestRun::is_done`]'s question.
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Passed { .. })
    }

    /// One line for a summary table.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Passed { tests } => format!("{tests} tests pass"),
            Outcome::Failed { passed, failed, .. } => {
                format!("{} of {} tests fail", failed.len(), passed + failed.len())
            }
            Outcome::DidNotCompile { .. } => "does not compile".to_string(),
        }
    }
}

/// One test as libtest reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Its name as libtest prints it (`module::name` for unit tests).
    pub name: String,
    /// The target it ran in, as cargo names it: `tests/posts_spec.rs`,
    /// `src/lib.rs` (unit tests), `doc-tests`; empty when it cannot be told.
    pub target: String,
    pub passed: bool,
    /// Why it failed (its `---- name stdout ----` block); empty when it passed.
    pub message: String,
}

/// Everything one run of an exercise's tests told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    pub outcome: Outcome,
    /// Every test that passed or failed (ignored ones are left out).
    pub cases: Vec<Case>,
    /// What each [`SKIP_MARKER`] line said, one per skipped test.
    pub skipped: Vec<String>,
    /// cargo's whole output, stdout then stderr.
    pub output: String,
}

/// Where a step of an exercise stands after a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Every test of the step passes.
    Passed { tests: usize },
    /// Its tests pass, but some tests of the run skipped themselves: nothing
    /// was checked on this machine.
    NotVerified { tests: usize },
    /// Some of its tests fail; `first` is the first of them.
    Failing {
        passed: usize,
        total: usize,
        first: String,
    },
    /// None of its tests passes, and each still stops at a stub's `todo!()`.
    NotStarted { tests: usize },
    /// The code does not compile, so no test ran.
    NotRun,
    /// No test of the run matches the step (a mistake in its Cargo.toml).
    NoTests,
}

impl StepState {
    /// The word in the status column.
    pub fn label(&self) -> &'static str {
        match self {
            StepState::Passed { .. } => "passed",
            StepState::NotVerified { .. } => "not verified",
            StepState::Failing { .. } => "failing",
            StepState::NotStarted { .. } => "not started",
            StepState::NotRun => "not run",
            StepState::NoTests => "no tests",
        }
    }

    /// The details after the step's name.
    pub fn detail(&self) -> String {
        match self {
            StepState::Passed { tests: 1 } => "1 test passes".to_string(),
            StepState::Passed { tests } => format!("{tests} tests pass"),
            StepState::NotVerified { tests } => {
                format!("{}, not checked: tests skipped themselves", count(*tests))
            }
            StepState::Failing { passed, total, .. } => {
                format!("{passed} of {} pass", count(*total))
            }
            StepState::NotStarted { tests } => format!("{}, each at a todo!()", count(*tests)),
            StepState::NotRun => "the code does not compile".to_string(),
            StepState::NoTests => {
                "no test matches this step: check its `tests` in Cargo.toml".to_string()
            }
        }
    }
}

/// "1 test", "3 tests".
fn count(tests: usize) -> String {
    if tests == 1 {
        "1 test".to_string()
    } else {
        format!("{tests} tests")
    }
}

/// What a stub's `todo!("...")` panics with.
const TODO_PANIC: &str = "not yet implemented";

impl TestRun {
    /// Every test passed and none skipped itself: done, on this machine.
    pub fn is_done(&self) -> bool {
        self.outcome.is_pass() && self.skipped.is_empty()
    }

    /// Every test that ran passed, but some only skipped themselves: nobody
    /// knows yet whether the code works.
    pub fn is_unverified(&self) -> bool {
        self.outcome.is_pass() && !self.skipped.is_empty()
    }

    /// Why the tests skipped, without repeats (usually one reason).
    pub fn skip_reasons(&self) -> Vec<&str> {
        let mut reasons: Vec<&str> = Vec::new();
        for reason in &self.skipped {
            if !reasons.contains(&reason.as_str()) {
                reasons.push(reason);
            }
        }
        reasons
    }

    /// Where `step` stands in this run.
    pub fn step_state(&self, step: &Step) -> StepState {
        if let Outcome::DidNotCompile { .. } = self.outcome {
            return StepState::NotRun;
        }
        let cases: Vec<&Case> = self
            .cases
            .iter()
            .filter(|c| step.selects(&c.name, &c.target))
            .collect();
        let passed = cases.iter().filter(|c| c.passed).count();
        match cases.iter().find(|c| !c.passed) {
            _ if cases.is_empty() => StepState::NoTests,
            None if self.skipped.is_empty() => StepState::Passed { tests: passed },
            None => StepState::NotVerified { tests: passed },
            Some(_) if passed == 0 && cases.iter().all(|c| c.message.contains(TODO_PANIC)) => {
                StepState::NotStarted { tests: cases.len() }
            }
            Some(first) => StepState::Failing {
                passed,
                total: cases.len(),
                first: first.name.clone(),
            },
        }
    }

    /// The message of the first failing test of `step`, if one fails.
    pub fn first_failure_in(&self, step: &Step) -> Option<&Case> {
        self.cases
            .iter()
            .find(|c| !c.passed && step.selects(&c.name, &c.target))
    }
}

/// Runs `cargo test -p <package>` in `root` and reads its output.
///
/// `--no-fail-fast`: cargo would otherwise stop at the first test binary
/// that fails, and the learner would never see the others' messages.
pub fn test(root: &Path, package: &str) -> Result<TestRun> {
    let output = Command::new(cargo())
        .current_dir(root)
        .args(["test", "--color", "never", "--no-fail-fast", "-p", package])
        // Short panic messages: the learner reads the test's words, not a backtrace.
        .env("RUST_BACKTRACE", "0")
        .output()
        .with_context(|| format!("running cargo test -p {package}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(read(&stdout, &stderr, output.status.success()))
}

/// [`test`], for callers that only need the outcome and the output.
pub fn run(root: &Path, package: &str) -> Result<(Outcome, String)> {
    let run = test(root, package)?;
    Ok((run.outcome, run.output))
}

/// The cargo that runs us (so `cargo +nightly workbook` stays on nightly).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Reads libtest's output when stdout and stderr were read together, in one
/// text (the tests of this module, and callers that only have that).
pub fn parse(output: &str, success: bool) -> Outcome {
    read(output, "", success).outcome
}

/// Reads a cargo test run. `stdout` holds the test binaries' reports,
/// `stderr` cargo's own lines (`Running tests/x.rs (...)`, one per binary,
/// in the same order) and whatever the tests wrote past the capture.
/// `success` is cargo's exit status.
pub fn read(stdout: &str, stderr: &str, success: bool) -> TestRun {
    let output = format!("{stdout}{stderr}");
    let skipped = [stdout, stderr]
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| {
            line.find(SKIP_MARKER)
                .map(|at| line[at..].trim().to_string())
        })
        .collect();

    // cargo names each binary on stderr, in the order the binaries report on
    // stdout; when the two lists do not line up, the targets stay unknown.
    let reports = binary_reports(stdout);
    let mut targets: Vec<String> = [stderr, stdout]
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(target_of)
        .collect();
    if targets.len() + 1 != reports.len() {
        targets = vec![String::new(); reports.len() - 1];
    }
    // What comes before the first `running N tests` belongs to no binary.
    targets.insert(0, String::new());

    let mut cases = Vec::new();
    let mut passed = 0;
    let mut any_result = false;
    for (report, target) in reports.iter().zip(&targets) {
        for line in report.lines() {
            if let Some(rest) = line.strip_prefix("test result: ") {
                any_result = true;
                passed += number_before(rest, " passed");
            } else if let Some((name, result)) = line
                .strip_prefix("test ")
                .and_then(|l| l.rsplit_once(" ... "))
            {
                let name = name.trim_end_matches(" - should panic").to_string();
                let ok = match result {
                    "ok" => true,
                    r if r.starts_with("FAILED") => false,
                    _ => continue, // ignored, bench
                };
                let message = if ok {
                    String::new()
                } else {
                    failure_message(report, &name)
                };
                cases.push(Case {
                    name,
                    target: target.clone(),
                    passed: ok,
                    message,
                });
            }
        }
    }
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.clone())
        .collect();
    let outcome = if success && failed.is_empty() {
        Outcome::Passed { tests: passed }
    } else if !any_result && failed.is_empty() {
        Outcome::DidNotCompile {
            error: first_compile_error(&output),
        }
    } else {
        Outcome::Failed {
            passed,
            first_message: first_failure_message(stdout),
            failed,
        }
    };
    TestRun {
        outcome,
        cases,
        skipped,
        output,
    }
}

/// `     Running tests/posts_spec.rs (target/...)` -> `tests/posts_spec.rs`;
/// `Running unittests src/lib.rs (...)` -> `src/lib.rs`; `Doc-tests x` -> `doc-tests`.
fn target_of(line: &str) -> Option<String> {
    let line = line.trim_start();
    if line.starts_with("Doc-tests ") {
        return Some("doc-tests".to_string());
    }
    let rest = line.strip_prefix("Running ")?;
    let rest = rest.strip_prefix("unittests ").unwrap_or(rest);
    Some(rest.split(" (").next().unwrap_or(rest).trim().to_string())
}

/// stdout cut into one piece per test binary (each starts `running N tests`),
/// after what came before the first of them.
fn binary_reports(stdout: &str) -> Vec<String> {
    let mut reports: Vec<String> = vec![String::new()];
    for line in stdout.lines() {
        let starts =
            line.starts_with("running ") && (line.ends_with(" tests") || line.ends_with(" test"));
        if starts {
            reports.push(String::new());
        }
        let report = reports.last_mut().expect("there is always a first piece");
        report.push_str(line);
        report.push('\n');
    }
    reports
}

fn number_before(text: &str, marker: &str) -> usize {
    let Some(end) = text.find(marker) else {
        return 0;
    };
    text[..end]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The lines of one `---- name stdout ----` block that a learner should read.
fn block_body<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines
        .take_while(|l| {
            !(l.starts_with("---- ") || *l == "failures:" || l.starts_with("test result:"))
        })
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body of the failure block of test `name` in one binary's report.
fn failure_message(report: &str, name: &str) -> String {
    let header = format!("---- {name} stdout ----");
    let mut lines = report.lines().skip_while(|l| *l != header);
    if lines.next().is_none() {
        return String::new();
    }
    block_body(lines)
}

/// The body of the first `---- name stdout ----` block, without noise.
fn first_failure_message(output: &str) -> String {
    let mut lines = output
        .lines()
        .skip_while(|l| !(l.starts_with("---- ") && l.ends_with(" ----")));
    let Some(header) = lines.next() else {
        return "a test failed; run the tests to see why".to_string();
    };
    let name = header
        .trim_start_matches("---- ")
        .trim_end_matches(" ----")
        .trim_end_matches(" stdout");
    format!("{name}:\n{}", block_body(lines))
}

fn first_compile_error(output: &str) -> String {
    let mut lines = output.lines().skip_while(|l| !l.starts_with("error"));
    let mut error: Vec<&str> = Vec::new();
    if let Some(first) = lines.next() {
        error.push(first);
        error.extend(lines.take_while(|l| !l.is_empty()).take(12));
    }
    if error.is_empty() {
        "cargo failed before running any test".to_string()
    } else {
        error.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: &str = "running 2 tests
test a ... ok
test b ... FAILED

failures:

---- b stdout ----

thread 'b' panicked at tests/x.rs:1:1:
POST /posts should answer 201
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

failures:
    b

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
";

    #[test]
    fn reads_a_failure_and_its_message() {
        match parse(FAILED, false) {
            Outcome::Failed {
                passed,
                failed,
                first_message,
            } => {
                assert_eq!(passed, 1);
                assert_eq!(failed, vec!["b".to_string()]);
                assert!(first_message.starts_with("b:"), "{first_message}");
                assert!(
                    first_message.contains("should answer 201"),
                    "{first_message}"
                );
                assert!(!first_message.contains("RUST_BACKTRACE"), "{first_message}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn reads_success_and_counts_every_binary() {
        let output = "test result: ok. 3 passed; 0 failed\ntest result: ok. 5 passed; 0 failed\n";
        assert_eq!(parse(output, true), Outcome::Passed { tests: 8 });
    }

    #[test]
    fn tells_a_compile_error_from_a_failing_test() {
        let output = "   Compiling x\nerror[E0425]: cannot find value `y`\n --> src/lib.rs:1:1\n\nerror: could not compile\n";
        match parse(output, false) {
            Outcome::DidNotCompile { error } => assert!(error.contains("E0425"), "{error}"),
            other => panic!("expected a compile error, got {other:?}"),
        }
    }

    /// What `cargo test -p ex07-containers` prints on a machine without
    /// Docker: cargo's lines and the tests' SKIPPED lines on stderr, libtest's
    /// report (all "ok") on stdout.
    const NO_DOCKER_STDOUT: &str = "
running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s


running 2 tests
test run_is_create_then_start ... ok
test stop_is_polite_kill_is_not ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s

";
    const NO_DOCKER_STDERR: &str = "    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.21s
     Running unittests src/lib.rs (target/debug/deps/minidocker-1)
     Running tests/minidocker_spec.rs (target/debug/deps/minidocker_spec-2)
SKIPPED: no Docker engine (error trying to connect: No such file or directory (os error 2)). Start Docker to run this test; REQUIRE_DOCKER=1 makes this a failure.
SKIPPED: no Docker engine (error trying to connect: No such file or directory (os error 2)). Start Docker to run this test; REQUIRE_DOCKER=1 makes this a failure.
";

    #[test]
    fn tests_that_skipped_themselves_are_not_verified_not_done() {
        let run = read(NO_DOCKER_STDOUT, NO_DOCKER_STDERR, true);
        assert!(run.outcome.is_pass(), "cargo itself says ok");
        assert!(!run.is_done(), "a skipped test proves nothing: {run:?}");
        assert!(run.is_unverified());
        assert_eq!(run.skipped.len(), 2);
        assert_eq!(run.skip_reasons().len(), 1, "the same reason once");
        assert!(
            run.skip_reasons()[0].starts_with("SKIPPED: no Docker engine"),
            "{:?}",
            run.skip_reasons()
        );
    }

    #[test]
    fn the_skip_marker_is_found_anywhere_in_a_line_of_either_stream() {
        let indented = "running 1 test\n  [docker] SKIPPED: no engine here\ntest a ... ok\ntest result: ok. 1 passed; 0 failed\n";
        let run = read(indented, "", true);
        assert_eq!(run.skipped, vec!["SKIPPED: no engine here".to_string()]);
        let clean = read(
            "running 1 test\ntest a ... ok\ntest result: ok. 1 passed; 0 failed\n",
            "",
            true,
        );
        assert!(clean.is_done(), "{clean:?}");
    }

    /// Two binaries, as `cargo test --no-fail-fast -p ex02-comments` prints
    /// them on the stub: one green file, one red.
    const TWO_BINARIES_STDOUT: &str = "
running 1 test
test comments_are_listed ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s


running 2 tests
test asks_posts ... FAILED
test gives_up_in_time ... FAILED

failures:

---- asks_posts stdout ----

thread 'asks_posts' panicked at src/post_lookup/http.rs:45:9:
not yet implemented: TODO 1 in src/post_lookup/http.rs: build a client

---- gives_up_in_time stdout ----

thread 'gives_up_in_time' panicked at tests/sync_spec.rs:80:5:
a comment while posts is down should answer 503, got 500

failures:
    asks_posts
    gives_up_in_time

test result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.31s

";
    const TWO_BINARIES_STDERR: &str =
        "     Running tests/comments_spec.rs (target/debug/deps/comments_spec-1)
     Running tests/sync_spec.rs (target/debug/deps/sync_spec-2)
error: test failed, to rerun pass `-p ex02-comments --test sync_spec`
error: 1 target failed:
    `-p ex02-comments --test sync_spec`
";

    #[test]
    fn each_test_is_read_with_its_file_and_its_own_message() {
        let run = read(TWO_BINARIES_STDOUT, TWO_BINARIES_STDERR, false);
        let names: Vec<(&str, &str, bool)> = run
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.target.as_str(), c.passed))
            .collect();
        assert_eq!(
            names,
            vec![
                ("comments_are_listed", "tests/comments_spec.rs", true),
                ("asks_posts", "tests/sync_spec.rs", false),
                ("gives_up_in_time", "tests/sync_spec.rs", false),
            ]
        );
        assert!(
            run.cases[1].message.contains("TODO 1"),
            "{:?}",
            run.cases[1]
        );
        assert!(
            run.cases[2].message.contains("should answer 503"),
            "{:?}",
            run.cases[2]
        );
        assert!(
            !run.cases[2].message.contains("TODO 1"),
            "a message stops at the next block"
        );
        assert_eq!(run.outcome.summary(), "2 of 3 tests fail");
    }

    fn step(name: &str, tests: &[&str]) -> Step {
        Step {
            name: name.to_string(),
            tests: tests.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_step_is_passed_failing_or_not_started_from_its_own_tests() {
        let run = read(TWO_BINARIES_STDOUT, TWO_BINARIES_STDERR, false);
        assert_eq!(
            run.step_state(&step("given", &["comments_spec.rs"])),
            StepState::Passed { tests: 1 }
        );
        assert_eq!(
            run.step_state(&step("client", &["asks_"])),
            StepState::NotStarted { tests: 1 }
        );
        assert_eq!(
            run.step_state(&step("lookup", &["tests/sync_spec.rs"])),
            StepState::Failing {
                passed: 0,
                total: 2,
                first: "asks_posts".to_string()
            }
        );
        assert_eq!(
            run.step_state(&step("typo", &["nothing_like_this"])),
            StepState::NoTests
        );
        assert_eq!(
            run.first_failure_in(&step("lookup", &["gives_"]))
                .unwrap()
                .name,
            "gives_up_in_time"
        );
    }

    #[test]
    fn steps_are_not_verified_when_tests_skipped_and_not_run_when_nothing_compiled() {
        let run = read(NO_DOCKER_STDOUT, NO_DOCKER_STDERR, true);
        assert_eq!(
            run.step_state(&step("run", &["run_"])),
            StepState::NotVerified { tests: 1 }
        );
        let broken = read("", "error[E0425]: cannot find value `y`\n", false);
        assert_eq!(
            broken.step_state(&step("run", &["run_"])),
            StepState::NotRun
        );
    }
}
