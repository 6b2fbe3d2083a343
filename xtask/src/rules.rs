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

/// The files that tell a learner which Rust to install. Each must state the
/// workspace's `rust-version`, and only it.
pub const RUST_VERSION_STATED_IN: [&str; 2] = ["README.md", "book/src/ch00-how-to-use/index.md"];

/// The minimum Rust is stated once, checked everywhere: the workspace's
/// `rust-version` is the highest any crate needs, the README says it, and
/// `cargo workbook doctor` (`doctor`, its `MIN_RUST`) checks it.
pub fn check_rust_version(root: &Path, doctor: (u32, u32)) -> Vec<String> {
    let manifest = read(&root.join("Cargo.toml"));
    let Ok(workspace) = manifest.parse::<toml::Table>() else {
        return vec!["Cargo.toml is not valid TOML".into()];
    };
    let declared = workspace
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str());
    let Some(minimum) = declared.and_then(major_minor) else {
        return vec![
            "Cargo.toml has no [workspace.package] rust-version: state the oldest Rust the workbook builds with".into(),
        ];
    };
    let show = |(major, minor): (u32, u32)| format!("{major}.{minor}");
    let mut problems = Vec::new();
    for crate_dir in members(root, &workspace) {
        let text = read(&crate_dir.join("Cargo.toml"));
        let Ok(table) = text.parse::<toml::Table>() else {
            continue;
        };
        let own = table.get("package").and_then(|p| p.get("rust-version"));
        let name = shown(root, &crate_dir.join("Cargo.toml"));
        match own {
            Some(toml::Value::String(version)) => match major_minor(version) {
                Some(needs) if needs > minimum => problems.push(format!(
                    "{name} needs Rust {}, more than the workspace's rust-version {}: raise the workspace's \
                     (and what the README says), or `cargo test` fails on the version the README promises",
                    show(needs),
                    show(minimum)
                )),
                Some(_) => {}
                None => problems.push(format!("{name}: rust-version {version:?} is not a version")),
            },
            Some(_) => {} // `rust-version.workspace = true`
            None => problems.push(format!(
                "{name} has no rust-version: add `rust-version.workspace = true`"
            )),
        }
    }
    if doctor != minimum {
        problems.push(format!(
            "`cargo workbook doctor` checks for Rust {}, but the workspace's rust-version is {}",
            show(doctor),
            show(minimum)
        ));
    }
    for file in RUST_VERSION_STATED_IN {
        let stated = rust_versions_in(&read(&root.join(file)));
        if stated.is_empty() {
            problems.push(format!(
                "{file} does not say which Rust to install (\"Rust {} or newer\")",
                show(minimum)
            ));
        }
        for version in stated.into_iter().filter(|&v| v != minimum) {
            problems.push(format!(
                "{file} says Rust {}, but the workspace's rust-version is {}: say {}",
                show(version),
                show(minimum),
                show(minimum)
            ));
        }
    }
    problems
}

/// The dependencies that need a newer Rust than `minimum` (the workspace's
/// `rust-version`), from `metadata`, the JSON of `cargo metadata`: a learner
/// with the Rust the README names could not build them. (Chapter 9 once
/// needed Rust 1.89 through a YAML crate, while every page said 1.88.)
pub fn dependencies_needing_more(metadata: &str, minimum: (u32, u32)) -> Vec<String> {
    let Ok(metadata) = serde_json::from_str::<serde_json::Value>(metadata) else {
        return vec!["`cargo metadata` printed no JSON".to_string()];
    };
    let mut needing: Vec<((u32, u32), String)> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|package| {
            let needs = major_minor(package["rust_version"].as_str()?)?;
            let name = format!(
                "{} {}",
                package["name"].as_str()?,
                package["version"].as_str()?
            );
            (needs > minimum).then_some((needs, name))
        })
        .collect();
    needing.sort();
    needing
        .into_iter()
        .map(|((major, minor), name)| {
            format!(
                "{name} needs Rust {major}.{minor}, more than the workspace's rust-version {}.{}: raise it (and the README, chapter 0 and the doctor with it)",
                minimum.0, minimum.1
            )
        })
        .collect()
}

/// [`dependencies_needing_more`] for the workspace at `root`, as its
/// lock file resolves on this machine's platform (`cargo metadata
/// --offline`: every crate of it is already downloaded by the build).
pub fn check_dependency_rust_versions(root: &Path, minimum: (u32, u32)) -> Vec<String> {
    let cargo = workbook::testrun::cargo();
    let host = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        });
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"]);
    if let Some(host) = &host {
        command.args(["--filter-platform", host]);
    }
    match command.output() {
        Ok(output) if output.status.success() => {
            dependencies_needing_more(&String::from_utf8_lossy(&output.stdout), minimum)
        }
        Ok(output) => vec![format!(
            "`cargo metadata` failed, so the dependencies' Rust is unchecked: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )],
        Err(error) => vec![format!("running `cargo metadata`: {error}")],
    }
}

/// Every version written right after the word Rust (`**Rust** 1.89`, `Rust 1.89.0,`).
pub fn rust_versions_in(text: &str) -> Vec<(u32, u32)> {
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == '*' || c == '_' || c == '`'))
        .collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "Rust")
        .filter_map(|pair| major_minor(pair[1].trim_end_matches(['.', ',', ';', ':', ')'])))
        .collect()
}

