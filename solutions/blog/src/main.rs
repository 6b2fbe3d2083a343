//! `blog <service>` runs one service of the blog in this process; the Docker
//! image runs exactly this. `blog up` runs all six as separate processes.

use std::time::Duration;

use blog::launcher::{Logs, Plan, SERVICES};

const USAGE: &str = "usage: blog <posts|comments|query|moderation|event-bus|client>
       blog up [--data-dir DIR]
       blog bench [--seconds N] [--clients N] [--rate N]

Each service reads its configuration from environment variables (PORT, HOST,
DATA_DIR, EVENT_BUS_URL, ...) with defaults that work on localhost.";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]).await,
        Some("bench") => bench(&args[1..]).await,
        Some(service) if SERVICES.iter().any(|s| s.name == service) => {
            blog_runtime::init_tracing();
            blog::run_service(service).await
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn bench(args: &[String]) -> anyhow::Result<()> {
    let mut settings = blog::bench::Settings::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value: u64 = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a number"))?;
        match flag.as_str() {
            "--seconds" => settings.seconds = value,
            "--clients" => settings.clients = value as usize,
            "--rate" => settings.rate = value as u32,
            "--posts" => settings.posts = value as usize,
            other => anyhow::bail!("unknown option {other}; see `blog --help`"),
        }
    }
    blog::bench::run(&std::env::current_exe()?, settings).await
}

async fn up(args: &[String]) -> anyhow::Result<()> {
    let data_dir: std::path::PathBuf = match args {
        [] => "./data".into(),
        [flag, dir] if flag == "--data-dir" => dir.into(),
        _ => anyhow::bail!("usage: blog up [--data-dir DIR]"),
    };
    let me = std::env::current_exe()?;
    let plan = Plan::reference(&me, data_dir, Logs::Prefixed);
    let system = plan.launch().await?;
    system.print_urls();
    blog_runtime::shutdown_signal().await;
    println!("\nStopping the blog...");
    for (name, stopped) in system.stop(Duration::from_secs(10)).await {
        println!("  {name:<11} {stopped}");
    }
    Ok(())
}
