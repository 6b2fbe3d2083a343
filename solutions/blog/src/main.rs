//! `blog <service>` runs one service of the blog in this process; the Docker
//! image runs exactly this. `blog up` runs all six as separate processes and
//! looks after them. The services and what they do come from the catalogue.

use std::path::PathBuf;

use blog::launcher::{Logs, Plan};
use blog_catalogue::Service;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "blog",
    about = "The blog: run one of its services, or all of them.",
    after_help = "Each service reads its configuration from environment variables (PORT, HOST, \
                  DATA_DIR, EVENT_BUS_URL, ...) with defaults that work on localhost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands besides the services themselves, which [`cli`] adds from the catalogue.
#[derive(Subcommand)]
enum Command {
    /// Run every service as its own process until Ctrl-C, starting again any that dies.
    Up {
        /// Where the services keep their data.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Put every service on a free port instead of its default one
        /// (to run a second blog beside the first).
        #[arg(long)]
        free_ports: bool,
        /// What carries the events: the blog's own HTTP bus, or a
        /// three-node NATS JetStream cluster from the system's nats-server.
        #[arg(long, value_enum, default_value_t = Bus::Http)]
        bus: Bus,
    },
}

/// What carries the events (`up --bus`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Bus {
    Http,
    Nats,
}

/// The command line: [`Cli`], plus one subcommand per service of the catalogue.
fn cli() -> clap::Command {
    Service::ALL
        .into_iter()
        .fold(Cli::command(), |cli, service| {
            cli.subcommand(
                clap::Command::new(service.name())
                    .about(format!("Run the {service} service ({})", service.role())),
            )
        })
}

fn main() {
    match blog_runtime::service_runtime() {
        Ok(runtime) => runtime.block_on(run_command()),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    }
}

async fn run_command() {
    let matches = cli().get_matches();
    let service = matches
        .subcommand_name()
        .and_then(|name| name.parse::<Service>().ok());
    let result = match service {
        Some(service) => {
            blog_runtime::init_tracing();
            blog::run_service(service.name()).await
        }
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => run(cli).await,
            Err(error) => error.exit(),
        },
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            data_dir,
            free_ports,
            bus,
        } => {
            let me = std::env::current_exe()?;
            let mut plan = Plan::reference(&me, data_dir, Logs::Prefixed);
            if free_ports {
                plan = plan.on_free_ports();
            }
            match bus {
                Bus::Http => plan.launch().await?.run_until_signal().await,
                Bus::Nats => blog::launcher::nats::up_on_nats(plan, free_ports).await?,
            }
            Ok(())
        }
    }
}