/// `1.89` or `1.89.0` -> (1, 89).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The folders of the workspace's members (`crates/*` style globs, or plain paths).
fn members(root: &Path, workspace: &toml::Table) -> Vec<PathBuf> {
    let patterns = workspace
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let mut dirs = Vec::new();
    for pattern in patterns.iter().filter_map(|p| p.as_str()) {
        match pattern.strip_suffix("/*") {
            Some(parent) => {
                let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
                    continue;
                };
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("Cargo.toml").is_file())
                    .collect();
                found.sort();
                dirs.extend(found);
            }
            None => dirs.push(root.join(pattern)),
        }
    }
    dirs
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

/// Graded hints: the first asks a question, and no hint but the last gives
/// code away, neither as a fenced block nor by quoting a line the learner
/// must write. Otherwise `cargo workbook hint` hands over the answer at the
/// first request, and the learner never does the thinking the exercise is for.
pub fn check_hints(root: &Path, exercise: &Exercise) -> Vec<String> {
    let Ok(hints) = hints::read(&exercise.dir) else {
        return Vec::new(); // check_exercise reports a missing hints file
    };
    let mut written = Vec::new();
    for (stub, solution) in exercise.changed_files(root) {
        written.extend(lines_to_write(&read(&stub), &read(&solution)));
    }
    graded_hint_problems(&hints, &written)
}

/// The problems of a list of hints, given the lines the learner must write.
pub fn graded_hint_problems(hints: &[String], written: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(first) = hints.first()
        && !first_paragraph(first).contains('?')
    {
        problems.push("hint 1 must open with a question, to make the learner think first".into());
    }
    let Some((_last, early)) = hints.split_last() else {
        return problems;
    };
    for (index, hint) in early.iter().enumerate() {
        let number = index + 1;
        if hint
            .lines()
            .any(|line| line.trim_start().starts_with("```"))
        {
            problems.push(format!(
                "hint {number} has a code block: only the last hint may show code"
            ));
        }
        let text = squeezed(hint);
        let spans = code_spans(hint);
        let quoted = |line: &&String| {
            let line = squeezed(line);
            text.contains(line.as_str())
                || spans
                    .iter()
                    .any(|span| is_code(span) && line.contains(span.as_str()))
        };
        if let Some(line) = written.iter().find(quoted) {
            problems.push(format!(
                "hint {number} quotes a line of the solution (`{line}`): name the concept, API or test instead; only the last hint may show code"
            ));
        }
    }
    problems
}

/// The lines present in the solution but not in the stub, trimmed, without
/// those too short or too common to give anything away (`}`, `Ok(())`, comments).
pub fn lines_to_write(stub: &str, solution: &str) -> Vec<String> {
    let given: std::collections::HashSet<&str> = stub.lines().map(str::trim).collect();
    let mut lines: Vec<String> = Vec::new();
    for line in solution.lines().map(str::trim) {
        let trivial = line.chars().count() < 12
            || line.starts_with("//")
            || line.starts_with('#') && !line.starts_with("#[")
            || line.starts_with("/*")
            || line.starts_with('*');
        if !trivial && !given.contains(line) && !lines.iter().any(|l| l == line) {
            lines.push(line.to_string());
        }
    }
    lines
}

/// The inline code spans of a hint (`like this`), without whitespace: a long
/// one taken from a solution line gives the line away even if it is not all of it.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(squeezed)
        .filter(|span| !span.is_empty())
        .collect()
}

/// A span long enough, and with enough syntax (a call, an assignment, a
/// block), to be code rather than the name of an API (`CommentsError::PostsUnavailable`
/// names one, and a middle hint may name it).
fn is_code(span: &str) -> bool {
    span.chars().count() >= 20 && span.contains(['(', '=', ';', '{', '.'])
}

