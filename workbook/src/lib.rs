//! The workbook's own tooling, shared by the learner's CLI (`cargo workbook`)
//! and the maintainers' checks (`cargo xtask`).
//!
//! - [`exercises`]: finds the exercises and what each declares about itself
//!   (`[package.metadata.workbook]` in its Cargo.toml).
//! - [`testrun`]: runs an exercise's tests with cargo and reads the outcome.
//! - [`book`]: builds the mdBook in-process and serves it on localhost.
//! - [`links`]: checks every link and anchor of the built book.
//! - [`hints`]: reads an exercise's hints, one step at a time.
//! - [`runner`]: the watch loop and the commands that move around.
//! - [`state`]: the learner's progress file.
//! - [`watch`]: notices saved files (native events, or polling).
//! - [`doctor`]: checks the machine (Rust, Docker, minikube, ports).
//! - [`system`]: runs the blog (`up`), with the learner's own services where they pass.
//! - [`bench`](mod@bench): measures the running system (`bench`), a maintainers' tool.

pub mod bench;
pub mod book;
pub mod doctor;
pub mod exercises;
pub mod hints;
pub mod links;
pub mod runner;
pub mod state;
pub mod system;
pub mod testrun;
pub mod watch;

use std::path::PathBuf;

/// The repository's root folder (where the workspace Cargo.toml is).
///
/// `WORKBOOK_ROOT` overrides it, which the tests use to work on a copy.
pub fn repo_root() -> PathBuf {
    if let Ok(root) = std::env::var("WORKBOOK_ROOT") {
        return PathBuf::from(root);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workbook crate lives one folder below the root")
        .to_path_buf()
}
