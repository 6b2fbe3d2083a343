//! The authoring rules, checked without running anything.

use std::path::{Path, PathBuf};

use workbook::exercises::Exercise;
use workbook::hints;

/// Rules for one exercise; each problem is one sentence an author can act on.
pub fn check_exercise(root: &Path, exercise: &Exercise) -> Vec<String> {
    let mut problems = Vec::new();
    let files = exercise.rust_files();
    let sources: Vec<&PathBuf> = files.iter().filter(|f| !is_test(exercise, f)).collect();

    if !sources.iter().any(|f| read(f).contains("// TODO")) {
        problems.push("no `// TODO` in the stub: the learner cannot see where to start".into());
    }

    match hints::read(&exercise.dir) {
        Ok(steps) if steps.is_empty() => problems.push("hints.md has no `## Hint` section".into()),
        Ok(steps) if !steps[0].contains('?') => {
            problems.push("the first hint must be a question".into())
        }
        Ok(_) => {}
        Err(error) => problems.push(format!("no hints: {error:#}")),
    }

    // Given code (no TODO in it) must be the solution's file, unchanged.
    for file in &sources {
        if read(file).contains("TODO") {
            continue;
        }
        let relative = file
            .strip_prefix(&exercise.dir)
            .expect("inside the exercise");
        let twin = exercise.solution_dir.join(relative);
        if read(&twin) != read(file) {
            problems.push(format!(
                "{} has no TODO, so it is given code, but it differs from {} (fix one of them)",
                shown(root, file),
                shown(root, &twin)
            ));
        }
    }

    // The solution must run the exercise's very test files.
    let manifest = read(&exercise.solution_dir.join("Cargo.toml"));
    let shared: Vec<PathBuf> = test_paths(&manifest)
        .into_iter()
        .filter_map(|p| exercise.solution_dir.join(p).canonicalize().ok())
        .collect();
    for test in files
        .iter()
        .filter(|f| is_test(exercise, f) && f.parent() == Some(&exercise.dir.join("tests")))
    {
        let test = test.canonicalize().unwrap_or(test.clone());
        if !shared.contains(&test) {
            problems.push(format!(
                "{} is not run against the solution: add a [[test]] with its path to {}",
                shown(root, &test),
                shown(root, &exercise.solution_dir.join("Cargo.toml"))
            ));
        }
    }
    if !files.iter().any(|f| is_test(exercise, f)) {
        problems.push("the exercise has no tests/: the tests are its specification".into());
    }

    // A book page presents it and includes its real code.
    let page = read(&exercise.book_page);
    if page.is_empty() {
        problems.push(format!(
            "its book page {} is missing or empty",
            shown(root, &exercise.book_page)
        ));
    } else {
        let folder = format!("exercises/{}", exercise.slug());
        if !page.contains(&folder) && !page.contains(&exercise.package) {
            problems.push(format!(
                "{} does not name the exercise ({folder})",
                shown(root, &exercise.book_page)
            ));
        }
        let page_dir = exercise.book_page.parent().unwrap_or(root);
        let includes_own_code = includes(&page).iter().any(|inc| {
            page_dir
                .join(&inc.path)
                .canonicalize()
                .is_ok_and(|p| p.starts_with(exercise.dir.canonicalize().unwrap_or_default()))
        });
        if !includes_own_code {
            problems.push(format!(
                "{} must include the exercise's code with {{{{#include ...}}}} from {folder}",
                shown(root, &exercise.book_page)
            ));
        }
    }
    problems
}

/// Rules for the whole book: includes resolve, Rust listings are only includes.
pub fn check_book(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let src = root.join("book").join("src");
    let summary = read(&src.join("SUMMARY.md"));
    if summary.is_empty() {
        return vec!["book/src/SUMMARY.md is missing".into()];
    }
    for page in markdown_files(&src) {
        let text = read(&page);
        let dir = page.parent().expect("a page is in a folder");
        for include in includes(&text) {
            let target = dir.join(&include.path);
            let content = read(&target);
            if content.is_empty() {
                problems.push(format!(
                    "{}: includes {} which does not exist",
                    shown(root, &page),
                    include.path
                ));
                continue;
            }
            if let Some(anchor) = &include.anchor
                && anchor.parse::<usize>().is_err()
                && !anchor.contains(':')
                && !content.contains(&format!("ANCHOR: {anchor}"))
            {
                problems.push(format!(
                    "{}: anchor `{anchor}` is not in {}",
                    shown(root, &page),
                    include.path
                ));
            }
        }
        for block in pasted_rust(&text) {
            problems.push(format!(
                "{}: a Rust listing is pasted (\"{block}\"); include it from a real file with {{{{#include}}}}",
                shown(root, &page)
            ));
        }
    }
    problems
}

