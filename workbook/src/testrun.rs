//! Runs a package's tests with cargo and reads what happened.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

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

/// Runs `cargo test -p <package>` in `root` and reads its output.
pub fn run(root: &Path, package: &str) -> Result<(Outcome, String)> {
    let output = Command::new(cargo())
        .current_dir(root)
        .args(["test", "--color", "never", "--no-fail-fast", "-p", package])
        // Short panic messages: the learner reads the test's words, not a backtrace.
        .env("RUST_BACKTRACE", "0")
        .output()
        .with_context(|| format!("running cargo test -p {package}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((parse(&text, output.status.success()), text))
}

/// The cargo that runs us (so `cargo +nightly workbook` stays on nightly).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Reads libtest's output. `success` is cargo's exit status.
pub fn parse(output: &str, success: bool) -> Outcome {
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut any_result = false;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            any_result = true;
            passed += number_before(rest, " passed");
        }
        if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... FAILED"))
        {
            failed.push(name.to_string());
        }
    }
    if success && failed.is_empty() {
        return Outcome::Passed { tests: passed };
    }
    if !any_result && failed.is_empty() {
        return Outcome::DidNotCompile {
            error: first_compile_error(output),
        };
    }
    Outcome::Failed {
        passed,
        first_message: first_failure_message(output),
        failed,
    }
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
    let body: Vec<&str> = lines
        .take_while(|l| {
            !(l.starts_with("---- ") || *l == "failures:" || l.starts_with("test result:"))
        })
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    format!("{name}:\n{}", body.join("\n"))
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
}
