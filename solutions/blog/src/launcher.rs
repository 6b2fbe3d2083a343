//! Runs the blog's services as separate processes, the way they run in
//! production: each its own process, its own port, its own data, talking
//! only over HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A service of the blog and the port it listens on by default.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub default_port: u16,
    pub role: &'static str,
}

/// Every service, in the order they start: the bus first, because the
/// others send it events and the query service replays its log.
pub const SERVICES: [ServiceInfo; 6] = [
    ServiceInfo {
        name: "event-bus",
        default_port: 4005,
        role: "stores every event and delivers it",
    },
    ServiceInfo {
        name: "posts",
        default_port: 4000,
        role: "creates posts",
    },
    ServiceInfo {
        name: "comments",
        default_port: 4001,
        role: "creates comments",
    },
    ServiceInfo {
        name: "query",
        default_port: 4002,
        role: "posts with their comments, built from events",
    },
    ServiceInfo {
        name: "moderation",
        default_port: 4003,
        role: "approves or rejects comments",
    },
    ServiceInfo {
        name: "client",
        default_port: 3000,
        role: "the web page",
    },
];

/// Where each service's output goes.
#[derive(Clone, Debug)]
pub enum Logs {
    /// To this terminal, each line prefixed with the service's name.
    Prefixed,
    /// To `DIR/<service>.log` (tests read them when something fails).
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
    pub ports: BTreeMap<String, u16>,
    pub programs: BTreeMap<String, Program>,
    pub logs: Logs,
    /// Extra environment for every service (e.g. `RUST_LOG`).
    pub extra_env: Vec<(String, String)>,
}

impl Plan {
    /// Every service from the `blog` binary at `blog`, on its default port.
    pub fn reference(blog: &Path, data_dir: impl Into<PathBuf>, logs: Logs) -> Plan {
        let programs = SERVICES
            .iter()
            .map(|s| {
                let program = Program {
                    program: blog.to_path_buf(),
                    args: vec![s.name.to_string()],
                    origin: "reference".to_string(),
                };
                (s.name.to_string(), program)
            })
            .collect();
        Plan {
            data_dir: data_dir.into(),
            ports: SERVICES
                .iter()
                .map(|s| (s.name.to_string(), s.default_port))
                .collect(),
            programs,
            logs,
            extra_env: Vec::new(),
        }
    }

    /// Moves every service to a free port (for tests that run side by side).
    pub fn with_free_ports(mut self) -> Result<Plan> {
        // Hold every listener until all ports are chosen, so no two are equal.
        let listeners: Vec<_> = SERVICES
            .iter()
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<_>>()?;
        for (service, listener) in SERVICES.iter().zip(&listeners) {
            self.ports
                .insert(service.name.to_string(), listener.local_addr()?.port());
        }
        Ok(self)
    }

    pub fn port(&self, service: &str) -> u16 {
        self.ports[service]
    }

    /// `http://127.0.0.1:PORT` of a service.
    pub fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(service))
    }

    /// The environment a service gets: its port, its data folder, and where
    /// the others are. The same variables Docker and Kubernetes set.
    pub fn env_for(&self, service: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOST".to_string(), "127.0.0.1".to_string()),
            ("PORT".to_string(), self.port(service).to_string()),
            ("DATA_DIR".to_string(), self.data_dir.display().to_string()),
            ("EVENT_BUS_URL".to_string(), self.url("event-bus")),
        ];
        match service {
            "event-bus" => {
                let subscribers: Vec<String> = ["posts", "comments", "query", "moderation"]
                    .iter()
                    .map(|s| self.url(s))
                    .collect();
                env.push(("SUBSCRIBERS".to_string(), subscribers.join(",")));
            }
            "comments" => env.push(("POSTS_URL".to_string(), self.url("posts"))),
            "client" => {
                // These are the addresses the *browser* uses.
                for (var, name) in [
                    ("POSTS_URL", "posts"),
                    ("COMMENTS_URL", "comments"),
                    ("QUERY_URL", "query"),
                ] {
                    env.push((
                        var.to_string(),
                        format!("http://localhost:{}", self.port(name)),
                    ));
                }
            }
            _ => {}
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Starts every service in order and waits until each answers `/healthz`.
    pub async fn launch(self) -> Result<RunningSystem> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating the data folder {}", self.data_dir.display()))?;
        let mut system = RunningSystem {
            plan: self,
            children: BTreeMap::new(),
        };
        for service in SERVICES {
            if let Err(error) = system.start_service(service.name).await {
                system.stop(Duration::from_secs(5)).await;
                return Err(error);
            }
        }
        Ok(system)
    }
}

