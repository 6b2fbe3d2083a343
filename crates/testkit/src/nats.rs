//! The NATS gate of chapter 10: a real `nats-server` for a test, or a loud
//! `SKIPPED` where the machine has none (a failure under `REQUIRE_NATS=1`,
//! which CI sets).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blog_catalogue::broker::{NATS_INSTALL, find_nats_server};

use crate::skip_unless_required;

/// The `nats-server` program, or `None` after saying `SKIPPED` (the test
/// then returns). Under `REQUIRE_NATS=1` a missing server fails the test.
#[track_caller]
pub fn nats_server_or_skip() -> Option<PathBuf> {
    let found = find_nats_server();
    if found.is_none() {
        skip_unless_required(
            "REQUIRE_NATS",
            &format!("this test needs a real NATS server, and none is installed; {NATS_INSTALL}"),
        );
    }
    found
}

/// One `nats-server -js` on a free port, its store in `dir`; killed when
/// dropped, pass or fail.
pub struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:PORT`, as the server reported it.
    pub url: String,
}

impl NatsServer {
    /// Starts it and returns once it has written the port it bound (within
    /// 10 s). The server picks the port itself (`-p -1`), so no other test
    /// can take it first.
    pub fn start(program: &Path, dir: &Path) -> NatsServer {
        let ports_dir = dir.join("ports");
        std::fs::create_dir_all(&ports_dir).expect("a folder for the ports file");
        let mut child = Command::new(program)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(dir.join("store"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        let ports_file = ports_dir.join(format!(
            "{}_{}.ports",
            program.file_name().unwrap_or_default().to_string_lossy(),
            child.id()
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = loop {
            if let Some(url) = client_url(&ports_file) {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nats-server exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not write {} within 10 s",
                ports_file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer { child, url }
    }
}

/// The client URL in a ports file, once it is complete.
fn client_url(ports_file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(ports_file).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    ports["nats"][0].as_str().map(str::to_string)
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
