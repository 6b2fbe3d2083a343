//! `cargo workbook`: the learner's command.
//!
//! - `serve`: build the book and read it in the browser.
//! - `status`: which exercises are done.
//! - `hint <exercise>`: the next hint, one step at a time.
//! - `up [--mine]`: run the blog, with your own services where they pass.
//! - `bench`: measure the running system (release build).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workbook::exercises::{self, Exercise};
use workbook::testrun::{self, Outcome};
use workbook::{hints, repo_root};

#[derive(Parser)]
#[command(
    name = "cargo workbook",
    about = "Learn microservices by building a blog, one exercise at a time."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the book and serve it on http://127.0.0.1:4321.
    Serve {
        #[arg(long, default_value_t = 4321)]
        port: u16,
    },
    /// Run every exercise's tests and show which are done.
    Status,
    /// Show the next hint for an exercise (by package, folder or chapter: `ex01-posts`, `01-posts`, `1`).
    Hint {
        exercise: String,
        /// Show every hint at once.
        #[arg(long)]
        all: bool,
    },
    /// List the exercises with their chapter and book page.
    List,
    /// Measure the blog: comments/s fully propagated, lag p50/p99, memory per service (release build).
    Bench {
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients in the throughput phase.
        #[arg(long, default_value_t = 64)]
        clients: u64,
        /// Comments per second offered in the lag phase.
        #[arg(long, default_value_t = 200)]
        rate: u64,
    },
    /// Run the whole blog: six services as separate processes, until Ctrl-C.
    Up {
        /// Run your own services where their exercise passes, the reference ones elsewhere.
        #[arg(long)]
        mine: bool,
        /// Where the services keep their data.
        #[arg(long, default_value = "data")]
        data_dir: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = repo_root();
    match cli.command {
        Command::Serve { port } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(workbook::book::serve(&root, ([127, 0, 0, 1], port).into()))
        }
        Command::Status => status(&root),
        Command::Bench {
            seconds,
            clients,
            rate,
        } => workbook::system::bench(&root, seconds, clients, rate),
        Command::Up { mine, data_dir } => {
            let data_dir = if data_dir.is_absolute() {
                data_dir
            } else {
                root.join(data_dir)
            };
            tokio::runtime::Runtime::new()?.block_on(workbook::system::up(&root, data_dir, mine))
        }
        Command::Hint { exercise, all } => hint(&root, &exercise, all),
        Command::List => {
            for exercise in exercises::discover(&root)? {
                println!(
                    "chapter {:>2}  {:<14} {}  ({})",
                    exercise.chapter,
                    exercise.package,
                    exercise.title,
                    exercise
                        .book_page
                        .strip_prefix(&root)
                        .unwrap_or(&exercise.book_page)
                        .display()
                );
            }
            Ok(())
        }
    }
}

fn status(root: &Path) -> Result<()> {
    let all = exercises::discover(root)?;
    let mut done = 0;
    let mut first_open: Option<(Exercise, Outcome)> = None;
    for exercise in &all {
        print!(
            "  ...  chapter {:>2}  {:<14} {}",
            exercise.chapter, exercise.package, exercise.title
        );
        std::io::stdout().flush()?;
        let (outcome, _) = testrun::run(root, &exercise.package)?;
        let mark = if outcome.is_pass() { "done" } else { "todo" };
        println!(
            "\r  {mark} chapter {:>2}  {:<14} {}  ({})",
            exercise.chapter,
            exercise.package,
            exercise.title,
            outcome.summary()
        );
        if outcome.is_pass() {
            done += 1;
        } else if first_open.is_none() {
            first_open = Some((exercise.clone(), outcome));
        }
    }
    println!(
        "\n  {} {done}/{} exercises done",
        progress_bar(done, all.len(), 30),
        all.len()
    );
    match first_open {
        None => println!(
            "\n  Every exercise passes. Run your own system: see the book's last chapters."
        ),
        Some((exercise, outcome)) => {
            println!(
                "\n  Next: {} (chapter {}). `cargo test -p {}` says:",
                exercise.package, exercise.chapter, exercise.package
            );
            let detail = match outcome {
                Outcome::Failed { first_message, .. } => first_message,
                Outcome::DidNotCompile { error } => error,
                Outcome::Passed { .. } => String::new(),
            };
            for line in detail.lines().take(8) {
                println!("    {line}");
            }
            println!("\n  Stuck? `cargo workbook hint {}`", exercise.package);
        }
    }
    Ok(())
}

/// `[##########--------------------]`
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let filled = if total == 0 { 0 } else { done * width / total };
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

fn hint(root: &Path, name: &str, all: bool) -> Result<()> {
    let list = exercises::discover(root)?;
    let exercise = exercises::find(&list, name)?;
    let steps = hints::read(&exercise.dir)?;
    // Remember how many hints were shown, so each call reveals one more.
    let seen_file = root
        .join("target")
        .join("workbook-hints")
        .join(&exercise.package);
    let seen: usize = std::fs::read_to_string(&seen_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let show = if all {
        steps.len()
    } else {
        (seen + 1).min(steps.len())
    };
    for (number, step) in steps.iter().enumerate().take(show) {
        println!("Hint {} of {}:\n{step}\n", number + 1, steps.len());
    }
    if show < steps.len() {
        println!("(Run it again for the next hint.)");
    } else {
        println!(
            "That was the last hint. The reference solution is in {}.",
            exercise
                .solution_dir
                .strip_prefix(root)
                .unwrap_or(&exercise.solution_dir)
                .display()
        );
    }
    if let Some(parent) = seen_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(seen_file, show.to_string())?;
    Ok(())
}
