//! The learner's progress: which exercise is current and how many hints each
//! has shown. Kept in `.workbook-state.toml` at the root (ignored by git), so
//! it survives restarts and never ends up in a commit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = ".workbook-state.toml";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The exercise `cargo workbook` watches (a package name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// How many hints each exercise has shown.
    #[serde(default)]
    pub hints_seen: BTreeMap<String, usize>,
    /// Exercises whose tests were seen passing (for the progress bar, and
    /// to show solutions without asking).
    #[serde(default)]
    pub passed: BTreeSet<String>,
}

impl State {
    pub fn path(root: &Path) -> PathBuf {
        root.join(FILE_NAME)
    }

    /// Reads the state; a missing file is a fresh start, a damaged one is
    /// reported (and can simply be deleted).
    pub fn load(root: &Path) -> Result<State> {
        let path = Self::path(root);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| {
                format!(
                    "{} is damaged; delete it to start your progress file afresh",
                    path.display()
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the state atomically (a crash never leaves half a file).
    pub fn save(&self, root: &Path) -> Result<()> {
        let path = Self::path(root);
        let text = toml::to_string(self)?;
        let temporary = path.with_extension("toml.tmp");
        std::fs::write(
            &temporary,
            format!("# Your progress in the workbook (cargo workbook). Safe to delete.\n{text}"),
        )?;
        std::fs::rename(&temporary, &path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_fresh_start_and_a_saved_state_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());

        let mut state = State {
            current: Some("ex02-comments".into()),
            ..State::default()
        };
        state.hints_seen.insert("ex01-posts".into(), 3);
        state.passed.insert("ex01-posts".into());
        state.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), state);
        assert!(
            !dir.path().join(".workbook-state.toml.tmp").exists(),
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_damaged_file_is_reported_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(State::path(dir.path()), "current = [unclosed").unwrap();
        let error = format!("{:#}", State::load(dir.path()).unwrap_err());
        assert!(error.contains("delete it"), "{error}");
    }

    #[test]
    fn the_state_file_is_ignored_by_git() {
        let gitignore = std::fs::read_to_string(crate::repo_root().join(".gitignore")).unwrap();
        assert!(
            gitignore
                .lines()
                .any(|l| l.trim_start_matches('/') == FILE_NAME),
            "add /{FILE_NAME} to .gitignore"
        );
    }
}
