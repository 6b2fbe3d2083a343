//! The debug build of the `blog` binary, for tests that run the services as
//! real processes. Shared by the test files beside `support/`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

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
