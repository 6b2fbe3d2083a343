//! The book's transcripts of the learner's command, replayed with trycmd (as
//! clap and cargo replay theirs).
//!
//! trycmd reads a page's `console` blocks itself: each `$ ` line is a
//! command, the lines under it what it must print, with `[..]` and `...` for
//! what varies; an output that ends with a newline ends with an empty line
//! before the fence (trycmd's rule). The page shows `$ cargo workbook list`, which is `cargo run
//! -p workbook -- list`; here `cargo` is a stand-in that runs this crate's
//! `workbook` binary with the arguments after `workbook`, so the page's
//! commands run as written. The marker above each block
//! (`<!-- replayed: workbook/tests/cli_transcripts.rs::<test> -->`) names
//! the test that replays its page; `cargo xtask verify` checks that it exists.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    workbook::repo_root()
}

/// A `cargo` that only knows `cargo workbook ...`: the workbook binary.
fn cargo_workbook(dir: &Path) -> PathBuf {
    let script = dir.join("cargo");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = workbook ] || {{ echo \"only cargo workbook here, not cargo $1\" >&2; exit 2; }}\nshift\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_workbook")
        ),
    )
    .expect("the stand-in is written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("the stand-in is executable");
    }
    script
}

/// Replays every `console` block of `page` (relative to the repository).
fn replay(page: &str) {
    let bin = tempfile::tempdir().expect("a temp dir");
    trycmd::TestCases::new()
        .register_bin("cargo", cargo_workbook(bin.path()))
        .env("WORKBOOK_ROOT", repo_root().display().to_string())
        .case(repo_root().join(page))
        .run();
}

/// Chapter 0: `cargo workbook list` and `--help`.
#[test]
fn ch00_the_learners_command() {
    replay("book/src/ch00-how-to-use/index.md");
}
