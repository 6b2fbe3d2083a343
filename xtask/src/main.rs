//! `cargo xtask verify`: proves every exercise and enforces the authoring rules.
//!
//! For each exercise it checks, and prints one line:
//! - the stub has a `// TODO` to guide the learner and graded hints: the
//!   first a question, and none but the last showing code (a fenced block,
//!   or a line the learner must write);
//! - files without a TODO are the solution's files unchanged (given code
//!   cannot drift), and the solution runs the exercise's very test files;
//! - a book page presents the exercise and includes its code from the real files;
//! - the untouched stub compiles and FAILS its tests; the solution PASSES them;
//! - no step of the exercise passes on the stub, every failure message
//!   the book quotes from the stub is one its run really prints, and every
//!   summary the book quotes of the solved exercise counts the tests that run.
//!
//! It checks that the minimum Rust is the same in the workspace's
//! `rust-version` (the highest any crate or dependency needs), the README,
//! chapter 0 and the doctor.
//!
//! Then it checks the whole book: every `{{#include}}` resolves to a real file
//! and anchor, Rust listings are only includes, the book builds, and every
//! link and anchor of the built pages leads somewhere (`workbook::links`).

mod rules;

use std::path::Path;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workbook::exercises;
use workbook::testrun::{self, Outcome};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prove every exercise red as handed out and green when solved; check the book.
    Verify {
        /// Only this exercise (package, folder or chapter).
        #[arg(long)]
        exercise: Option<String>,
        /// Skip building the book.
        #[arg(long)]
        no_book: bool,
        /// Do not run the solutions' tests again: say so only right after a
        /// workspace `cargo test` passed, which runs every solution's tests
        /// (the solutions are default members). CI does; the stubs still run.
        #[arg(long)]
        solutions_tested: bool,
    },
}

fn main() {
    let Cli {
        command:
            Command::Verify {
                exercise,
                no_book,
                solutions_tested,
            },
    } = Cli::parse();
    match verify(exercise.as_deref(), no_book, solutions_tested) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2);
        }
    }
}

fn verify(only: Option<&str>, no_book: bool, solutions_tested: bool) -> Result<bool> {
    let root = workbook::repo_root();
    let all = exercises::discover(&root)?;
    let selected: Vec<_> = match only {
        Some(name) => vec![exercises::find(&all, name)?.clone()],
        None => all.clone(),
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let strict = std::env::var_os("CI").is_some() || std::env::var_os("REQUIRE_DOCKER").is_some();
    for exercise in &selected {
        // Without the engine an exercise that needs Docker cannot be proven
        // either way. Say so loudly; CI (which has one) treats it as a failure.
        let missing: Vec<String> = workbook::doctor::Doctor::default()
            .for_needs(&exercise.needs)
            .into_iter()
            .filter(|c| c.level == workbook::doctor::Level::Fail)
            .map(|c| c.to_string())
            .collect();
        if !missing.is_empty() && !strict {
            skipped += 1;
            println!(
                "SKIPPED {}: this machine lacks what it needs: {}",
                exercise.package,
                missing.join("; ")
            );
            continue;
        }
        let mut problems = rules::check_exercise(&root, exercise);
        problems.extend(rules::check_hints(&root, exercise));
        if problems.is_empty() {
            problems.extend(prove(&root, exercise, solutions_tested)?);
        }
        report(&exercise.package, &problems, &mut passed, &mut failed);
    }
    if only.is_none() {
        let mut problems = rules::check_rust_version(&root, workbook::doctor::MIN_RUST);
        problems.extend(rules::check_dependency_rust_versions(
            &root,
            workbook::doctor::MIN_RUST,
        ));
        report("rust-version", &problems, &mut passed, &mut failed);
    }
    if !no_book && only.is_none() {
        let mut problems = rules::check_book(&root);
        problems.extend(rules::check_transcripts(&root));
        if problems.is_empty() {
            problems.extend(build_book(&root));
        }
        report("book", &problems, &mut passed, &mut failed);
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(failed == 0)
}

fn report(name: &str, problems: &[String], passed: &mut usize, failed: &mut usize) {
    if problems.is_empty() {
        *passed += 1;
        println!("ok     {name}");
    } else {
        *failed += 1;
        println!("FAILED {name}: {}", problems[0]);
        for problem in &problems[1..] {
            println!("       {name}: {problem}");
        }
    }
}

/// Runs the stub's tests (they must fail) and the solution's (they must
/// pass), unless `solutions_tested` says a workspace `cargo test` just did.
fn prove(
    root: &Path,
    exercise: &exercises::Exercise,
    solutions_tested: bool,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let run = testrun::test(root, &exercise.package)?;
    problems.extend(rules::check_steps_fail_on_the_stub(exercise, &run));
    problems.extend(rules::check_quoted_failures(root, exercise, &run.output));
    problems.extend(rules::check_solved_summaries(root, exercise, &run.output));
    let (stub, output) = (run.outcome, run.output);
    match stub {
        Outcome::Failed { .. } => {}
        Outcome::Passed { tests } => problems.push(format!(
            "the untouched stub passes all {tests} tests: the tests do not specify what the learner must write"
        )),
        Outcome::DidNotCompile { error } => {
            problems.push(format!("the stub must compile as handed out, but: {error}"));
            eprintln!("{output}");
        }
    }
    if solutions_tested {
        return Ok(problems);
    }
    let (solution, output) = testrun::run(root, &exercise.solution_package)?;
    match solution {
        Outcome::Passed { tests: 0 } => problems.push("the solution ran no test".to_string()),
        Outcome::Passed { .. } => {}
        other => {
            problems.push(format!(
                "the solution {} must pass its tests: {}",
                exercise.solution_package,
                other.summary()
            ));
            if let Outcome::Failed { first_message, .. }
            | Outcome::DidNotCompile {
                error: first_message,
            } = other
            {
                problems.push(first_message);
            }
            eprintln!("{output}");
        }
    }
    Ok(problems)
}

/// Builds the book into target/book-verify and checks every link and anchor
/// in the pages it wrote (`workbook::links`).
fn build_book(root: &Path) -> Vec<String> {
    let dest = root.join("target").join("book-verify");
    let _ = std::fs::remove_dir_all(&dest);
    let html = match workbook::book::build(&root.join("book"), &dest) {
        Ok(html) => html,
        Err(error) => return vec![format!("the book does not build: {error:#}")],
    };
    match workbook::links::check(&html) {
        Ok(broken) => broken
            .iter()
            .map(|b| format!("the book has a broken link: {b}"))
            .collect(),
        Err(error) => vec![format!("the built book could not be read: {error}")],
    }
}
