//! The learner's loop: watch the current exercise, run its tests on every
//! save, show the first failure, move on when green. Also the commands that
//! show where you are (`status`), move around (`next`, `go`), start over
//! (`reset`) and peek (`solution`).
//!
//! It tells the truth: a test that skipped itself (no Docker engine) proves
//! nothing, so its exercise is "not verified on this machine", never done;
//! and when its output is not a terminal it prints whole lines only.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::doctor::{Doctor, Level};
use crate::exercises::{self, Exercise};
use crate::hints;
use crate::state::State;
use crate::testrun::{self, Outcome, StepState, TestRun};
use crate::watch::{Signal, Watch};

/// `[##########--------------------]`
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// The exercise to work on: the remembered one, else the first not yet passed.
pub fn current<'a>(all: &'a [Exercise], state: &State) -> &'a Exercise {
    state
        .current
        .as_deref()
        .and_then(|name| all.iter().find(|e| e.package == name))
        .or_else(|| all.iter().find(|e| !state.passed.contains(&e.package)))
        .unwrap_or(&all[0])
}

/// The exercise after `exercise` that has not passed yet (wrapping around).
pub fn next_open<'a>(
    all: &'a [Exercise],
    state: &State,
    exercise: &Exercise,
) -> Option<&'a Exercise> {
    let at = all.iter().position(|e| e.package == exercise.package)?;
    all.iter()
        .cycle()
        .skip(at + 1)
        .take(all.len() - 1)
        .find(|e| !state.passed.contains(&e.package))
}

/// Prints the next hint step and remembers that it was shown.
pub fn show_hint(
    root: &Path,
    state: &mut State,
    exercise: &Exercise,
    all_steps: bool,
) -> Result<()> {
    let steps = hints::read(&exercise.dir)?;
    let seen = state
        .hints_seen
        .get(&exercise.package)
        .copied()
        .unwrap_or(0);
    let show = if all_steps {
        steps.len()
    } else {
        (seen + 1).min(steps.len())
    };
    for (number, step) in
        steps
            .iter()
            .enumerate()
            .take(show)
            .skip(if all_steps { 0 } else { show.saturating_sub(1) })
    {
        println!("\nHint {} of {}:\n{step}", number + 1, steps.len());
    }
    if show < steps.len() {
        println!(
            "\n(Ask again for the next hint: `cargo workbook hint {}`, or `h` in watch mode.)",
            exercise.package
        );
    } else {
        println!(
            "\nThat was the last hint. `cargo workbook solution {}` shows the reference solution.",
            exercise.package
        );
    }
    state.hints_seen.insert(exercise.package.clone(), show);
    state.save(root)
}

/// Asks a yes/no question on the terminal; anything but "y"/"yes" is no.
pub fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Runs the environment checks an exercise needs. `Err` holds the report
/// when the machine, not the code, is the problem.
pub fn environment_ready(exercise: &Exercise) -> Result<(), String> {
    let failing: Vec<String> = Doctor::default()
        .for_needs(&exercise.needs)
        .into_iter()
        .filter(|c| c.level == Level::Fail)
        .map(|c| format!("  {c}"))
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(failing.join("\n"))
    }
}

/// The lines that say where each step of `exercise` stands after `run`
/// (none when it declares no steps).
pub fn step_lines(exercise: &Exercise, run: &TestRun) -> Vec<String> {
    exercise
        .steps
        .iter()
        .enumerate()
        .map(|(number, step)| {
            let state = run.step_state(step);
            format!(
                "step {}  {:<12} {}  ({})",
                number + 1,
                state.label(),
                step.name,
                state.detail()
            )
        })
        .collect()
}

/// The failure to read first: the first failing test of the first step not
/// passed yet (so the learner goes step by step), else cargo's first one.
pub fn first_failure(exercise: &Exercise, run: &TestRun) -> String {
    let first_in_steps = exercise
        .steps
        .iter()
        .filter(|step| !matches!(run.step_state(step), StepState::Passed { .. }))
        .find_map(|step| run.first_failure_in(step));
    match (first_in_steps, &run.outcome) {
        (Some(case), _) => format!("{}:\n{}", case.name, case.message),
        (None, Outcome::Failed { first_message, .. }) => first_message.clone(),
        (None, Outcome::DidNotCompile { error }) => error.clone(),
        (None, Outcome::Passed { .. }) => String::new(),
    }
}