/// The text up to the first blank line.
fn first_paragraph(text: &str) -> String {
    text.trim_start()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The text without whitespace, so that a line wrapped across two lines of
/// Markdown (or re-spaced) is still found.
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect()
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

    /// A workspace on disk: the root manifest, one crate, and a README.
    fn workspace(root: &Path, workspace_version: &str, crate_version: &str, readme: &str) {
        std::fs::write(
            root.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = [\"solutions/*\"]\n[workspace.package]\nrust-version = \"{workspace_version}\"\n"
            ),
        )
        .unwrap();
        let krate = root.join("solutions/09-kubernetes");
        std::fs::create_dir_all(&krate).unwrap();
        std::fs::write(
            krate.join("Cargo.toml"),
            format!("[package]\nname = \"manifests\"\nrust-version = {crate_version}\n"),
        )
        .unwrap();
        std::fs::write(root.join("README.md"), readme).unwrap();
        // Chapter 0 agrees with the workspace unless a test says otherwise.
        let ch0 = root.join(RUST_VERSION_STATED_IN[1]);
        std::fs::create_dir_all(ch0.parent().unwrap()).unwrap();
        let text = format!("This workbook needs Rust {workspace_version} or newer.\n");
        std::fs::write(ch0, text).unwrap();
    }

    #[test]
    fn the_minimum_rust_is_stated_once_and_the_same_everywhere() {
        let root = tempfile::tempdir().unwrap();
        let readme = "## Prerequisites\n\n- **Rust** 1.89 or newer (install with rustup).\n";
        workspace(root.path(), "1.89", "{ workspace = true }", readme);
        assert_eq!(
            check_rust_version(root.path(), (1, 89)),
            Vec::<String>::new()
        );

        // As it was: the README and the doctor said 1.88, a crate needed 1.89.
        let readme = "- **Rust** 1.88 or newer (install with rustup).\n";
        workspace(root.path(), "1.88", "\"1.89\"", readme);
        let problems = check_rust_version(root.path(), (1, 88));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with("solutions/09-kubernetes/Cargo.toml needs Rust 1.89, more than the workspace's rust-version 1.88"),
            "{problems:#?}"
        );

        // The workspace raised, but the README and the doctor left behind.
        workspace(root.path(), "1.89", "\"1.89\"", readme);
        let problems = check_rust_version(root.path(), (1, 88));
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].contains("`cargo workbook doctor` checks for Rust 1.88"),
            "{problems:#?}"
        );
        assert!(
            problems[1]
                .contains("README.md says Rust 1.88, but the workspace's rust-version is 1.89"),
            "{problems:#?}"
        );

        // The book's chapter 0 left behind.
        workspace(root.path(), "1.89", "\"1.89\"", "Rust 1.89 or newer\n");
        std::fs::write(
            root.path().join(RUST_VERSION_STATED_IN[1]),
            "Rust 1.88 or newer",
        )
        .unwrap();
        let problems = check_rust_version(root.path(), (1, 89));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("ch00-how-to-use/index.md says Rust 1.88"),
            "{problems:#?}"
        );

        workspace(root.path(), "1.89", "\"1.89\"", "Install Rust.\n");
        let problems = check_rust_version(root.path(), (1, 89));
        assert!(
            problems[0].contains("README.md does not say which Rust"),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_dependency_needing_a_newer_rust_is_named() {
        let metadata = r#"{"packages": [
            {"name": "serde-saphyr", "version": "2.2.0", "rust_version": "1.89"},
            {"name": "tokio", "version": "1.0.0", "rust_version": "1.70"},
            {"name": "old", "version": "0.1.0", "rust_version": null}
        ]}"#;
        assert_eq!(
            dependencies_needing_more(metadata, (1, 89)),
            Vec::<String>::new()
        );
        let problems = dependencies_needing_more(metadata, (1, 88));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "serde-saphyr 2.2.0 needs Rust 1.89, more than the workspace's rust-version 1.88"
            ),
            "{problems:?}"
        );
        assert_eq!(dependencies_needing_more("not json", (1, 89)).len(), 1);
    }

    #[test]
    fn the_real_dependencies_build_with_the_stated_rust() {
        let root = workbook::repo_root();
        let problems = check_dependency_rust_versions(&root, workbook::doctor::MIN_RUST);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_real_workspace_states_one_minimum() {
        let root = workbook::repo_root();
        let problems = check_rust_version(&root, workbook::doctor::MIN_RUST);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn versions_are_read_after_the_word_rust() {
        assert_eq!(rust_versions_in("**Rust** 1.89 or newer"), [(1, 89)]);
        assert_eq!(rust_versions_in("needs Rust 1.88.0, then"), [(1, 88)]);
        assert!(rust_versions_in("Rust is fun; rust 1.2").is_empty());
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

    /// An exercise on disk with one stub file, its solution and hints.
    fn graded_exercise(root: &Path, hints: &str) -> Exercise {
        let stub = root.join("exercises/01-x");
        let solution = root.join("solutions/01-x");
        std::fs::create_dir_all(stub.join("src")).unwrap();
        std::fs::create_dir_all(solution.join("src")).unwrap();
        std::fs::write(
            stub.join("src/lib.rs"),
            "pub fn title(text: &str) -> usize {\n    // TODO: count the characters\n    todo!()\n}\n",
        )
        .unwrap();
        std::fs::write(
            solution.join("src/lib.rs"),
            "pub fn title(text: &str) -> usize {\n    text.trim().chars().count()\n}\n",
        )
        .unwrap();
        std::fs::write(stub.join("hints.md"), hints).unwrap();
        Exercise {
            package: "ex01-x".into(),
            dir: stub,
            chapter: 1,
            title: "x".into(),
            solution_dir: solution,
            solution_package: "x".into(),
            book_page: root.join("book.md"),
            needs: Vec::new(),
            service: None,
            steps: Vec::new(),
        }
    }

    const GOOD_HINTS: &str = "# Hints\n## Hint 1\nHow long is `\"é\"`?\n\n## Hint 2\n\
        Read the docs of `str::chars` and the test `counts_characters`.\n\n## Hint 3\n\
        ```rust\ntext.trim().chars().count()\n```\n";

    #[test]
    fn graded_hints_pass() {
        let root = tempfile::tempdir().unwrap();
        let exercise = graded_exercise(root.path(), GOOD_HINTS);
        assert_eq!(check_hints(root.path(), &exercise), Vec::<String>::new());
    }

    #[test]
    fn a_middle_hint_with_a_code_block_fails() {
        let root = tempfile::tempdir().unwrap();
        let hints = GOOD_HINTS.replace("Read the docs", "```text\nchars\n```\nRead the docs");
        let problems = check_hints(root.path(), &graded_exercise(root.path(), &hints));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("hint 2 has a code block"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_middle_hint_quoting_a_solution_line_fails() {
        let root = tempfile::tempdir().unwrap();
        // Wrapped across two lines, inside an inline code span: still a quote.
        let hints = GOOD_HINTS.replace(
            "Read the docs",
            "Write `text.trim()\n.chars().count()`. Read the docs",
        );
        let problems = check_hints(root.path(), &graded_exercise(root.path(), &hints));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "hint 2 quotes a line of the solution (`text.trim().chars().count()`)"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn a_middle_hint_quoting_part_of_a_solution_line_in_code_fails() {
        let root = tempfile::tempdir().unwrap();
        let hints = GOOD_HINTS.replace(
            "Read the docs",
            "Call `trim().chars().count()`. Read the docs",
        );
        let problems = check_hints(root.path(), &graded_exercise(root.path(), &hints));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("hint 2 quotes a line"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_first_hint_that_is_not_a_question_fails() {
        let root = tempfile::tempdir().unwrap();
        let hints = GOOD_HINTS.replace("How long is `\"é\"`?", "Count the characters.\n\nWhy?");
        let problems = check_hints(root.path(), &graded_exercise(root.path(), &hints));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("hint 1 must open with a question"),
            "{problems:?}"
        );
    }

    #[test]
    fn trivial_and_given_lines_are_not_the_learners_to_write() {
        let stub = "fn f() {\n    let given_line_here = 1;\n}\n";
        let solution = "fn f() {\n    let given_line_here = 1;\n    // a comment line long enough\n    Ok(())\n    let written_by_you = 2;\n}\n";
        assert_eq!(
            lines_to_write(stub, solution),
            vec!["let written_by_you = 2;".to_string()]
        );
    }

    #[test]
    fn the_real_hints_are_graded() {
        let root = workbook::repo_root();
        let mut problems = Vec::new();
        for exercise in workbook::exercises::discover(&root).unwrap() {
            for problem in check_hints(&root, &exercise) {
                problems.push(format!("{}: {problem}", exercise.package));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

// ---- Transcripts that cannot drift (issue 13, item 4) ----

/// The fence kinds that show a shell session or what a command prints. Every
/// `text` block counts too: in this book it is where output goes, and a block
/// that is no transcript (a folder tree, a formula) says so in its marker.
pub const CONSOLE_FENCES: [&str; 5] = ["console", "sh", "bash", "shell", "text"];

/// A console block that has no marker, or whose marker names no real test.
#[derive(Debug, PartialEq, Eq)]
pub struct UnmarkedBlock {
    /// 1-based line of the opening fence.
    pub line: usize,
    pub problem: String,
}

/// The console blocks of one page, each checked for its marker on the line
/// just above the fence: `<!-- replayed: <file>::<test> -->`, naming the
/// test that runs it, or `<!-- not replayed: <reason> -->`. `test_exists`
/// answers whether a replay test named in a marker is real, so a marker
/// cannot outlive the test it names.
pub fn unmarked_console_blocks(
    text: &str,
    test_exists: &dyn Fn(&str, &str) -> bool,
) -> Vec<UnmarkedBlock> {
    let mut found = Vec::new();
    let mut open: Option<String> = None;
    let mut previous = "";
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        if let Some(fence) = &open {
            if ticks >= fence.len() && trimmed[ticks..].trim().is_empty() {
                open = None;
            }
        } else if ticks >= 3 {
            open = Some("`".repeat(ticks));
            let kind = trimmed[ticks..].split([',', ' ']).next().unwrap_or("");
            if CONSOLE_FENCES.contains(&kind)
                && let Some(problem) = marker_problem(previous.trim(), test_exists)
            {
                found.push(UnmarkedBlock {
                    line: index + 1,
                    problem,
                });
            }
        }
        previous = line;
    }
    found
}

/// Why `marker` (the line above a console fence) does not mark it, if so.
fn marker_problem(marker: &str, test_exists: &dyn Fn(&str, &str) -> bool) -> Option<String> {
    let inner = marker
        .strip_prefix("<!--")
        .and_then(|m| m.strip_suffix("-->"))
        .map(str::trim);
    let unmarked = || {
        Some("a console block with no marker just above it: add `<!-- replayed: <file>::<test> -->` or `<!-- not replayed: <reason> -->`".to_string())
    };
    let Some(inner) = inner else {
        return unmarked();
    };
    if let Some(reason) = inner.strip_prefix("not replayed:") {
        let reason = reason.trim();
        if reason.is_empty() {
            return Some("a `not replayed` marker must give its reason".to_string());
        }
        // "not compared with a run yet" is no reason: it says a replay is due.
        return reason
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case("yet"))
            .then(|| {
                format!(
                    "`not replayed: {reason}` says the block is not replayed *yet*: replay it, or give the reason it cannot be"
                )
            });
    }
    if let Some(place) = inner.strip_prefix("replayed:") {
        let place = place.trim();
        // After the test's name may come what it replays (`... ex01-posts`).
        let place = place.split_whitespace().next().unwrap_or_default();
        let Some((file, test)) = place.split_once("::") else {
            return Some(format!(
                "`replayed: {place}` must name its test as <file>::<test function>"
            ));
        };
        return (!test_exists(file, test))
            .then(|| format!("`replayed: {place}`: there is no test `{test}` in {file}"));
    }
    unmarked()
}

/// Every page's console blocks are replayed or marked with why not.
pub fn check_transcripts(root: &Path) -> Vec<String> {
    let test_exists = |file: &str, test: &str| {
        let source = read(&root.join(file));
        source.contains(&format!("fn {test}("))
    };
    let packages: Vec<String> = workbook::exercises::discover(root)
        .map(|all| all.into_iter().map(|e| e.package).collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for page in markdown_files(&root.join("book").join("src")) {
        let text = read(&page);
        let mut found = unmarked_console_blocks(&text, &test_exists);
        found.extend(unknown_exercises_in_markers(&text, &packages));
        found.sort_by_key(|block| block.line);
        for block in found {
            problems.push(format!(
                "{}:{}: {}",
                shown(root, &page),
                block.line,
                block.problem
            ));
        }
    }
    problems
}

/// The checks of this file that replay a block against an exercise's stub
/// run: their markers name the exercise after the test.
pub const STUB_RUN_CHECKS: [&str; 2] = ["check_quoted_failures", "check_solved_summaries"];

/// Markers of [`STUB_RUN_CHECKS`] that name no exercise of `packages`: no
/// stub run would ever compare their block, so it could drift unseen.
pub fn unknown_exercises_in_markers(text: &str, packages: &[String]) -> Vec<UnmarkedBlock> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(place) = line
            .trim()
            .strip_prefix("<!-- replayed: xtask/src/rules.rs::")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let mut words = place.split_whitespace();
        let check = words.next().unwrap_or_default();
        if !STUB_RUN_CHECKS.contains(&check) {
            continue;
        }
        match words.next() {
            Some(package) if packages.iter().any(|p| p == package) => {}
            Some(package) => found.push(UnmarkedBlock {
                line: index + 2,
                problem: format!(
                    "`replayed: xtask/src/rules.rs::{check} {package}`: there is no exercise {package}, so no run compares this block"
                ),
            }),
            None => found.push(UnmarkedBlock {
                line: index + 2,
                problem: format!(
                    "`replayed: xtask/src/rules.rs::{check}` must name the exercise whose stub it quotes (`{check} ex01-posts`)"
                ),
            }),
        }
    }
    found
}

// ---- The stub's own words, as the book quotes them ----

/// The marker of a block that quotes what the untouched stub of `package`
/// prints: `cargo xtask verify` runs the stub and finds every line of it.
pub fn quoted_failure_marker(package: &str) -> String {
    format!("<!-- replayed: xtask/src/rules.rs::check_quoted_failures {package} -->")
}

/// The blocks of `text` marked with `marker`, each as its lines (trimmed).
pub fn marked_blocks(text: &str, marker: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.trim() != marker {
            continue;
        }
        let body = lines
            .iter()
            .skip(index + 2)
            .take_while(|l| !l.trim_start().starts_with("```"))
            .map(|l| l.trim().to_string())
            .collect();
        blocks.push(body);
    }
    blocks
}

/// Whether `line`, with `[..]` standing for anything, is part of a line of `output`.
fn quoted_line_found(line: &str, output: &str) -> bool {
    output.lines().any(|printed| {
        let mut rest = printed;
        line.split("[..]").all(|part| match rest.find(part) {
            Some(at) => {
                rest = &rest[at + part.len()..];
                true
            }
            None => false,
        })
    })
}

/// Every block of the book that quotes the untouched stub of `exercise`
/// (see [`quoted_failure_marker`]) is what `output`, the stub's test run,
/// really printed: each of its lines is part of a printed line.
pub fn check_quoted_failures(root: &Path, exercise: &Exercise, output: &str) -> Vec<String> {
    let marker = quoted_failure_marker(&exercise.package);
    let mut problems = Vec::new();
    for page in markdown_files(&root.join("book").join("src")) {
        for block in marked_blocks(&read(&page), &marker) {
            // A line `...` stands for lines left out (trycmd's syntax).
            for line in block.iter().filter(|l| !l.is_empty() && *l != "...") {
                if !quoted_line_found(line, output) {
                    problems.push(format!(
                        "{} quotes a failure the untouched stub never prints: {line:?}",
                        shown(root, &page)
                    ));
                }
            }
        }
    }
    problems
}

/// The marker of a block that quotes the test summary of `package` once
/// solved: `cargo xtask verify` compares it with the untouched stub's run,
/// which runs the very same tests.
pub fn solved_summary_marker(package: &str) -> String {
    format!("<!-- replayed: xtask/src/rules.rs::check_solved_summaries {package} -->")
}

/// The counts of a libtest summary line: (ok, passed, failed, ignored).
fn summary_counts(line: &str) -> Option<(bool, usize, usize, usize)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (verdict, rest) = rest.split_once(". ")?;
    let ok = match verdict {
        "ok" => true,
        "FAILED" => false,
        _ => return None,
    };
    let mut counts = rest.split(';').map(str::trim);
    let mut count =
        |word: &str| -> Option<usize> { counts.next()?.strip_suffix(word)?.trim().parse().ok() };
    Some((ok, count("passed")?, count("failed")?, count("ignored")?))
}

/// Every block of the book that quotes the test summary of `exercise` once
/// solved (see [`solved_summary_marker`]) counts the tests that `output`,
/// the untouched stub's run of the same test files, really ran: each quoted
/// `test result: ok. N passed; 0 failed; I ignored` is a test binary of the
/// stub's run with N tests that passed or failed, and I ignored.
pub fn check_solved_summaries(root: &Path, exercise: &Exercise, output: &str) -> Vec<String> {
    let marker = solved_summary_marker(&exercise.package);
    let ran: Vec<(usize, usize)> = output
        .lines()
        .filter_map(summary_counts)
        .map(|(_, passed, failed, ignored)| (passed + failed, ignored))
        .collect();
    let mut problems = Vec::new();
    for page in markdown_files(&root.join("book").join("src")) {
        for block in marked_blocks(&read(&page), &marker) {
            for line in block.iter().filter(|l| !l.is_empty() && *l != "...") {
                let counted = match summary_counts(line) {
                    Some((true, passed, 0, ignored)) => ran.contains(&(passed, ignored)),
                    _ => false,
                };
                if !counted {
                    problems.push(format!(
                        "{} quotes a solved run that the tests cannot print: {line:?} (the stub's run has {})",
                        shown(root, &page),
                        ran.iter()
                            .map(|(tests, ignored)| format!("{tests} tests, {ignored} ignored"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
        }
    }
    problems
}

/// No step of `exercise` is done on the untouched stub: each has a test
/// that fails until the learner writes that step.
pub fn check_steps_fail_on_the_stub(
    exercise: &Exercise,
    run: &workbook::testrun::TestRun,
) -> Vec<String> {
    use workbook::testrun::StepState;
    exercise
        .steps
        .iter()
        .enumerate()
        .filter_map(|(number, step)| match run.step_state(step) {
            StepState::Passed { .. } | StepState::NotVerified { .. } => Some(format!(
                "step {} ({}) passes on the untouched stub: none of its tests asks for it",
                number + 1,
                step.name
            )),
            StepState::NoTests => Some(format!(
                "step {} ({}) selects no test that ran",
                number + 1,
                step.name
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod quoted_failure_tests {
    use super::*;

    #[test]
    fn a_quoted_failure_is_found_line_by_line_with_wildcards() {
        let output = "running 2 tests\nthread 'x' panicked at src/a.rs:3:5:\nnot yet implemented: TODO 1 in src/a.rs: do it after 300ms\n";
        assert!(quoted_line_found(
            "not yet implemented: TODO 1 in src/a.rs: do it after 300ms",
            output
        ));
        assert!(quoted_line_found(
            "TODO 1 in src/a.rs: do it after [..]ms",
            output
        ));
        assert!(!quoted_line_found(
            "TODO 1 in src/a.rs: do it after 2s",
            output
        ));
        assert!(!quoted_line_found("TODO 2 in src/a.rs", output));
    }

    #[test]
    fn a_quoted_failure_may_leave_lines_out() {
        let root = tempfile::tempdir().unwrap();
        let exercise = stub_exercise(root.path());
        let page = |body: &str| {
            let src = root.path().join("book/src");
            std::fs::create_dir_all(&src).unwrap();
            let marker = quoted_failure_marker("ex09-x");
            std::fs::write(
                src.join("page.md"),
                format!("{marker}\n```text\n{body}\n```\n"),
            )
            .unwrap();
        };
        let output = "---- a stdout ----\nfirst problem\nsecond problem\nfailures:\n    a\n";
        page("---- a stdout ----\n...\nfailures:\n    a");
        assert_eq!(
            check_quoted_failures(root.path(), &exercise, output),
            Vec::<String>::new()
        );
        page("---- a stdout ----\n...\nthird problem");
        let problems = check_quoted_failures(root.path(), &exercise, output);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("\"third problem\""), "{problems:?}");
    }

    /// An exercise `ex09-x` under `root`, for the checks that read a stub's run.
    fn stub_exercise(root: &Path) -> Exercise {
        Exercise {
            package: "ex09-x".into(),
            dir: root.join("exercises/09-x"),
            chapter: 9,
            title: "x".into(),
            solution_dir: root.join("solutions/09-x"),
            solution_package: "x".into(),
            book_page: root.join("book/src/page.md"),
            needs: Vec::new(),
            service: None,
            steps: Vec::new(),
        }
    }

    #[test]
    fn summary_lines_are_read_as_libtest_prints_them() {
        assert_eq!(
            summary_counts(
                "test result: FAILED. 8 passed; 9 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.21s"
            ),
            Some((false, 8, 9, 0))
        );
        assert_eq!(
            summary_counts(
                "test result: ok. 17 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; [..]"
            ),
            Some((true, 17, 0, 2))
        );
        assert_eq!(summary_counts("test result: ok. many passed"), None);
        assert_eq!(summary_counts("running 17 tests"), None);
    }

    #[test]
    fn a_solved_summary_must_count_the_tests_the_stub_runs() {
        let root = tempfile::tempdir().unwrap();
        let exercise = stub_exercise(root.path());
        let src = root.path().join("book/src");
        std::fs::create_dir_all(&src).unwrap();
        let page = |line: &str| {
            let marker = solved_summary_marker("ex09-x");
            std::fs::write(
                src.join("page.md"),
                format!("Done:\n{marker}\n```text\n{line}\n```\n"),
            )
            .unwrap();
        };
        let stub_run = "running 0 tests\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                        running 17 tests\ntest result: FAILED. 8 passed; 9 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.05s\n";
        page("test result: ok. 17 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; [..]");
        assert_eq!(
            check_solved_summaries(root.path(), &exercise, stub_run),
            Vec::<String>::new()
        );

        // As it was once: a test added to the spec, the page left at 16.
        page("test result: ok. 16 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; [..]");
        let problems = check_solved_summaries(root.path(), &exercise, stub_run);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("16 passed") && problems[0].contains("17 tests, 0 ignored"),
            "{problems:?}"
        );
        // A solved run does not fail, and a summary is a summary.
        page(
            "test result: FAILED. 8 passed; 9 failed; 0 ignored; 0 measured; 0 filtered out; [..]",
        );
        assert_eq!(
            check_solved_summaries(root.path(), &exercise, stub_run).len(),
            1
        );
        page("all 17 tests pass");
        assert_eq!(
            check_solved_summaries(root.path(), &exercise, stub_run).len(),
            1
        );
    }

    #[test]
    fn a_stub_check_marker_must_name_a_real_exercise() {
        let packages = vec!["ex09-kubernetes".to_string()];
        let page = format!(
            "{}\n```text\nx\n```\n{}\n```text\ny\n```\n<!-- replayed: xtask/src/rules.rs::check_quoted_failures -->\n```text\nz\n```\n",
            quoted_failure_marker("ex09-kubernetes"),
            solved_summary_marker("ex99-gone"),
        );
        let found = unknown_exercises_in_markers(&page, &packages);
        let lines: Vec<usize> = found.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![6, 10], "{found:?}");
        assert!(
            found[0].problem.contains("no exercise ex99-gone"),
            "{found:?}"
        );
        assert!(
            found[1].problem.contains("must name the exercise"),
            "{found:?}"
        );
    }

    #[test]
    fn marked_blocks_are_read_even_when_indented_in_a_list() {
        let marker = quoted_failure_marker("ex01-posts");
        let page = format!(
            "1. Run it:\n   {marker}\n   ```text\n   first line\n   second\n   ```\n\n{marker}\n```text\nthird\n```\n"
        );
        assert_eq!(
            marked_blocks(&page, &marker),
            vec![
                vec!["first line".to_string(), "second".to_string()],
                vec!["third".to_string()]
            ]
        );
        let test_exists = |file: &str, test: &str| {
            file == "xtask/src/rules.rs" && test == "check_quoted_failures"
        };
        assert_eq!(unmarked_console_blocks(&page, &test_exists), vec![]);
    }
}

#[cfg(test)]
mod transcript_tests {
    use super::*;

    fn only_replay_test(file: &str, test: &str) -> bool {
        file == "xtask/tests/replay.rs" && test == "ch07"
    }

    #[test]
    fn marked_blocks_pass_and_other_fences_do_not_count() {
        let good = "Text.\n\n<!-- not replayed: needs a Kubernetes cluster -->\n```sh\n$ kubectl get pods\n```\n\
                    <!-- replayed: xtask/tests/replay.rs::ch07 -->\n```console\n$ docker ps\n```\n\
                    ```rust,ignore\n{{#include a.rs}}\n```\n````markdown\n```sh\nnot a block\n```\n````\n";
        assert_eq!(unmarked_console_blocks(good, &only_replay_test), vec![]);
    }

    #[test]
    fn an_unmarked_or_badly_marked_block_fails_with_its_line() {
        let bad = "# Page\n\n```sh\n$ cargo run\n```\n\n\
                   <!-- not replayed: -->\n```text\nout\n```\n\
                   <!-- replayed: xtask/tests/replay.rs::gone -->\n```console\n$ ls\n```\n\
                   <!-- replayed: somewhere -->\n```bash\n$ ls\n```\n\
                   <!-- a comment -->\n\n```shell\n$ ls\n```\n";
        let found = unmarked_console_blocks(bad, &only_replay_test);
        let lines: Vec<usize> = found.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 8, 12, 16, 21], "{found:?}");
        assert!(found[0].problem.contains("no marker"), "{found:?}");
        assert!(found[1].problem.contains("reason"), "{found:?}");
        assert!(found[2].problem.contains("no test `gone`"), "{found:?}");
        assert!(found[3].problem.contains("<file>::<test"), "{found:?}");
    }

    #[test]
    fn a_reason_that_says_not_yet_is_refused() {
        let page = "<!-- not replayed: output of a tool; not compared with a run yet -->\n```text\nout\n```\n\
                    <!-- not replayed: needs a Kubernetes cluster (minikube) -->\n```sh\nkubectl get pods\n```\n";
        let found = unmarked_console_blocks(page, &only_replay_test);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 2);
        assert!(found[0].problem.contains("*yet*"), "{found:?}");
    }

    #[test]
    fn check_transcripts_refuses_a_marker_whose_test_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("book").join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(root.path().join("xtask/tests")).unwrap();
        std::fs::write(
            root.path().join("xtask/tests/replay.rs"),
            "#[test]\nfn ch07_docker_basics() {}\n",
        )
        .unwrap();
        let page = |test: &str| {
            std::fs::write(
                src.join("page.md"),
                format!("intro\n<!-- replayed: xtask/tests/replay.rs::{test} -->\n```console\n$ docker ps\n```\n"),
            )
            .unwrap();
        };
        page("ch07_docker_basics");
        assert_eq!(check_transcripts(root.path()), Vec::<String>::new());
        page("ch07_renamed_since");
        assert_eq!(
            check_transcripts(root.path()),
            vec!["book/src/page.md:3: `replayed: xtask/tests/replay.rs::ch07_renamed_since`: there is no test `ch07_renamed_since` in xtask/tests/replay.rs".to_string()]
        );
        // A file that does not exist has no test either.
        std::fs::remove_file(root.path().join("xtask/tests/replay.rs")).unwrap();
        page("ch07_docker_basics");
        assert_eq!(check_transcripts(root.path()).len(), 1);
    }

    #[test]
    fn check_transcripts_names_the_file_and_line() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("book").join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("page.md"), "intro\n```console\n$ ls\n```\n").unwrap();
        assert_eq!(
            check_transcripts(root.path()),
            vec!["book/src/page.md:2: a console block with no marker just above it: add `<!-- replayed: <file>::<test> -->` or `<!-- not replayed: <reason> -->`".to_string()]
        );
        std::fs::write(
            src.join("page.md"),
            "intro\n<!-- not replayed: illustrative -->\n```console\n$ ls\n```\n",
        )
        .unwrap();
        assert!(check_transcripts(root.path()).is_empty());
    }
}

#[cfg(test)]
mod book_hands_over_no_dockerfile {
    use super::*;

    /// The lines between `ANCHOR: name` and `ANCHOR_END: name`.
    fn anchored<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|l| !l.contains(&format!("ANCHOR: {name}")))
            .skip(1)
            .take_while(|l| !l.contains(&format!("ANCHOR_END: {name}")))
            .collect()
    }

    /// What exercise 8's TODOs 3 to 5 ask the learner to write: the stages,
    /// the copies and builds, the user, the settings and the entrypoint.
    fn a_line_the_learner_writes(line: &str) -> bool {
        let word = line.split_whitespace().next().unwrap_or_default();
        [
            "FROM",
            "COPY",
            "RUN",
            "USER",
            "ENTRYPOINT",
            "WORKDIR",
            "SHELL",
        ]
        .contains(&word)
            || line.contains("HOST=")
            || line.contains("DATA_DIR=")
    }

    /// The repository's Dockerfile is the solution of exercise 8, which the
    /// learner writes from an empty page: the book shows only its parts that
    /// are no TODO's answer, each through an anchor, never the whole file.
    #[test]
    fn the_book_includes_no_part_of_the_dockerfile_that_the_learner_writes() {
        let root = workbook::repo_root();
        let dockerfile = read(&root.join("Dockerfile"));
        let mut problems = Vec::new();
        for page in markdown_files(&root.join("book").join("src")) {
            let dir = page.parent().unwrap().to_path_buf();
            for include in includes(&read(&page)) {
                let target = dir.join(&include.path).canonicalize();
                if target.ok() != root.join("Dockerfile").canonicalize().ok() {
                    continue;
                }
                let page = shown(&root, &page);
                let Some(anchor) = &include.anchor else {
                    problems.push(format!("{page} includes the whole Dockerfile"));
                    continue;
                };
                let lines = anchored(&dockerfile, anchor);
                if lines.is_empty() {
                    problems.push(format!("{page}: the anchor `{anchor}` shows nothing"));
                }
                for line in lines.into_iter().filter(|l| a_line_the_learner_writes(l)) {
                    problems.push(format!(
                        "{page} shows `{line}` (anchor `{anchor}`), a line of exercise 8's TODOs"
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[cfg(test)]
mod book_transcripts {
    /// The real book passes the rule (verify checks it too; this says so sooner).
    #[test]
    fn every_console_block_in_the_book_is_marked() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(super::check_transcripts(&root), Vec::<String>::new());
    }
}
