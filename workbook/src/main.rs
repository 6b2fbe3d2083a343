//! `cargo workbook`: the learner's command.
//!
//! - (no command): watch the current exercise, test on every save, move on when green.
//! - `serve`: build the book and read it in the browser.
//! - `status`: which exercises are done.
//! - `hint`, `solution`, `reset`, `next`, `go`: help, peek, start over, move around.
//! - `doctor`: is this machine ready (Rust, Docker, minikube, ports)?
//! - `up [--mine] [--bus nats]`: run the blog, with your own services where they pass,
//!   on the HTTP bus or a NATS JetStream cluster (chapter 10).
//! - `bench [--lag]`: measure the running system (release build).
//! - `image [--mine]`: the blog's Docker image, with your own services where they pass (chapter 8).
//! - `deploy [--mine]`, `undeploy`: the blog on minikube (chapter 9).
//! - `bus`: the event bus's subscribers and their parked events (chapter 3).

mod bus;
mod deploy;
mod image;

use anyhow::Result;
use clap::{Parser, Subcommand};
use workbook::bench::Settings;
use workbook::doctor::{Doctor, Level};
use workbook::exercises::{self, Exercise};
use workbook::repo_root;
use workbook::runner;
use workbook::state::State;
use workbook::system::Measure;

#[derive(Parser)]
#[command(
    name = "cargo workbook",
    about = "Learn microservices by building a blog, one exercise at a time."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Watch by scanning files every second instead of using file events
    /// (for file systems where saves are not noticed).
    #[arg(long, global = true)]
    poll: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the current exercise: run its tests on every save (the default).
    Watch,
    /// Build the book and serve it on http://127.0.0.1:4321.
    Serve {
        #[arg(long, default_value_t = 4321)]
        port: u16,
    },
    /// Run every exercise's tests and show which are done.
    Status,
    /// Show the next hint for an exercise (default: the current one). Exercises
    /// can be named by package, folder or chapter: `ex01-posts`, `01-posts`, `1`.
    Hint {
        exercise: Option<String>,
        /// Show every hint at once.
        #[arg(long)]
        all: bool,
    },
    /// Show the reference solution as a diff against your code.
    Solution {
        exercise: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Put an exercise back to its original stub.
    Reset {
        exercise: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Skip to the next exercise that does not pass yet.
    Next,
    /// Go to an exercise (forwards or back).
    Go { exercise: String },
    /// List the exercises with their chapter and book page.
    List,
    /// Check this machine: Rust, Docker, kubectl, minikube, posts.com, free ports.
    Doctor,
    /// Run the whole blog: six services as separate processes, until Ctrl-C; one that crashes is started again.
    Up {
        /// Run your own services where their exercise passes, the reference ones elsewhere.
        #[arg(long)]
        mine: bool,
        /// Where the services keep their data.
        #[arg(long, default_value = "data")]
        data_dir: std::path::PathBuf,
        /// What carries the events: the blog's own HTTP bus, or a three-node
        /// NATS JetStream cluster from the system's nats-server (chapter 10).
        #[arg(long, value_enum, default_value_t = workbook::system::Bus::Http)]
        bus: workbook::system::Bus,
    },
    /// Measure the blog: comments/s fully propagated, lag p50/p99, memory per service (release build).
    /// With --lag: how long one comment at a time takes to reach the query service (chapter 4).
    Bench {
        /// Seconds of each measured phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients in the throughput phase.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Comments per second offered in the lag phase.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Posts the comments are spread over.
        #[arg(long, default_value_t = 50)]
        posts: usize,
        /// Comments the read model holds, at least, when `GET /posts` is
        /// timed (the bench writes more first if the other phases left fewer).
        #[arg(long, default_value_t = 50_000)]
        read_comments: usize,
        /// Measure instead how far behind the query service is: comments
        /// written one at a time, each timed until query shows it.
        #[arg(long, conflicts_with_all = ["seconds", "clients", "rate", "posts", "read_comments"])]
        lag: bool,
        /// With --lag: how many comments to write.
        #[arg(long, default_value_t = 200, requires = "lag")]
        comments: usize,
        /// Run your own services where their exercise passes, as `up --mine` does.
        #[arg(long)]
        mine: bool,
        /// What carries the events: the HTTP bus, or a three-node NATS JetStream cluster.
        #[arg(long, value_enum, default_value_t = workbook::system::Bus::Http)]
        bus: workbook::system::Bus,
    },
    /// Build the blog's Docker image (blog:0.1.0; with --mine, blog:mine with your services).
    Image {
        /// Compile in your own services where their exercise passes, the reference ones elsewhere.
        #[arg(long)]
        mine: bool,
        /// Another name for the image (default: blog:mine with --mine, else blog:0.1.0).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Deploy the blog to minikube: build the image into it, apply k8s/, wait for every rollout.
    Deploy {
        /// Print the commands instead of running them.
        #[arg(long)]
        dry_run: bool,
        /// Deploy your own services where their exercise passes, the reference ones elsewhere.
        #[arg(long)]
        mine: bool,
    },
    /// Remove the blog from minikube (`kubectl delete -k k8s/`), its data too.
    Undeploy {
        /// Print the commands instead of running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the event bus's subscribers (cursor, lag, last error) and their parked events.
    Bus {
        /// Where the bus is.
        #[arg(long, default_value = bus::DEFAULT_URL)]
        url: String,
        /// First send this subscriber's parked events again (once it is fixed).
        #[arg(long, value_name = "SUBSCRIBER")]
        redeliver: Option<String>,
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
    match cli.command.unwrap_or(Command::Watch) {
        Command::Watch => runner::watch(&root, cli.poll),
        Command::Serve { port } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(workbook::book::serve(&root, ([127, 0, 0, 1], port).into()))
        }
        Command::Status => runner::status(&root),
        Command::Hint { exercise, all } => {
            let list = exercises::discover(&root)?;
            let mut state = State::load(&root)?;
            let exercise = pick(&list, &state, exercise.as_deref())?;
            runner::show_hint(&root, &mut state, &exercise, all)
        }
        Command::Solution { exercise, yes } => {
            let list = exercises::discover(&root)?;
            let state = State::load(&root)?;
            let exercise = pick(&list, &state, exercise.as_deref())?;
            runner::solution(&root, &exercise.package, yes)
        }
        Command::Reset { exercise, yes } => runner::reset(&root, &exercise, yes),
        Command::Next => runner::go(&root, None),
        Command::Go { exercise } => runner::go(&root, Some(&exercise)),
        Command::List => {
            for exercise in exercises::discover(&root)? {
                println!(
                    "chapter {:>2}  {:<16} {}  ({})",
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
        Command::Doctor => {
            let checks = Doctor::default().all();
            for check in &checks {
                println!("{check}");
            }
            let failing = checks.iter().filter(|c| c.level == Level::Fail).count();
            if failing > 0 {
                println!(
                    "\n{failing} check(s) failed. Chapters 0-6 need only Rust; Docker is for 7-8, minikube for 9."
                );
            }
            Ok(())
        }
        Command::Up {
            mine,
            data_dir,
            bus,
        } => {
            let data_dir = if data_dir.is_absolute() {
                data_dir
            } else {
                root.join(data_dir)
            };
            tokio::runtime::Runtime::new()?
                .block_on(workbook::system::up(&root, data_dir, mine, bus))
        }
        Command::Bench {
            seconds,
            clients,
            rate,
            posts,
            read_comments,
            lag,
            comments,
            mine,
            bus,
        } => {
            let measure = if lag {
                Measure::Lag { comments }
            } else {
                Measure::System(Settings {
                    seconds,
                    clients,
                    rate,
                    posts,
                    read_comments,
                })
            };
            tokio::runtime::Runtime::new()?
                .block_on(workbook::system::bench(&root, measure, mine, bus))
        }
        Command::Image { mine, tag } => image::image(&root, mine, tag.as_deref()),
        Command::Deploy { dry_run, mine } => deploy::deploy(&root, dry_run, mine),
        Command::Undeploy { dry_run } => deploy::undeploy(&root, dry_run),
        Command::Bus { url, redeliver } => bus::show(&url, redeliver.as_deref()),
    }
}

fn pick(list: &[Exercise], state: &State, name: Option<&str>) -> Result<Exercise> {
    Ok(match name {
        Some(name) => exercises::find(list, name)?.clone(),
        None => runner::current(list, state).clone(),
    })
}
