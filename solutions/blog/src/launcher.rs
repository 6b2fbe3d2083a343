//! Runs the blog's services as separate processes, the way they run in
//! production: each its own process, its own port, its own data, talking
//! only over HTTP. And it looks after them, the way Kubernetes would.
//!
//! Every fact it needs (names, default ports, start order, who finds whom
//! through which variable, who the bus delivers to) comes from
//! [`blog_catalogue::Service`].
//!
//! What it promises:
//! - **No port race.** The launcher binds every service's listening socket
//!   itself, before anything starts, and hands it to the service as
//!   descriptor 3 (`LISTEN_FDS=1`, systemd's socket activation, adopted by
//!   `blog_runtime::Server::start`). Port 0 becomes a real free port at once,
//!   and the bus is told its subscribers' addresses before they even run.
//! - **A service that dies comes back.** Each service has a supervisor task:
//!   when the process ends without being asked to, it says so and starts it
//!   again, waiting longer after each crash in a row
//!   ([`blog_runtime::Backoff`]). One that exits with code 0 unasked was
//!   stopped on purpose (`kill PID` asks it to stop, as Ctrl-C does): it
//!   stays stopped and its port is free, say for a copy of it you run
//!   yourself.
//! - **Nothing outlives the launcher.** Each child gets the parent-death
//!   signal (SIGTERM), so even a launcher killed with SIGKILL leaves no
//!   service behind.
//! - **Ctrl-C stops them in order**, the client first and the bus last: each
//!   child runs in its own process group, so the terminal's SIGINT reaches
//!   only the launcher, which then stops them one by one.
//!
//! Modules: `process` starts one service's process and waits until it is
//! ready; `supervisor` looks after it from then on; [`nats`] runs the
//! three-node NATS cluster the services use with `--bus nats` (chapter 10).

pub mod nats;
mod process;
mod supervisor;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use blog_catalogue::Service;
use tokio::sync::{oneshot, watch};

use process::Spawner;
use supervisor::{Request, Supervisor, supervise};
pub use supervisor::{Status, Stopped};

/// Where each service's output goes.
#[derive(Clone, Debug)]
pub enum Logs {
    /// To this terminal, each line prefixed with the service's name.
    Prefixed,
    /// To `DIR/<service>.log` (tests read them when something fails), and
    /// what the launcher itself says to `DIR/launcher.log`.
    Dir(PathBuf),
}

/// The program that runs one service.
#[derive(Clone, Debug)]
pub struct Program {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Shown to the learner: "reference" or "yours (exercises/01-posts)".
    pub origin: String,
}

/// What to start, where, with which data.
#[derive(Clone, Debug)]
pub struct Plan {
    pub data_dir: PathBuf,
    /// The port of each service on 127.0.0.1; 0 means any free port. After
    /// [`Plan::launch`], [`RunningSystem::plan`] holds the real ones.
    pub ports: BTreeMap<Service, u16>,
    pub programs: BTreeMap<Service, Program>,
    pub logs: Logs,
    /// Extra environment for every service (e.g. `RUST_LOG`).
    pub extra_env: Vec<(String, String)>,
}

impl Plan {
    /// Every service from the `blog` binary at `blog`, on its default port.
    pub fn reference(blog: &Path, data_dir: impl Into<PathBuf>, logs: Logs) -> Plan {
        let programs = Service::ALL
            .into_iter()
            .map(|service| {
                let program = Program {
                    program: blog.to_path_buf(),
                    args: vec![service.name().to_string()],
                    origin: "reference".to_string(),
                };
                (service, program)
            })
            .collect();
        Plan {
            data_dir: data_dir.into(),
            ports: Service::ALL
                .into_iter()
                .map(|service| (service, service.default_port()))
                .collect(),
            programs,
            logs,
            extra_env: Vec::new(),
        }
    }

    /// Puts every service on a free port (for tests that run side by side,
    /// or a second blog beside the first). The ports are chosen when
    /// [`Plan::launch`] binds them, and held from then on: no race.
    pub fn on_free_ports(mut self) -> Plan {
        for port in self.ports.values_mut() {
            *port = 0;
        }
        self
    }