/// How a service ended.
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    pub code: Option<i32>,
    pub took: Duration,
    /// It did not stop within the grace period and was killed.
    pub killed: bool,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.killed, self.code) {
            (true, _) => write!(f, "killed after {:.1?} (it ignored SIGTERM)", self.took),
            (false, Some(code)) => write!(f, "exited with code {code} after {:.0?}", self.took),
            (false, None) => write!(f, "ended by a signal after {:.0?}", self.took),
        }
    }
}

/// The running services.
pub struct RunningSystem {
    plan: Plan,
    children: BTreeMap<String, Child>,
}

impl RunningSystem {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn url(&self, service: &str) -> String {
        self.plan.url(service)
    }

    /// The process id of every running service.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter_map(|(name, child)| Some((name.clone(), child.id()?)))
            .collect()
    }

    /// Prints where everything is.
    pub fn print_urls(&self) {
        println!("\nThe blog is running (Ctrl-C stops every service):\n");
        for service in SERVICES {
            let program = &self.plan.programs[service.name];
            println!(
                "  {:<11} http://localhost:{:<5}  {:<44} [{}]",
                service.name,
                self.plan.port(service.name),
                service.role,
                program.origin
            );
        }
        println!(
            "\n  Open http://localhost:{}/ in your browser.",
            self.plan.port("client")
        );
        println!("  Data is kept in {}\n", self.plan.data_dir.display());
    }

    /// Starts one service and waits until it is healthy.
    pub async fn start_service(&mut self, name: &str) -> Result<()> {
        let program = self
            .plan
            .programs
            .get(name)
            .with_context(|| format!("no service {name}"))?
            .clone();
        // Another process on our port would answer our health check and hide
        // the fact that this service could not start: refuse up front.
        let port = self.plan.port(name);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!(
                "port {port} for {name} is already in use (is the blog already running? \
                 `cargo workbook doctor` lists busy ports)"
            );
        }
        let mut command = Command::new(&program.program);
        command
            .args(&program.args)
            .envs(self.plan.env_for(name))
            .kill_on_drop(true)
            .stdin(Stdio::null());
        match &self.plan.logs {
            Logs::Prefixed => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            Logs::Dir(dir) => {
                std::fs::create_dir_all(dir)?;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{name}.log")))?;
                command.stdout(file.try_clone()?).stderr(file);
            }
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name} with {}", program.program.display()))?;
        if let Logs::Prefixed = self.plan.logs {
            prefix_lines(name, child.stdout.take());
            prefix_lines(name, child.stderr.take());
        }
        let health = format!("{}/healthz", self.plan.url(name));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited during start-up ({status}); see its log{}",
                    self.log_hint(name)
                );
            }
            if client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{name} exited during start-up ({status}){}",
                        self.log_hint(name)
                    );
                }
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not answer {health} within 30 s{}",
                    self.log_hint(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.children.insert(name.to_string(), child);
        Ok(())
    }

    fn log_hint(&self, name: &str) -> String {
        match &self.plan.logs {
            Logs::Dir(dir) => {
                let log =
                    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    ":\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            }
            Logs::Prefixed => " above".to_string(),
        }
    }

    /// Sends SIGTERM (what `docker stop` sends) and waits up to `grace`; kills it after that.
    pub async fn stop_service(&mut self, name: &str, grace: Duration) -> Result<Stopped> {
        let mut child = self
            .children
            .remove(name)
            .with_context(|| format!("{name} is not running"))?;
        Ok(terminate(&mut child, grace).await)
    }

    /// SIGKILL: the process gets no chance to clean up, like a crash or a power cut.
    pub async fn kill_service(&mut self, name: &str) -> Result<()> {
        let mut child = self
            .children
            .remove(name)
            .with_context(|| format!("{name} is not running"))?;
        child.kill().await?;
        Ok(())
    }

    /// Stops every service, the client first and the bus last.
    pub async fn stop(mut self, grace: Duration) -> Vec<(String, Stopped)> {
        let mut stopped = Vec::new();
        for service in SERVICES.iter().rev() {
            if let Some(mut child) = self.children.remove(service.name) {
                stopped.push((service.name.to_string(), terminate(&mut child, grace).await));
            }
        }
        stopped
    }
}

async fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    let started = Instant::now();
    if let Some(pid) = child.id() {
        // SAFETY: sending a signal to a process we started; no memory is involved.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => Stopped {
            code: status.code(),
            took: started.elapsed(),
            killed: false,
        },
        _ => {
            let _ = child.kill().await;
            Stopped {
                code: None,
                took: started.elapsed(),
                killed: true,
            }
        }
    }
}

fn prefix_lines(name: &str, stream: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) {
    let Some(stream) = stream else { return };
    let name = name.to_string();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("[{name:>10}] {line}");
        }
    });
}
