//! A service's binary as a child process, on a port it picks itself.
//!
//! Every blog service prints one line on stdout once it listens,
//! `listening on http://ADDR` ([`blog_runtime::LISTENING_PREFIX`]). So a
//! test starts it with `PORT=0` and reads that line, instead of choosing a
//! free port and hoping nobody takes it before the child binds it.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blog_runtime::LISTENING_PREFIX;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a child may take to say where it listens.
const STARTUP: Duration = Duration::from_secs(30);
/// How many of the child's last stderr lines a failure shows.
const TAIL_LINES: usize = 30;

/// A running service process, killed when this is dropped (pass or fail).
pub struct ServiceProcess {
    /// The process itself: kill it, wait for it, ask for its id.
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as the child reported it.
    pub url: String,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl ServiceProcess {
    /// The last lines the child wrote on stderr, to explain a failure.
    pub fn stderr_tail(&self) -> String {
        tail(&self.stderr)
    }
}

/// Starts `command` with `HOST=127.0.0.1` and `PORT=0`, and returns once
/// the child has said which address it bound (within 30 s). Fails, with the
/// end of the child's stderr, if it exits or stays silent instead.
pub async fn spawn_service(command: &mut Command) -> ServiceProcess {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_done = keep_tail(
        child.stderr.take().expect("stderr is piped"),
        stderr.clone(),
    );
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();

    let reported = tokio::time::timeout(STARTUP, async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                return Some(url.trim().to_string());
            }
        }
        None
    })
    .await;
    match reported {
        Ok(Some(url)) => {
            // Keep reading, so a chatty child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
            ServiceProcess { child, url, stderr }
        }
        Ok(None) => {
            let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(Ok(status)) => status.to_string(),
                _ => "it closed its stdout".to_string(),
            };
            // Its stderr ends with it: read it to the end before showing it.
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr_done).await;
            panic!(
                "{program} ended ({status}) before it printed `{LISTENING_PREFIX}URL` on stdout. \
                 The end of its stderr:\n{}",
                tail(&stderr)
            );
        }
        Err(_) => panic!(
            "{program} did not print `{LISTENING_PREFIX}URL` on stdout within {STARTUP:?}. \
             The end of its stderr:\n{}",
            tail(&stderr)
        ),
    }
}

/// Reads `stream` line by line in the background, keeping the last few.
fn keep_tail(
    stream: impl AsyncRead + Unpin + Send + 'static,
    lines: Arc<Mutex<VecDeque<String>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let mut lines = lines.lock().unwrap();
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    })
}

fn tail(lines: &Mutex<VecDeque<String>>) -> String {
    let lines = lines.lock().unwrap();
    if lines.is_empty() {
        return "(nothing)".to_string();
    }
    lines
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}
