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
//!   again, waiting longer after each crash in a row ([`Backoff`]). The
//!   socket stays open meanwhile, so requests wait instead of failing.
//! - **Nothing outlives the launcher.** Each child gets the parent-death
//!   signal (SIGTERM), so even a launcher killed with SIGKILL leaves no
//!   service behind.
//! - **Ctrl-C stops them in order**, the client first and the bus last: each
//!   child runs in its own process group, so the terminal's SIGINT reaches
//!   only the launcher, which then stops them one by one.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blog_catalogue::Service;
use blog_runtime::Backoff;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

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
        let mut listeners = BTreeMap::new();
        for service in Service::ALL {
            let listener = bind(service, self.port(service))?;
            self.ports.insert(service, listener.local_addr()?.port());
            listeners.insert(service, Arc::new(listener));
        }
        let mut system = RunningSystem {
            plan: self,
            listeners,
            supervisors: BTreeMap::new(),
        };
        for service in Service::ALL {
            if let Err(error) = system.start_service(service).await {
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

/// How a service ended.
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    pub code: Option<i32>,
    pub took: Duration,
    /// It did not stop within the grace period and was killed.
    pub killed: bool,
    /// It was not running: it had died and waited to be started again.
    pub was_down: bool,
}

impl Stopped {
    const WAS_DOWN: Stopped = Stopped {
        code: None,
        took: Duration::ZERO,
        killed: false,
        was_down: true,
    };
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.was_down {
            return write!(
                f,
                "was not running (it had died, and waited to be started again)"
            );
        }
        match (self.killed, self.code) {
            (true, _) => write!(f, "killed after {:.1?} (it ignored SIGTERM)", self.took),
            (false, Some(code)) => write!(f, "exited with code {code} after {:.0?}", self.took),
            (false, None) => write!(f, "ended by a signal after {:.0?}", self.took),
        }
    }
}

/// What a supervisor knows about its service right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The process running now, if one is (none while it is being restarted).
    pub pid: Option<u32>,
    /// How many times it was started again after dying.
    pub restarts: u32,
}

/// What the owner of a supervisor can ask of it.
enum Request {
    /// SIGTERM, up to this long to exit, then SIGKILL; and no restart.
    Stop(Duration),
    /// SIGKILL at once, and no restart.
    Kill,
}

/// One service under supervision.
struct Supervisor {
    requests: oneshot::Sender<Request>,
    status: watch::Receiver<Status>,
    task: JoinHandle<Stopped>,
}