/// What to say about a run whose tests skipped themselves.
fn not_verified(run: &TestRun) -> String {
    let reasons = run.skip_reasons();
    format!(
        "{} test(s) skipped themselves, so this exercise is not verified on this machine:\n  {}",
        run.skipped.len(),
        reasons.join("\n  ")
    )
}

/// `cargo workbook status`: runs every exercise's tests and shows where each
/// one stands, and each of its steps.
pub fn status(root: &Path) -> Result<()> {
    let all = exercises::discover(root)?;
    let mut state = State::load(root)?;
    // On a terminal a "..." line stands there while the tests run and is then
    // overwritten; into a pipe or a file only whole lines go.
    let live = std::io::stdout().is_terminal();
    let back = if live { "\r" } else { "" };
    let mut done = 0;
    let mut unchecked = 0;
    let mut first_open: Option<(Exercise, TestRun)> = None;
    for exercise in &all {
        let line = format!(
            "chapter {:>2}  {:<16} {}",
            exercise.chapter, exercise.package, exercise.title
        );
        if live {
            print!("  ...  {line}");
            std::io::stdout().flush()?;
        }
        if environment_ready(exercise).is_err() {
            println!(
                "{back}  skip {line}  (needs {}: see `cargo workbook doctor`)",
                exercise.needs.join(", ")
            );
            unchecked += 1;
            continue;
        }
        let run = testrun::test(root, &exercise.package)?;
        if run.is_unverified() {
            state.passed.remove(&exercise.package);
            println!(
                "{back}  skip {line}  (tests skipped themselves: not verified on this machine)"
            );
            for reason in run.skip_reasons() {
                println!("          {reason}");
            }
            unchecked += 1;
            continue;
        }
        let mark = if run.is_done() { "done" } else { "todo" };
        println!("{back}  {mark} {line}  ({})", run.outcome.summary());
        for step in step_lines(exercise, &run) {
            println!("          {step}");
        }
        if run.is_done() {
            done += 1;
            state.passed.insert(exercise.package.clone());
        } else {
            state.passed.remove(&exercise.package);
            if first_open.is_none() {
                first_open = Some((exercise.clone(), run));
            }
        }
    }
    state.save(root)?;
    println!(
        "\n  {} {done}/{} exercises done",
        progress_bar(done, all.len(), 30),
        all.len()
    );
    match first_open {
        None if done == all.len() => {
            println!("\n  Every exercise passes. Run your own system: `cargo workbook up --mine`.")
        }
        None => println!(
            "\n  Every exercise this machine can check passes. {unchecked} could not be checked here (marked skip above): `cargo workbook doctor` says what is missing."
        ),
        Some((exercise, run)) => {
            println!(
                "\n  Next: {} (chapter {}). `cargo test --no-fail-fast -p {}` says:",
                exercise.package, exercise.chapter, exercise.package
            );
            for line in first_failure(&exercise, &run).lines().take(8) {
                println!("    {line}");
            }
            println!("\n  Stuck? `cargo workbook hint {}`", exercise.package);
        }
    }
    Ok(())
}