/// One `{{#include path:anchor}}` (or `{{#rustdoc_include ...}}`).
#[derive(Debug, PartialEq)]
pub struct Include {
    pub path: String,
    pub anchor: Option<String>,
}

pub fn includes(text: &str) -> Vec<Include> {
    let mut found = Vec::new();
    for (index, _) in text.match_indices("{{#") {
        let rest = &text[index + 3..];
        let Some(end) = rest.find("}}") else { continue };
        let inner = rest[..end].trim();
        let Some(argument) = inner
            .strip_prefix("include ")
            .or_else(|| inner.strip_prefix("rustdoc_include "))
        else {
            continue;
        };
        let argument = argument.trim();
        let (path, anchor) = match argument.split_once(':') {
            Some((path, anchor)) => (path, Some(anchor.to_string())),
            None => (argument, None),
        };
        found.push(Include {
            path: path.to_string(),
            anchor,
        });
    }
    found
}

/// The first line of every ```rust block that holds more than includes.
pub fn pasted_rust(text: &str) -> Vec<String> {
    let mut pasted = Vec::new();
    let mut in_rust: Option<bool> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_rust = match in_rust {
                Some(_) => None,
                None => Some(info.split([',', ' ']).next() == Some("rust")),
            };
            continue;
        }
        if in_rust == Some(true) && !trimmed.is_empty() && !trimmed.starts_with("{{#") {
            pasted.push(trimmed.chars().take(40).collect());
            in_rust = Some(false); // one report per block
        }
    }
    pasted
}

fn is_test(exercise: &Exercise, file: &Path) -> bool {
    file.starts_with(exercise.dir.join("tests"))
}

fn test_paths(manifest: &str) -> Vec<String> {
    let Ok(value) = manifest.parse::<toml::Table>() else {
        return Vec::new();
    };
    value
        .get("test")
        .and_then(|t| t.as_array())
        .map(|tests| {
            tests
                .iter()
                .filter_map(|t| t.get("path").and_then(|p| p.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(markdown_files(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_includes_with_and_without_anchors() {
        let text = "a {{#include ../x/lib.rs:app}} b {{#include ../y.rs}} {{#title T}}";
        assert_eq!(
            includes(text),
            vec![
                Include {
                    path: "../x/lib.rs".into(),
                    anchor: Some("app".into())
                },
                Include {
                    path: "../y.rs".into(),
                    anchor: None
                },
            ]
        );
    }

    #[test]
    fn a_pasted_rust_listing_is_caught_but_includes_and_shell_are_fine() {
        let good = "```rust,ignore\n{{#include a.rs:x}}\n```\n```console\n$ cargo run\n```\n";
        assert!(pasted_rust(good).is_empty());
        let bad = "```rust\nfn main() {}\n```\n";
        assert_eq!(pasted_rust(bad), vec!["fn main() {}".to_string()]);
    }

    #[test]
    fn a_missing_anchor_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("book/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            root.path().join("code.rs"),
            "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n",
        )
        .unwrap();
        std::fs::write(src.join("SUMMARY.md"), "# Summary\n").unwrap();
        std::fs::write(
            src.join("page.md"),
            "```rust\n{{#include ../../code.rs:here}}\n```\n",
        )
        .unwrap();
        assert!(
            check_book(root.path()).is_empty(),
            "{:?}",
            check_book(root.path())
        );
        std::fs::write(
            src.join("page.md"),
            "```rust\n{{#include ../../code.rs:gone}}\n```\n",
        )
        .unwrap();
        let problems = check_book(root.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("anchor `gone`"), "{problems:?}");
    }
}