/// The running services.
pub struct RunningSystem {
    plan: Plan,
    /// Held for the whole run: a restarted service gets the same socket.
    listeners: BTreeMap<Service, Arc<TcpListener>>,
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
        for service in Service::ALL {
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

    /// Starts one service, waits until it is healthy, and supervises it from then on.
    pub async fn start_service(&mut self, service: Service) -> Result<()> {
        if self.supervisors.contains_key(&service) {
            bail!("{service} is already running");
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
            listener: self.listeners[&service].clone(),
            logs: self.plan.logs.clone(),
            health: format!("{}/healthz", self.plan.url(service)),
        };
        let process = spawner.start().await?;
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

/// Everything needed to start one service's process, again and again.
struct Spawner {
    service: Service,
    program: Program,
    env: Vec<(String, String)>,
    listener: Arc<TcpListener>,
    logs: Logs,
    health: String,
}

/// How long a service may take to answer `/healthz` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A service that ran this long since its last start did not crash "in a
/// row": the next restart waits only the first, short delay again.
const STABLE_AFTER: Duration = Duration::from_secs(10);

impl Spawner {
    /// Starts the process and waits until it answers `/healthz`.
    async fn start(&self) -> Result<Process> {
        let name = self.service.name();
        let mut command = Command::new(&self.program.program);
        command
            .args(&self.program.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("LISTEN_FDS", "1")
            .kill_on_drop(true)
            .stdin(Stdio::null());
        hand_over(&mut command, &self.listener);
        let log_file = match &self.logs {
            Logs::Prefixed => None,
            Logs::Dir(dir) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{name}.log")))?,
            ),
        };
        // Standard output always comes through us, to see the service's
        // `listening on` line; its log lines (stderr) go straight to the file.
        command.stdout(Stdio::piped());
        match &log_file {
            Some(file) => command.stderr(file.try_clone()?),
            None => command.stderr(Stdio::piped()),
        };
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name} with {}", self.program.program.display()))?;
        let said_listening = Arc::new(AtomicBool::new(false));
        let stdout_file = log_file
            .as_ref()
            .map(std::fs::File::try_clone)
            .transpose()?;
        let mut output = Vec::new();
        output.extend(forward(
            name,
            child.stdout.take(),
            stdout_file,
            Some(said_listening.clone()),
        ));
        if log_file.is_none() {
            output.extend(forward(name, child.stderr.take(), None, None));
        }
        match self.wait_until_ready(&mut child, &said_listening).await {
            Ok(()) => Ok(Process { child, output }),
            Err(error) => {
                let _ = child.kill().await;
                Err(error)
            }
        }
    }

    /// Waits until the service answers `/healthz` *and* has printed its
    /// `listening on` line ([`blog_runtime::LISTENING_PREFIX`]). The line
    /// comes once it also listens for SIGTERM: a service that answers but
    /// has not said it yet could still be ended on the spot by a signal.
    async fn wait_until_ready(&self, child: &mut Child, said_listening: &AtomicBool) -> Result<()> {
        let name = self.service.name();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited during start-up ({status}); see its log{}",
                    self.log_hint()
                );
            }
            let healthy = client
                .get(&self.health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            // The socket is ours, so whoever answered is this child.
            if healthy && said_listening.load(Ordering::Acquire) {
                return Ok(());
            }
            if Instant::now() > deadline {
                if healthy {
                    bail!(
                        "{name} answers {} but never printed `{}URL` within {START_TIMEOUT:?} \
                         (is it built on blog_runtime::Server?)",
                        self.health,
                        blog_runtime::LISTENING_PREFIX
                    );
                }
                bail!(
                    "{name} did not answer {} within {START_TIMEOUT:?}{}",
                    self.health,
                    self.log_hint()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_hint(&self) -> String {
        match &self.logs {
            Logs::Dir(dir) => {
                let log = std::fs::read_to_string(dir.join(format!("{}.log", self.service)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    ":\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            }
            Logs::Prefixed => " above".to_string(),
        }
    }

    /// Says what the supervisor saw: on the terminal, or in `launcher.log`.
    fn report(&self, message: &str) {
        let line = format!("[  launcher] {}: {message}", self.service);
        match &self.logs {
            Logs::Prefixed => println!("{line}"),
            Logs::Dir(dir) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("launcher.log"));
                if let Ok(mut file) = file {
                    let _ = writeln!(file, "{line}");
                }
            }
        }
    }
}

/// Prepares the child, between `fork` and `exec`: the listening socket as
/// descriptor 3, the parent-death signal, a process group of its own.
fn hand_over(command: &mut Command, listener: &TcpListener) {
    // Ctrl-C in a terminal signals its whole foreground process group. In a
    // group of their own, the services hear it only from us, in order.
    command.process_group(0);
    let launcher = nix::unistd::getpid();
    let socket = listener.as_raw_fd();
    // SAFETY: `pre_exec` is unsafe because the closure runs in the child
    // after `fork`, where only async-signal-safe calls are allowed (another
    // thread of ours may have held a lock at the moment of the fork, which
    // stays locked forever in the child). `in_child` makes only system
    // calls (prctl, getppid, dup2, fcntl): no allocation, no lock, no
    // output. The descriptor it duplicates is owned by the `Arc<TcpListener>`
    // the caller holds while the child is spawned, so it is open.
    unsafe {
        command.pre_exec(move || in_child(launcher, socket));
    }
}

/// Runs in the child, between `fork` and `exec` (see [`hand_over`]).
fn in_child(launcher: Pid, socket: RawFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // Linux only: the kernel sends us SIGTERM when the thread that forked us
    // ends. The launcher forks from the thread that runs its runtime or from
    // the runtime's worker threads, which live as long as the launcher.
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    // The launcher may have died before the line above: then nobody would
    // ever send that signal. Our parent is someone else by now; give up.
    if nix::unistd::getppid() != launcher {
        // No allocation here (see `hand_over`): an error made from a number.
        return Err(io::Error::from_raw_os_error(
            nix::errno::Errno::ESRCH as i32,
        ));
    }
    // SAFETY: `socket` is open (see `hand_over`). Whatever descriptor 3 was
    // in this child is a close-on-exec copy of one of the parent's (a
    // socket, a pipe already duplicated onto 0 to 2, the read end of the
    // pipe std uses to report a failed `exec`, which it has closed by now;
    // its write end is never 3, pipes take the lowest numbers read end
    // first): `dup2` closes it, and nothing in this short-lived child uses
    // it. The returned `OwnedFd` is turned back into a plain number at once,
    // so it is never closed here.
    let inherited = unsafe { nix::unistd::dup2_raw(BorrowedFd::borrow_raw(socket), 3)? };
    // `dup2` leaves the new descriptor open across `exec`, except when
    // `socket` already was 3: make sure in both cases.
    fcntl(&inherited, FcntlArg::F_SETFD(FdFlag::empty()))?;
    let _ = inherited.into_raw_fd();
    Ok(())
}

/// A service's process, and the tasks that copy its output to the terminal.
struct Process {
    child: Child,
    output: Vec<JoinHandle<()>>,
}

impl Process {
    /// Waits (briefly) until what the process wrote is on the terminal, so
    /// its last words come before what the launcher says about its end.
    async fn drain_output(&mut self) {
        let output = std::mem::take(&mut self.output);
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            for task in output {
                let _ = task.await;
            }
        })
        .await;
    }
}

/// Looks after one service until asked to stop it: a process that ends
/// unasked is reported and started again, with backoff.
async fn supervise(
    spawner: Spawner,
    mut process: Process,
    mut requests: oneshot::Receiver<Request>,
    status: watch::Sender<Status>,
) -> Stopped {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut started = Instant::now();
    loop {
        let exit = tokio::select! {
            request = &mut requests => return end(&mut process, request).await,
            exit = process.child.wait() => exit,
        };
        process.drain_output().await;
        status.send_modify(|s| s.pid = None);
        let mut how = match exit {
            Ok(exit) => describe(exit),
            Err(error) => format!("could not be watched ({error})"),
        };
        if started.elapsed() > STABLE_AFTER {
            backoff.reset();
        }
        // Like Kubernetes' CrashLoopBackOff: try again, later each time.
        loop {
            let delay = backoff.next_delay();
            spawner.report(&format!("{how}; starting it again in {delay:.1?}"));
            let attempt = async {
                tokio::time::sleep(delay).await;
                spawner.start().await
            };
            tokio::select! {
                // Asked to stop while it was down: nothing is left to stop (a
                // process half started is killed as `attempt` is dropped).
                _ = &mut requests => return Stopped::WAS_DOWN,
                attempt = attempt => match attempt {
                    Ok(new) => {
                        process = new;
                        break;
                    }
                    Err(error) => how = format!("did not come back: {error:#}"),
                },
            }
        }
        started = Instant::now();
        status.send_modify(|s| {
            s.pid = process.child.id();
            s.restarts += 1;
        });
        let now = *status.borrow();
        spawner.report(&format!(
            "is back (pid {}, restart {})",
            now.pid.unwrap_or_default(),
            now.restarts
        ));
    }
}

fn describe(exit: ExitStatus) -> String {
    match exit.code() {
        Some(code) => format!("exited unexpectedly with code {code}"),
        None => format!("died ({exit})"),
    }
}

async fn end(
    process: &mut Process,
    request: Result<Request, oneshot::error::RecvError>,
) -> Stopped {
    let child = &mut process.child;
    let stopped = match request {
        Ok(Request::Stop(grace)) => terminate(child, grace).await,
        // Kill, or the owner is gone (dropped without stopping): no orphans.
        Ok(Request::Kill) | Err(_) => {
            let started = Instant::now();
            let _ = child.kill().await;
            Stopped {
                code: None,
                took: started.elapsed(),
                killed: true,
                was_down: false,
            }
        }
    };
    process.drain_output().await;
    stopped
}

/// SIGTERM, then up to `grace` for the process to exit, then SIGKILL.
async fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    let started = Instant::now();
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        // It may have ended a moment ago; `wait` below tells.
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => Stopped {
            code: status.code(),
            took: started.elapsed(),
            killed: false,
            was_down: false,
        },
        _ => {
            let _ = child.kill().await;
            Stopped {
                code: None,
                took: started.elapsed(),
                killed: true,
                was_down: false,
            }
        }
    }
}

/// Copies a child's output, line by line, to the terminal (prefixed with
/// the service's name) or to its log file, and notes its `listening on` line.
fn forward(
    name: &str,
    stream: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
    mut file: Option<std::fs::File>,
    said_listening: Option<Arc<AtomicBool>>,
) -> Option<JoinHandle<()>> {
    let stream = stream?;
    let name = name.to_string();
    Some(tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(flag) = &said_listening
                && line.starts_with(blog_runtime::LISTENING_PREFIX)
            {
                flag.store(true, Ordering::Release);
            }
            match &mut file {
                Some(file) => {
                    let _ = writeln!(file, "{line}");
                }
                None => println!("[{name:>10}] {line}"),
            }
        }
    }))
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