/// `cargo workbook` with no arguments.
pub fn watch(root: &Path, force_polling: bool) -> Result<()> {
    let all = exercises::discover(root)?;
    if all.is_empty() {
        bail!(
            "no exercises found under {}",
            root.join("exercises").display()
        );
    }
    let mut state = State::load(root)?;
    let watch = Watch::start(&root.join("exercises"), force_polling);
    let typed = watch.sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if typed.send(Signal::Typed(line.trim().to_string())).is_err() {
                return;
            }
        }
    });

    loop {
        let exercise = current(&all, &state).clone();
        state.current = Some(exercise.package.clone());
        state.save(root)?;
        println!(
            "\n{} {}/{} done   chapter {}: {} ({})",
            progress_bar(state.passed.len().min(all.len()), all.len(), 30),
            state.passed.len().min(all.len()),
            all.len(),
            exercise.chapter,
            exercise.title,
            exercise.package
        );

        if let Err(report) = environment_ready(&exercise) {
            println!(
                "This exercise needs {} and your machine is not ready (this is not your code):\n{report}",
                exercise.needs.join(" and ")
            );
            println!("Fix it (`cargo workbook doctor` explains), then press Enter.");
        } else {
            println!(
                "Running `cargo test --no-fail-fast -p {}` ...",
                exercise.package
            );
            let run = testrun::test(root, &exercise.package)?;
            match &run.outcome {
                _ if run.is_unverified() => {
                    state.passed.remove(&exercise.package);
                    state.save(root)?;
                    println!("{}", not_verified(&run));
                    println!(
                        "It is done once they run: install or start what they name (`cargo workbook doctor` checks Docker), then press Enter to test again, or type n to move on."
                    );
                }
                Outcome::Passed { tests } => {
                    println!("All {tests} tests of {} pass. Well done!", exercise.package);
                    state.passed.insert(exercise.package.clone());
                    match next_open(&all, &state, &exercise) {
                        Some(next) => {
                            println!(
                                "Moving on to chapter {}: {} ({}).",
                                next.chapter, next.title, next.package
                            );
                            state.current = Some(next.package.clone());
                            state.save(root)?;
                            continue;
                        }
                        None => {
                            state.save(root)?;
                            println!(
                                "\nEvery exercise passes. Run your own system: `cargo workbook up --mine`."
                            );
                            return Ok(());
                        }
                    }
                }
                Outcome::Failed { passed, failed, .. } => {
                    state.passed.remove(&exercise.package);
                    state.save(root)?;
                    println!("{} of {} tests fail.", failed.len(), passed + failed.len());
                    for step in step_lines(&exercise, &run) {
                        println!("  {step}");
                    }
                    println!("The first one to fix:\n");
                    for line in first_failure(&exercise, &run).lines().take(25) {
                        println!("  {line}");
                    }
                }
                Outcome::DidNotCompile { error } => {
                    println!("It does not compile yet:\n");
                    for line in error.lines().take(25) {
                        println!("  {line}");
                    }
                }
            }
        }
        println!(
            "\nSave a file in exercises/{} to test again ({}). Type h + Enter for a hint, r to run, n for the next exercise, q to quit.",
            exercise.slug(),
            watch.mode()
        );

        loop {
            match watch.next(Duration::from_secs(3600)) {
                Some(Signal::Changed(path)) if path.starts_with(&exercise.dir) => break,
                Some(Signal::Changed(_)) | None => continue,
                Some(Signal::Typed(command)) => match command.as_str() {
                    "h" | "hint" => show_hint(root, &mut state, &exercise, false)?,
                    "r" | "run" | "" => break,
                    "n" | "next" => {
                        if let Some(next) = next_open(&all, &state, &exercise) {
                            state.current = Some(next.package.clone());
                        }
                        break;
                    }
                    "q" | "quit" | "exit" => return Ok(()),
                    other => println!(
                        "Unknown command {other:?}: h (hint), r (run), n (next), q (quit)."
                    ),
                },
            }
        }
    }
}

/// `cargo workbook go <exercise>` / `next`.
pub fn go(root: &Path, name: Option<&str>) -> Result<()> {
    let all = exercises::discover(root)?;
    let mut state = State::load(root)?;
    let target = match name {
        Some(name) => exercises::find(&all, name)?.clone(),
        None => {
            let here = current(&all, &state).clone();
            next_open(&all, &state, &here).cloned().unwrap_or(here)
        }
    };
    state.current = Some(target.package.clone());
    state.save(root)?;
    println!(
        "Now on chapter {}: {} ({}). `cargo workbook` watches it.",
        target.chapter, target.title, target.package
    );
    Ok(())
}

/// `cargo workbook reset <exercise>`: back to the stub as committed.
pub fn reset(root: &Path, name: &str, yes: bool) -> Result<()> {
    let all = exercises::discover(root)?;
    let exercise = exercises::find(&all, name)?;
    let folder = format!("exercises/{}", exercise.slug());
    // The stub as it came: the upstream branch when there is one (so your own
    // commits are not mistaken for the original), else the last commit.
    let source = git_output(root, &["rev-parse", "--verify", "--quiet", "@{upstream}"])
        .unwrap_or_else(|| "HEAD".to_string());
    if !yes
        && !confirm(&format!(
            "Replace your work in {folder} with the original stub (from {source})? Files you added stay."
        ))
    {
        println!("Nothing changed.");
        return Ok(());
    }
    let status = Command::new("git")
        .current_dir(root)
        .args(["checkout", &source, "--", &folder])
        .status()
        .context("running git")?;
    if !status.success() {
        bail!("git could not restore {folder}");
    }
    let mut state = State::load(root)?;
    state.passed.remove(&exercise.package);
    state.hints_seen.remove(&exercise.package);
    state.save(root)?;
    println!(
        "{folder} is back to its stub. `cargo test -p {}` is red again.",
        exercise.package
    );
    Ok(())
}

