//! The book's transcripts of the learner's command, replayed with trycmd (as
//! clap and cargo replay theirs).
//!
//! trycmd reads the `console` blocks of a page whose marker names the test: each `$ ` line is a
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

/// The console blocks of `text` whose marker names `test`, with every other
/// line blanked: the page as trycmd should read it, its line numbers kept, so
/// that a failure names the page's own line. A page may hold other console
/// blocks, replayed by other tests (`xtask/tests/replay.rs` runs its docker
/// and kubectl commands with bash).
fn blocks_of(text: &str, test: &str) -> String {
    let marker = format!("<!-- replayed: workbook/tests/cli_transcripts.rs::{test} -->");
    let mut kept = Vec::new();
    let mut inside = false;
    let mut previous = "";
    for line in text.lines() {
        let fence = line.trim_start().starts_with("```");
        if inside {
            kept.push(line);
            inside = !fence;
        } else if fence && previous.trim() == marker {
            kept.push(line);
            inside = true;
        } else {
            kept.push("");
        }
        previous = line;
    }
    kept.join("\n") + "\n"
}

/// Replays the `console` blocks of `page` (relative to the repository) that
/// are marked as `test`'s.
fn replay(page: &str, test: &str) {
    let text = std::fs::read_to_string(repo_root().join(page)).expect("the page exists");
    let blocks = blocks_of(&text, test);
    assert!(
        blocks.contains("```console"),
        "{page} has no console block marked as replayed by {test}"
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    // Named like the page, so that trycmd's report says which page it is.
    let copy = dir.path().join(page.replace('/', "__"));
    std::fs::write(&copy, blocks).expect("the blocks are written");
    trycmd::TestCases::new()
        .register_bin("cargo", cargo_workbook(dir.path()))
        .env("WORKBOOK_ROOT", repo_root().display().to_string())
        .case(&copy)
        .run();
}

/// Chapter 0: `cargo workbook list` and `--help`.
#[test]
fn ch00_the_learners_command() {
    replay(
        "book/src/ch00-how-to-use/index.md",
        "ch00_the_learners_command",
    );
}

/// Chapter 9: what `cargo workbook deploy` would run, without a cluster.
#[test]
fn ch09_deploy_dry_run() {
    replay(
        "book/src/ch09-kubernetes/exercise.md",
        "ch09_deploy_dry_run",
    );
}

#[test]
fn only_the_blocks_marked_for_the_test_are_replayed() {
    let page = "Intro.\n<!-- replayed: workbook/tests/cli_transcripts.rs::mine -->\n```console\n$ cargo workbook list\nchapter 1\n```\n\
                <!-- replayed: xtask/tests/replay.rs::theirs -->\n```console\n$ docker ps\n```\n";
    let kept = blocks_of(page, "mine");
    assert_eq!(
        kept.lines().collect::<Vec<_>>(),
        [
            "",
            "",
            "```console",
            "$ cargo workbook list",
            "chapter 1",
            "```",
            "",
            "",
            "",
            ""
        ]
    );
}
