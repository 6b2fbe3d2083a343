//! The debug build of the `blog` binary, for tests that run the services as
//! real processes. Shared by the test files beside `support/`; each uses
//! part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// A service process, killed when the test ends, passed or not.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `blog <service>` on 127.0.0.1, a port of its own choosing, with
/// `env` on top; answers the process and the URL it says it listens on.
pub fn start(service: &str, env: &[(&str, String)]) -> (Running, String) {
    let mut child = Command::new(debug_build())
        .arg(service)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once(blog_runtime::LISTENING_PREFIX)
                .map(|(_, url)| url.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{service} says where it listens"));
    (running, url)
}

/// Builds `blog` (debug, as `cargo test` built everything else) and answers
/// its path, next to this test's own executable in the target folder.
pub fn debug_build() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&root)
                .args(["build", "-p", "blog"])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p blog failed");
            // target/debug/deps/<this test> -> target/debug/blog
            let exe = std::env::current_exe().unwrap();
            let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
            let blog = debug.join("blog");
            assert!(blog.exists(), "{} was not built", blog.display());
            blog
        })
        .clone()
}
