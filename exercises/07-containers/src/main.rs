//! The `minidocker` command: a few of `docker`'s commands, each a call into
//! the library (see `cargo run -p ex07-containers -- --help` for yours;
//! `-p minidocker` runs the reference).

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use minidocker::MiniDocker;

#[derive(Parser)]
#[command(name = "minidocker", about = "A small Docker CLI of your own")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container from IMAGE and start it with CMD (default: the image's own).
    Run {
        /// Start it in the background and print its id (`docker run -d`).
        #[arg(short, long)]
        detach: bool,
        image: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// List running containers; with --all, every container.
    Ps {
        #[arg(short, long)]
        all: bool,
    },
    /// SIGTERM, then SIGKILL if it is still running after --time seconds.
    Stop {
        #[arg(short, long, default_value_t = 10)]
        time: u64,
        id: String,
    },
    /// SIGKILL, at once.
    Kill { id: String },
    /// Run CMD in a running container; with -i, send it this program's standard input;
    /// with -it, on a terminal of its own attached to this one (`exec -it NAME sh`).
    Exec {
        #[arg(short, long)]
        interactive: bool,
        /// Give CMD a terminal (needs -i, and a terminal to attach).
        #[arg(short, long, requires = "interactive")]
        tty: bool,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Remove stopped containers, unused images and unused networks.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("minidocker: {error:#}");
            std::process::exit(125); // what `docker` answers when it, not the container, failed
        }
    }
}

/// Runs one command; returns the exit code for this process.
async fn run(command: Command) -> Result<i32> {
    let engine = MiniDocker::connect().await?;
    let mut stdout = std::io::stdout();
    match command {
        Command::Run { detach, image, cmd } => {
            engine.ensure_image(&image).await?;
            let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
            if detach {
                println!("{}", engine.run_detached(&image, &cmd, &[]).await?);
                return Ok(0);
            }
            let finished = engine.run(&image, &cmd, &[], &mut stdout).await?;
            return Ok(finished.exit_code as i32);
        }
        Command::Ps { all } => {
            println!(
                "{:<14}{:<20}{:<24}{:<28}NAMES",
                "CONTAINER ID", "IMAGE", "COMMAND", "STATUS"
            );
            for row in engine.list(all).await? {
                println!(
                    "{:<14}{:<20}{:<24}{:<28}{}",
                    short(&row.id, 12),
                    short(&row.image, 18),
                    format!("\"{}\"", short(&row.command, 20)),
                    row.status,
                    row.name
                );
            }
        }
        Command::Stop { time, id } => {
            engine.stop(&id, Duration::from_secs(time)).await?;
            println!("{id}");
        }
        Command::Kill { id } => {
            engine.kill(&id).await?;
            println!("{id}");
        }
        Command::Exec {
            interactive,
            tty,
            id,
            cmd,
        } => {
            let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
            if tty {
                let terminal = minidocker::terminal::Terminal::stdin()?;
                return Ok(engine.exec_tty(&id, &cmd, &terminal).await? as i32);
            }
            let mut input = Vec::new();
            if interactive {
                std::io::stdin().read_to_end(&mut input)?;
            }
            let code = engine
                .exec(&id, &cmd, interactive.then_some(&input[..]), &mut stdout)
                .await?;
            return Ok(code as i32);
        }
        Command::Prune { force } => {
            if !force && !confirmed()? {
                return Ok(1);
            }
            let pruned = engine.prune(None).await?;
            for id in &pruned.containers {
                println!("deleted container {id}");
            }
            for name in &pruned.networks {
                println!("deleted network {name}");
            }
            println!(
                "{} containers, {} images, {} networks removed; {:.1} MB reclaimed",
                pruned.containers.len(),
                pruned.images,
                pruned.networks.len(),
                pruned.space_reclaimed as f64 / 1e6
            );
        }
    }
    Ok(0)
}

/// `docker system prune` asks first; so do we.
fn confirmed() -> Result<bool> {
    print!(
        "This removes all stopped containers, unused networks and dangling images. Continue? [y/N] "
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// At most `max` characters of `text`, as `docker ps` shortens its columns.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
