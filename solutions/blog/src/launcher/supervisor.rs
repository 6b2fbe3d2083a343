//! Looking after one service: a process that ends unasked is reported and
//! started again, with backoff; one asked to stop gets SIGTERM, then SIGKILL.

use std::fmt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use blog_runtime::Backoff;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::process::{Process, Spawner};

/// How a service ended.
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    pub code: Option<i32>,
    pub took: Duration,
    /// It did not stop within the grace period and was killed.
    pub killed: bool,
    /// It was not running any more when asked to stop: it had died and
    /// waited to be started again, or (with code 0) someone had stopped it.
    pub was_down: bool,
}

impl Stopped {
    pub(super) const WAS_DOWN: Stopped = Stopped {
        code: None,
        took: Duration::ZERO,
        killed: false,
        was_down: true,
    };
    pub(super) const STOPPED_ON_ITS_OWN: Stopped = Stopped {
        code: Some(0),
        ..Stopped::WAS_DOWN
    };
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.was_down {
            return match self.code {
                Some(0) => write!(f, "was not running (someone had stopped it)"),
                _ => write!(
                    f,
                    "was not running (it had died, and waited to be started again)"
                ),
            };
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
pub(super) enum Request {
    /// SIGTERM, up to this long to exit, then SIGKILL; and no restart.
    Stop(Duration),
    /// SIGKILL at once, and no restart.
    Kill,
}

/// One service under supervision.
pub(super) struct Supervisor {
    pub(super) requests: oneshot::Sender<Request>,
    pub(super) status: watch::Receiver<Status>,
    pub(super) task: JoinHandle<Stopped>,
}

/// A service that ran this long since its last start did not crash "in a
/// row": the next restart waits only the first, short delay again.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Looks after one service until asked to stop it: a process that ends
/// unasked is reported and started again, with backoff.
pub(super) async fn supervise(
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
        if let Ok(exit) = &exit
            && exit.success()
        {
            // Our services exit with 0 only when asked to stop (SIGTERM or
            // Ctrl-C): someone did, on purpose. Kubernetes would start it
            // again; a learner who stopped it, to watch the others cope,
            // wants it to stay away, and its port free for their own copy.
            spawner.report(&format!(
                "stopped (exit code 0), so someone asked it to: not starting it again; \
                 its port {} is free",
                spawner.port
            ));
            return Stopped::STOPPED_ON_ITS_OWN;
        }
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
                spawner.start(None).await
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
        Ok(Request::Kill) | Err(_) => kill_now(child, Instant::now()).await,
    };
    process.drain_output().await;
    stopped
}

/// SIGKILL, and how it ended: counted from `started`.
async fn kill_now(child: &mut Child, started: Instant) -> Stopped {
    let _ = child.kill().await;
    Stopped {
        code: None,
        took: started.elapsed(),
        killed: true,
        was_down: false,
    }
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
        _ => kill_now(child, started).await,
    }
}
