//! The `blog` binary as a learner runs it, in real processes: `blog up` in
//! front of its six children, and one service alone. What happens when the
//! launcher is killed, when Ctrl-C reaches it, and when a service is asked
//! to stop while a client never finishes its request.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BLOG: &str = env!("CARGO_BIN_EXE_blog");

/// `blog up` on free ports, in a process group of its own (as a shell runs
/// a command), once it says the blog is running: the launcher, its output,
/// and the pid of every service it printed.
async fn blog_up(data: &tempfile::TempDir) -> (Child, Lines<BufReader<ChildStdout>>, Vec<u32>) {
    let mut launcher = Command::new(BLOG)
        .args(["up", "--free-ports", "--data-dir"])
        .arg(data.path().join("data"))
        .env("RUST_LOG", "info")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(launcher.stdout.take().unwrap()).lines();
    let mut pids = Vec::new();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, rest)) = line.split_once(" pid ") {
                pids.push(rest.split_whitespace().next().unwrap().parse().unwrap());
            }
            if line.contains("Open http://localhost:") {
                return;
            }
        }
        panic!("blog up ended before the blog was running");
    })
    .await;
    assert!(ready.is_ok(), "blog up did not start within 60 s");
    assert_eq!(pids.len(), 6, "one pid per service: {pids:?}");
    (launcher, lines, pids)
}

/// The process exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn sigkill_all(pids: &[u32]) {
    for &pid in pids {
        if alive(pid) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_launcher_is_killed_with_sigkill_no_service_is_left_running() {
    let data = tempfile::tempdir().unwrap();
    let (mut launcher, _output, pids) = blog_up(&data).await;
    assert!(pids.iter().all(|&pid| alive(pid)), "{pids:?}");

    launcher.start_kill().unwrap();
    launcher.wait().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
    sigkill_all(&left);
    assert!(
        left.is_empty(),
        "services still running 10 s after their launcher was killed: {left:?}"
    );
}

/// The timestamp of the first line of `service` that ends with `message`.
fn logged_at<'a>(lines: &'a [String], service: &str, message: &str) -> &'a str {
    let prefix = format!("[{service:>10}] ");
    lines
        .iter()
        .find_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            rest.trim_end()
                .ends_with(message)
                .then(|| rest.split_whitespace().next())?
        })
        .unwrap_or_else(|| panic!("{service} never logged {message:?}:\n{}", lines.join("\n")))
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_services_in_order_the_client_first_and_the_bus_last() {
    let data = tempfile::tempdir().unwrap();
    let (mut launcher, mut output, pids) = blog_up(&data).await;

    // What a terminal does on Ctrl-C: SIGINT to the whole foreground group.
    let group = Pid::from_raw(launcher.id().unwrap() as i32);
    killpg(group, Signal::SIGINT).unwrap();
    let mut lines = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = output.next_line().await.unwrap() {
            lines.push(blog_testkit::without_colours(&line));
        }
        launcher.wait().await.unwrap()
    })
    .await;
    sigkill_all(&pids);
    let status = ended.expect("blog up ends within 30 s of Ctrl-C");
    assert!(status.success(), "{status}\n{}", lines.join("\n"));

    let report: Vec<&str> = lines
        .iter()
        .skip_while(|line| !line.starts_with("Stopping the blog"))
        .skip(1)
        // The launcher's report, between the services' own last words.
        .filter(|line| line.starts_with("  "))
        .map(String::as_str)
        .collect();
    let order: Vec<&str> = report
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        order,
        [
            "client",
            "moderation",
            "query",
            "comments",
            "posts",
            "event-bus"
        ],
        "{}",
        lines.join("\n")
    );
    assert!(
        report
            .iter()
            .all(|line| line.contains("exited with code 0")),
        "{report:#?}"
    );
    // In order for real: the bus was asked to stop only after the client had
    // stopped (had every service heard the terminal's SIGINT, they would all
    // have started shutting down at the same moment).
    let client_stopped = logged_at(&lines, "client", "stopped");
    let bus_asked = logged_at(&lines, "event-bus", "shutting down");
    assert!(
        client_stopped < bus_asked,
        "the bus began to shut down at {bus_asked}, before the client had stopped at {client_stopped}"
    );
}

/// One service alone, on port 0, and the address it reports.
async fn start_posts(data: &tempfile::TempDir, shutdown_timeout: &str) -> (Child, String) {
    let mut posts = Command::new(BLOG)
        .arg("posts")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        // Nothing listens there; posts keeps its events in its outbox meanwhile.
        .env("EVENT_BUS_URL", "http://127.0.0.1:9")
        .env("SHUTDOWN_TIMEOUT_SECS", shutdown_timeout)
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(posts.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix(blog_runtime::LISTENING_PREFIX) {
                return Some(url.to_string());
            }
        }
        None
    })
    .await
    .expect("posts says where it listens within 30 s");
    match url {
        Some(url) => (posts, url),
        None => {
            let mut stderr = String::new();
            let _ = posts
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .await;
            panic!("posts ended without listening:\n{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sigterm_a_request_that_never_finishes_gets_the_shutdown_timeout_then_the_service_exits()
{
    let data = tempfile::tempdir().unwrap();
    let (mut posts, url) = start_posts(&data, "1").await;

    // A slow client: it announces 1000 bytes and sends 12. `Expect:
    // 100-continue` makes the service say when it starts reading the body,
    // so we know the request is in flight before we send SIGTERM.
    let addr = url.strip_prefix("http://").unwrap();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /posts HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
          content-length: 1000\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("posts answers 100 Continue")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    slow.write_all(br#"{"title": "#).await.unwrap();

    let asked = Instant::now();
    kill(Pid::from_raw(posts.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(6), posts.wait())
        .await
        .expect("posts exits within its 1 s shutdown timeout (and some slack), slow client or not")
        .unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_millis(900),
        "the request in flight first gets its time ({took:?})"
    );
    drop(slow);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_timeout_that_is_not_a_number_is_a_one_line_error() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(BLOG)
        .arg("posts")
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env("SHUTDOWN_TIMEOUT_SECS", "soon")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ")
            && last.contains("SHUTDOWN_TIMEOUT_SECS")
            && last.contains("\"soon\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
