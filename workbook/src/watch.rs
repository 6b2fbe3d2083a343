//! Noticing that the learner saved a file.
//!
//! Native file events (the `notify` crate) where the system offers them;
//! where it does not (some network, container or WSL file systems), a
//! once-a-second scan of modification times does the same job.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher as _};

/// Something the watch loop reacts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    /// A source file changed.
    Changed(PathBuf),
    /// The learner typed a line (a command such as `h` or `q`).
    Typed(String),
}

/// Watches a folder (an exercise) for changes to its sources.
pub struct Watch {
    signals: Receiver<Signal>,
    sender: Sender<Signal>,
    native: Option<notify::RecommendedWatcher>,
}

/// Whether a changed path is one of the learner's sources (not build output).
pub fn is_source(path: &Path) -> bool {
    let in_build_output = path.components().any(|c| c.as_os_str() == "target");
    let relevant = path.extension().is_some_and(|e| {
        e == "rs"
            || e == "toml"
            || e == "js"
            || e == "html"
            || e == "css"
            || e == "yaml"
            || e == "snap"
    });
    relevant && !in_build_output
}

impl Watch {
    /// Starts watching `dir`. `force_polling` skips native events (for file
    /// systems that do not deliver them, and for the tests of the fallback).
    pub fn start(dir: &Path, force_polling: bool) -> Watch {
        let (sender, signals) = channel();
        let native = if force_polling {
            None
        } else {
            native_watcher(dir, sender.clone())
        };
        if native.is_none() {
            let (dir, sender) = (dir.to_path_buf(), sender.clone());
            std::thread::spawn(move || poll(&dir, &sender));
        }
        Watch {
            signals,
            sender,
            native,
        }
    }

    /// "native" or "polling": shown to the learner so a slow reaction is explained.
    pub fn mode(&self) -> &'static str {
        if self.native.is_some() {
            "native file events"
        } else {
            "polling every second"
        }
    }

    /// Where other inputs (typed commands) can be sent.
    pub fn sender(&self) -> Sender<Signal> {
        self.sender.clone()
    }

    /// Waits for the next signal. A burst of saves (an editor writes several
    /// files at once) is folded into one change.
    pub fn next(&self, timeout: Duration) -> Option<Signal> {
        let first = match self.signals.recv_timeout(timeout) {
            Ok(signal) => signal,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        if let Signal::Changed(_) = first {
            while let Ok(Signal::Changed(_)) = self.signals.recv_timeout(Duration::from_millis(150))
            {
            }
        }
        Some(first)
    }
}

fn native_watcher(dir: &Path, sender: Sender<Signal>) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if let Some(path) = event.paths.into_iter().find(|p| is_source(p)) {
            let _ = sender.send(Signal::Changed(path));
        }
    })
    .ok()?;
    watcher.watch(dir, RecursiveMode::Recursive).ok()?;
    Some(watcher)
}

fn poll(dir: &Path, sender: &Sender<Signal>) {
    let mut last = newest(dir);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = newest(dir);
        if now.0 > last.0 {
            if sender.send(Signal::Changed(now.1.clone())).is_err() {
                return;
            }
            last = now;
        }
    }
}

fn newest(dir: &Path) -> (SystemTime, PathBuf) {
    let mut best = (SystemTime::UNIX_EPOCH, dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return best;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                let inner = newest(&path);
                if inner.0 > best.0 {
                    best = inner;
                }
            }
        } else if is_source(&path)
            && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            && modified > best.0
        {
            best = (modified, path);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_of_an_exercise() -> tempfile::TempDir {
        let copy = tempfile::tempdir().unwrap();
        let exercise = crate::repo_root().join("exercises/01-posts");
        for sub in ["src", "tests"] {
            std::fs::create_dir_all(copy.path().join(sub)).unwrap();
            for entry in std::fs::read_dir(exercise.join(sub)).unwrap().flatten() {
                std::fs::copy(entry.path(), copy.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
        copy
    }

    fn reacts_to_a_save(force_polling: bool) {
        let copy = copy_of_an_exercise();
        let watch = Watch::start(copy.path(), force_polling);
        std::thread::sleep(Duration::from_millis(1100)); // let the scan take its first look
        assert_eq!(
            watch.next(Duration::from_millis(200)),
            None,
            "nothing changed yet"
        );

        let file = copy.path().join("src/title.rs");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{text}\n// edited\n")).unwrap();

        match watch.next(Duration::from_secs(10)) {
            Some(Signal::Changed(path)) => assert!(
                path.ends_with("title.rs") || path.starts_with(copy.path()),
                "{path:?}"
            ),
            other => panic!(
                "the watch ({}) should report the save, got {other:?}",
                watch.mode()
            ),
        }
    }

    #[test]
    fn native_watch_reacts_to_a_save_in_a_copy_of_an_exercise() {
        reacts_to_a_save(false);
    }

    #[test]
    fn polling_fallback_reacts_to_a_save_too() {
        reacts_to_a_save(true);
    }

    #[test]
    fn build_output_and_other_files_are_not_sources() {
        assert!(is_source(Path::new("exercises/01-posts/src/lib.rs")));
        assert!(!is_source(Path::new("target/debug/build/x.rs")));
        assert!(!is_source(Path::new("exercises/01-posts/notes.txt")));
    }

    #[test]
    fn typed_commands_arrive_through_the_same_channel() {
        let dir = tempfile::tempdir().unwrap();
        let watch = Watch::start(dir.path(), true);
        watch.sender().send(Signal::Typed("h".into())).unwrap();
        assert_eq!(
            watch.next(Duration::from_secs(1)),
            Some(Signal::Typed("h".into()))
        );
    }
}