fn git_output(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// `cargo workbook solution <exercise>`: the reference, as a diff against
/// every file you are meant to change.
pub fn solution(root: &Path, name: &str, yes: bool) -> Result<()> {
    let all = exercises::discover(root)?;
    let exercise = exercises::find(&all, name)?;
    let mut state = State::load(root)?;
    if !state.passed.contains(&exercise.package) {
        let run = testrun::test(root, &exercise.package)?;
        let question = if run.is_unverified() {
            format!(
                "{}\nSo nobody knows yet whether your code works. Show the solution anyway?",
                not_verified(&run)
            )
        } else {
            "Your tests do not pass yet. Looking now spoils the fun of finding it; show the solution anyway?".to_string()
        };
        if run.is_done() {
            state.passed.insert(exercise.package.clone());
            state.save(root)?;
        } else if !yes && !confirm(&question) {
            println!(
                "Good luck! `cargo workbook hint {}` gives a nudge instead.",
                exercise.package
            );
            return Ok(());
        }
    }
    let files = exercise.changed_files(root);
    if files.is_empty() {
        println!("Your code is the same as the reference solution.");
        return Ok(());
    }
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_path_buf();
    println!("The files you are meant to change, and their reference:");
    for (yours, reference) in &files {
        println!(
            "  {}  ->  {}",
            relative(yours).display(),
            relative(reference).display()
        );
    }
    println!("\nLines starting with - are yours, lines starting with + the reference's.\n");
    let plain = !std::io::stdout().is_terminal();
    for (yours, reference) in &files {
        // `git diff --no-index` exits 1 when the files differ: the normal case.
        Command::new("git")
            .current_dir(root)
            .args(["--no-pager", "diff", "--no-index"])
            .args(plain.then_some("--no-color"))
            .arg("--")
            .arg(relative(yours))
            .arg(relative(reference))
            .status()
            .context("running git diff")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercises_named(names: &[&str]) -> Vec<Exercise> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Exercise {
                package: name.to_string(),
                dir: format!("/x/{name}").into(),
                chapter: i as u32 + 1,
                title: name.to_string(),
                solution_dir: "/y".into(),
                solution_package: "y".into(),
                book_page: "/z".into(),
                needs: Vec::new(),
                service: None,
                steps: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn the_current_exercise_is_remembered_or_the_first_open_one() {
        let all = exercises_named(&["a", "b", "c"]);
        let mut state = State::default();
        assert_eq!(current(&all, &state).package, "a");
        state.passed.insert("a".into());
        assert_eq!(
            current(&all, &state).package,
            "b",
            "skips what already passes"
        );
        state.current = Some("c".into());
        assert_eq!(current(&all, &state).package, "c", "a chosen exercise wins");
    }

    #[test]
    fn next_skips_passed_exercises_and_wraps_around() {
        let all = exercises_named(&["a", "b", "c"]);
        let mut state = State::default();
        state.passed.insert("b".into());
        assert_eq!(next_open(&all, &state, &all[0]).unwrap().package, "c");
        assert_eq!(next_open(&all, &state, &all[2]).unwrap().package, "a");
        state.passed.extend(["a".to_string(), "c".to_string()]);
        assert!(next_open(&all, &state, &all[0]).is_none(), "nothing left");
    }

    #[test]
    fn the_progress_bar_fills_in_proportion() {
        assert_eq!(progress_bar(0, 4, 8), "[--------]");
        assert_eq!(progress_bar(1, 4, 8), "[##------]");
        assert_eq!(progress_bar(4, 4, 8), "[########]");
    }

    #[test]
    fn hints_are_revealed_one_step_at_a_time_and_remembered() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("exercises/01-x");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hints.md"),
            "## Hint 1\nWhy?\n## Hint 2\nBecause.\n",
        )
        .unwrap();
        let mut exercise = exercises_named(&["ex01-x"]).remove(0);
        exercise.dir = dir;
        let mut state = State::default();
        show_hint(root.path(), &mut state, &exercise, false).unwrap();
        assert_eq!(State::load(root.path()).unwrap().hints_seen["ex01-x"], 1);
        show_hint(root.path(), &mut state, &exercise, false).unwrap();
        show_hint(root.path(), &mut state, &exercise, false).unwrap();
        assert_eq!(
            State::load(root.path()).unwrap().hints_seen["ex01-x"],
            2,
            "never more than there are"
        );
    }
}
