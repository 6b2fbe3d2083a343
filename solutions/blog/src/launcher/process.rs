//! Starting one service's process: the socket handed over as descriptor 3,
//! the parent-death signal, a process group of its own, its output copied
//! where it belongs, and the wait until it is ready.

use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blog_catalogue::Service;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::{Logs, Program};

/// Everything needed to start one service's process, again and again.
pub(super) struct Spawner {
    pub(super) service: Service,
    pub(super) program: Program,
    pub(super) env: Vec<(String, String)>,
    /// The port it listens on; bound again for each start, as the socket
    /// closes with the process that had it.
    pub(super) port: u16,
    pub(super) logs: Logs,
    /// The service's `/healthz` URL.
    pub(super) health: String,
}

/// How long a service may take to answer `/healthz` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Spawner {
    /// Starts the process on `listener` (or on its port, bound now) and
    /// waits until it is ready.
    pub(super) async fn start(&self, listener: Option<TcpListener>) -> Result<Process> {
        let name = self.service.name();
        let listener = match listener {
            Some(listener) => listener,
            None => super::bind(self.service, self.port)?,
        };
        let mut command = Command::new(&self.program.program);
        command
            .args(&self.program.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("LISTEN_FDS", "1")
            .kill_on_drop(true)
            .stdin(Stdio::null());
        hand_over(&mut command, &listener);
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
        // The child has its own copy now. Not keeping ours means that only
        // the service listens on its port (`lsof -i :PORT` names it alone),
        // and the port is free once it stops.
        drop(listener);
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
    pub(super) fn report(&self, message: &str) {
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
    // output. The descriptor it duplicates belongs to the `TcpListener` the
    // caller keeps until the child is spawned, so it is open.
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
pub(super) struct Process {
    pub(super) child: Child,
    output: Vec<JoinHandle<()>>,
}

impl Process {
    /// Waits (briefly) until what the process wrote is on the terminal, so
    /// its last words come before what the launcher says about its end.
    pub(super) async fn drain_output(&mut self) {
        let output = std::mem::take(&mut self.output);
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            for task in output {
                let _ = task.await;
            }
        })
        .await;
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