    /// The services on the NATS JetStream cluster at `servers` (its
    /// comma-separated `nats://` URLs) instead of the HTTP bus: each gets
    /// `EVENT_BUS_URL=<servers>`, and the event-bus process is not started.
    pub fn on_nats(mut self, servers: &str) -> Plan {
        self.programs.remove(&Service::EventBus);
        self.extra_env
            .push(("EVENT_BUS_URL".to_string(), servers.to_string()));
        self
    }

    /// The services this plan starts, in order.
    pub fn services(&self) -> impl Iterator<Item = Service> + '_ {
        Service::ALL
            .into_iter()
            .filter(|service| self.programs.contains_key(service))
    }

    pub fn port(&self, service: Service) -> u16 {
        self.ports[&service]
    }

    /// `http://127.0.0.1:PORT` of a service: where the other services reach it.
    pub fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.port(service))
    }

    /// `http://localhost:PORT`: where the browser reaches it.
    pub fn browser_url(&self, service: Service) -> String {
        format!("http://localhost:{}", self.port(service))
    }

    /// The environment a service gets: its port, its data folder, where the
    /// services it links to are (the catalogue's [`Service::links`]), and
    /// the page's origins for CORS. The same variables Docker and Kubernetes set.
    pub fn env_for(&self, service: Service) -> Vec<(String, String)> {
        let client = self.port(Service::Client);
        let mut env = vec![
            ("HOST".to_string(), Ipv4Addr::LOCALHOST.to_string()),
            ("PORT".to_string(), self.port(service).to_string()),
            ("DATA_DIR".to_string(), self.data_dir.display().to_string()),
            // The page is served from either name; a browser sends the one it used.
            (
                "CORS_ORIGINS".to_string(),
                format!("http://localhost:{client},http://127.0.0.1:{client}"),
            ),
        ];
        for link in service.links() {
            let urls: Vec<String> = link
                .to
                .iter()
                .map(|&to| {
                    if link.from_browser {
                        self.browser_url(to)
                    } else {
                        self.url(to)
                    }
                })
                .collect();
            env.push((link.variable.to_string(), urls.join(",")));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Binds every service's socket, then starts the services in order,
    /// each once the one before answers `/healthz`.
    pub async fn launch(mut self) -> Result<RunningSystem> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data folder {}", self.data_dir.display()))?;
        if let Logs::Dir(dir) = &self.logs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the log folder {}", dir.display()))?;
        }
        // Every port first: a conflict stops the launch before anything runs,
        // and port 0 becomes the real port the others are told about.
        let mut listeners = BTreeMap::new();
        for service in self.services().collect::<Vec<_>>() {
            let listener = bind(service, self.port(service))?;
            self.ports.insert(service, listener.local_addr()?.port());
            listeners.insert(service, listener);
        }
        let mut system = RunningSystem {
            plan: self,
            supervisors: BTreeMap::new(),
        };
        for service in system.plan.services().collect::<Vec<_>>() {
            let started = system.supervise(service, listeners.remove(&service)).await;
            if let Err(error) = started {
                system.stop(Duration::from_secs(5)).await;
                return Err(error);
            }
        }
        Ok(system)
    }
}

/// Binds a service's socket on 127.0.0.1, after checking that nothing else
/// answers where a browser would look for `localhost:PORT`.
///
/// Another process on our port would answer our health check and hide the
/// fact that this service could not start, and one on `[::1]` would get the
/// browser's requests (most browsers try IPv6 first for `localhost`): refuse
/// both up front.
fn bind(service: Service, port: u16) -> Result<TcpListener> {
    let in_use = |on: &str| {
        anyhow::anyhow!(
            "port {port} for {service} is already in use{on} (is the blog already running? \
             `cargo workbook doctor` lists busy ports)"
        )
    };
    let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(listener) => listener,
        Err(error) if error.kind() == io::ErrorKind::AddrInUse => return Err(in_use("")),
        Err(error) => {
            return Err(error).with_context(|| format!("binding port {port} for {service}"));
        }
    };
    let port = listener.local_addr()?.port();
    // Where a browser looks: what `localhost` resolves to, and IPv6's
    // loopback even where the resolver does not say so.
    let mut others: Vec<SocketAddr> = ("localhost", port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    others.push(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
    for addr in others {
        if addr.ip() == Ipv4Addr::LOCALHOST {
            continue;
        }
        // Binding it and letting go at once: it is only a question. A machine
        // without IPv6 answers "address not available", which is no conflict.
        if let Err(error) = TcpListener::bind(addr)
            && error.kind() == io::ErrorKind::AddrInUse
        {
            return Err(in_use(&format!(
                " on {addr}, where a browser looks for localhost:{port}"
            )));
        }
    }
    Ok(listener)
}

/// The running services.
pub struct RunningSystem {
    plan: Plan,
    supervisors: BTreeMap<Service, Supervisor>,
}

impl RunningSystem {
    /// The plan, with the real ports.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn url(&self, service: Service) -> String {
        self.plan.url(service)
    }

    /// The process id of every running service.
    pub fn pids(&self) -> Vec<(Service, u32)> {
        self.supervisors
            .iter()
            .filter_map(|(&service, supervisor)| Some((service, supervisor.status.borrow().pid?)))
            .collect()
    }

    /// What the supervisor of `service` knows, if it is supervised.
    pub fn status(&self, service: Service) -> Option<Status> {
        Some(*self.supervisors.get(&service)?.status.borrow())
    }

    /// Prints where everything is.
    pub fn print_urls(&self) {
        println!("\nThe blog is running (Ctrl-C stops every service):\n");
        for service in self.plan.services() {
            let program = &self.plan.programs[&service];
            let pid = self
                .status(service)
                .and_then(|s| s.pid)
                .map_or_else(String::new, |pid| format!("pid {pid}"));
            println!(
                "  {:<11} {:<22} {:<10} {:<44} [{}]",
                service.name(),
                self.plan.browser_url(service),
                pid,
                service.role(),
                program.origin
            );
        }
        println!(
            "\n  Open {}/ in your browser.",
            self.plan.browser_url(Service::Client)
        );
        println!("  Data is kept in {}", self.plan.data_dir.display());
        println!(
            "  A service that dies is started again, as Kubernetes would (try `kill -9 PID`).\n"
        );
    }

    /// What `blog up` and `cargo workbook up` do once launched: show where
    /// everything is, look after the services until Ctrl-C or SIGTERM, then
    /// stop them in order and say how each ended.
    pub async fn run_until_signal(self) {
        // Listen for Ctrl-C before saying that it stops the blog.
        let signal = blog_runtime::shutdown_signal();
        self.print_urls();
        signal.await;
        println!("\nStopping the blog, the client first and the bus last...");
        for (service, stopped) in self.stop(Duration::from_secs(10)).await {
            println!("  {:<11} {stopped}", service.name());
        }
    }

    /// Starts one service on its port, waits until it is ready, and
    /// supervises it from then on.
    pub async fn start_service(&mut self, service: Service) -> Result<()> {
        self.supervise(service, None).await
    }

    /// [`Self::start_service`], on `listener` if the port is bound already.
    async fn supervise(&mut self, service: Service, listener: Option<TcpListener>) -> Result<()> {
        if let Some(supervisor) = self.supervisors.get(&service) {
            if !supervisor.task.is_finished() {
                bail!("{service} is already running");
            }
            // It stopped on its own earlier: start it afresh.
            self.supervisors.remove(&service);
        }
        let spawner = Spawner {
            service,
            program: self
                .plan
                .programs
                .get(&service)
                .with_context(|| format!("no program for {service}"))?
                .clone(),
            env: self.plan.env_for(service),
            port: self.plan.port(service),
            logs: self.plan.logs.clone(),
            health: format!("{}/healthz", self.plan.url(service)),
        };
        let process = spawner.start(listener).await?;
        let (status_tx, status) = watch::channel(Status {
            pid: process.child.id(),
            restarts: 0,
        });
        let (requests, requested) = oneshot::channel();
        let task = tokio::spawn(supervise(spawner, process, requested, status_tx));
        self.supervisors.insert(
            service,
            Supervisor {
                requests,
                status,
                task,
            },
        );
        Ok(())
    }

    /// Waits until `service` has been restarted at least `restarts` times
    /// and is healthy again, for at most `within`.
    pub async fn wait_for_restarts(
        &mut self,
        service: Service,
        restarts: u32,
        within: Duration,
    ) -> Result<Status> {
        let supervisor = self
            .supervisors
            .get_mut(&service)
            .with_context(|| format!("{service} is not supervised"))?;
        let status = tokio::time::timeout(
            within,
            supervisor
                .status
                .wait_for(|s| s.restarts >= restarts && s.pid.is_some()),
        )
        .await
        .with_context(|| format!("{service} was not back within {within:?}"))?
        .with_context(|| format!("the supervisor of {service} ended"))?;
        Ok(*status)
    }

    /// Sends SIGTERM (what `docker stop` sends) and waits up to `grace`;
    /// kills it after that. It stays stopped until [`Self::start_service`].
    pub async fn stop_service(&mut self, service: Service, grace: Duration) -> Result<Stopped> {
        self.end_supervision(service, Request::Stop(grace)).await
    }

    /// SIGKILL: the process gets no chance to clean up, like a crash or a
    /// power cut. Unlike a crash, it is not restarted.
    pub async fn kill_service(&mut self, service: Service) -> Result<Stopped> {
        self.end_supervision(service, Request::Kill).await
    }

    async fn end_supervision(&mut self, service: Service, request: Request) -> Result<Stopped> {
        let supervisor = self
            .supervisors
            .remove(&service)
            .with_context(|| format!("{service} is not running"))?;
        // If the supervisor already ended, its result says how.
        let _ = supervisor.requests.send(request);
        supervisor
            .task
            .await
            .with_context(|| format!("the supervisor of {service} failed"))
    }

    /// Stops every service, the client first and the bus last, so nothing
    /// is left sending events to a bus that is gone.
    pub async fn stop(mut self, grace: Duration) -> Vec<(Service, Stopped)> {
        let mut stopped = Vec::new();
        for service in Service::ALL.into_iter().rev() {
            if let Ok(how) = self.stop_service(service, grace).await {
                stopped.push((service, how));
            }
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_is_told_where_its_links_are_and_which_origin_the_page_has() {
        let plan = Plan::reference("/bin/blog".as_ref(), "/tmp/blog-data", Logs::Prefixed);
        let env =
            |service| -> BTreeMap<String, String> { plan.env_for(service).into_iter().collect() };
        assert_eq!(
            env(Service::EventBus)["SUBSCRIBERS"],
            "http://127.0.0.1:4000,http://127.0.0.1:4001,http://127.0.0.1:4002,http://127.0.0.1:4003"
        );
        // The service itself calls posts; the page in the browser does too.
        assert_eq!(env(Service::Comments)["POSTS_URL"], "http://127.0.0.1:4000");
        assert_eq!(env(Service::Client)["POSTS_URL"], "http://localhost:4000");
        assert_eq!(env(Service::Client)["QUERY_URL"], "http://localhost:4002");
        for service in Service::ALL {
            let env = env(service);
            assert_eq!(
                env["CORS_ORIGINS"], "http://localhost:3000,http://127.0.0.1:3000",
                "{service}"
            );
            assert_eq!(env["PORT"], service.default_port().to_string());
            assert_eq!(env["DATA_DIR"], "/tmp/blog-data");
            for link in service.links() {
                assert!(
                    env.contains_key(link.variable),
                    "{service}: {}",
                    link.variable
                );
            }
        }
    }
}
