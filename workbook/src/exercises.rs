//! Where the exercises are and what each one says about itself.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// One exercise crate under `exercises/`.
#[derive(Clone, Debug)]
pub struct Exercise {
    /// The package name the learner types: `cargo test -p ex01-posts`.
    pub package: String,
    /// Its folder, e.g. `<root>/exercises/01-posts`.
    pub dir: PathBuf,
    pub chapter: u32,
    pub title: String,
    /// The reference solution's folder, e.g. `<root>/solutions/01-posts`.
    pub solution_dir: PathBuf,
    /// The solution's package name, read from its Cargo.toml.
    pub solution_package: String,
    /// The book page that presents the exercise.
    pub book_page: PathBuf,
    /// What the exercise needs besides Rust ("docker", "kubernetes").
    pub needs: Vec<String>,
    /// The blog service the exercise builds, if it is one (`posts`).
    pub service: Option<String>,
    /// The numbered steps inside the exercise, in order (may be empty).
    pub steps: Vec<Step>,
}

/// A step inside an exercise: a part the learner can finish on its own,
/// with the tests that prove it. Declared in the exercise's Cargo.toml:
///
/// ```toml
/// [[package.metadata.workbook.steps]]
/// name = "A title that cannot be wrong"
/// tests = ["a_title_"]
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Which tests are the step's. An entry ending in `.rs` is a test file
    /// and takes all its tests (`sync_spec.rs` or `tests/sync_spec.rs`);
    /// any other entry is a prefix of test names, as libtest prints them.
    pub tests: Vec<String>,
}

impl Step {
    /// Whether the test `name`, run from `target` (`tests/sync_spec.rs`),
    /// belongs to this step.
    pub fn selects(&self, name: &str, target: &str) -> bool {
        self.tests.iter().any(|filter| {
            if filter.ends_with(".rs") {
                target == filter || target.ends_with(&format!("/{filter}"))
            } else {
                name.starts_with(filter.as_str())
            }
        })
    }
}

impl Exercise {
    /// `01-posts`: the folder name, which is also how the book refers to it.
    pub fn slug(&self) -> String {
        self.dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    /// Every `.rs` file of the exercise crate (sources and tests), sorted.
    pub fn rust_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        collect_rust_files(&self.dir, &mut files);
        files.sort();
        files
    }

    /// The files where the learner's work differs from the reference, as
    /// (yours, the reference's) pairs, sorted: what `cargo workbook solution`
    /// shows.
    ///
    /// Every file of the exercise counts, whatever its folder (`src/`,
    /// `assets/app.js`, a `Dockerfile`, `k8s/`), except build output
    /// (`target/`), the tests (`tests/`, the same for both), its Cargo.toml
    /// and its Markdown (hints), which are the workbook's. A file's reference
    /// is the solution crate's file of the same path; where the solution
    /// crate has none, it is the finished system's own file at the
    /// repository's root (ex08's Dockerfile is the repository's Dockerfile,
    /// ex09's `k8s/` the repository's `k8s/`). A file with no reference
    /// anywhere is the learner's own and is left out.
    pub fn changed_files(&self, root: &Path) -> Vec<(PathBuf, PathBuf)> {
        let mut files = Vec::new();
        collect_files(&self.dir, &self.dir, &mut files);
        let mut changed: Vec<(PathBuf, PathBuf)> = files
            .into_iter()
            .filter(|relative| {
                let workbook_own = relative == Path::new("Cargo.toml")
                    || relative.extension().is_some_and(|e| e == "md")
                    || relative.starts_with("tests");
                !workbook_own
            })
            .filter_map(|relative| {
                let reference = [self.solution_dir.join(&relative), root.join(&relative)]
                    .into_iter()
                    .find(|candidate| candidate.is_file())?;
                let yours = self.dir.join(&relative);
                let same = std::fs::read(&yours).ok() == std::fs::read(&reference).ok();
                (!same).then_some((yours, reference))
            })
            .collect();
        changed.sort();
        changed
    }
}

/// Every file under `dir` outside `target/` folders, relative to `base`.
fn collect_files(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                collect_files(base, &path, out);
            }
        } else if let Ok(relative) = path.strip_prefix(base) {
            out.push(relative.to_path_buf());
        }
    }
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    workbook: Option<WorkbookMetadata>,
}

#[derive(Deserialize)]
struct WorkbookMetadata {
    chapter: u32,
    title: String,
    solution: String,
    book: String,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every exercise, in chapter order.
pub fn discover(root: &Path) -> Result<Vec<Exercise>> {
    let mut found = Vec::new();
    let dir = root.join("exercises");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries.flatten() {
        let manifest_path = entry.path().join("Cargo.toml");
        if !manifest_path.is_file() {
            continue;
        }
        let manifest = read_manifest(&manifest_path)?;
        let Some(meta) = manifest.package.metadata.and_then(|m| m.workbook) else {
            bail!(
                "{} has no [package.metadata.workbook] table",
                manifest_path.display()
            );
        };
        let solution_dir = root.join(&meta.solution);
        let solution_package = read_manifest(&solution_dir.join("Cargo.toml"))
            .with_context(|| format!("the solution of {} ", manifest.package.name))?
            .package
            .name;
        found.push(Exercise {
            package: manifest.package.name,
            dir: entry.path(),
            chapter: meta.chapter,
            title: meta.title,
            solution_dir,
            solution_package,
            book_page: root.join(meta.book),
            needs: meta.needs,
            service: meta.service,
            steps: meta.steps,
        });
    }
    found.sort_by_key(|e| (e.chapter, e.slug()));
    Ok(found)
}

/// Finds an exercise by package name (`ex01-posts`), folder (`01-posts`) or chapter number (`1`).
pub fn find<'a>(exercises: &'a [Exercise], name: &str) -> Result<&'a Exercise> {
    let by_chapter = name.parse::<u32>().ok();
    exercises
        .iter()
        .find(|e| e.package == name || e.slug() == name || Some(e.chapter) == by_chapter)
        .with_context(|| {
            let known: Vec<_> = exercises.iter().map(|e| e.package.as_str()).collect();
            format!(
                "no exercise called {name:?}; the exercises are: {}",
                known.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_chapter_one_exercise_with_its_solution() {
        let exercises = discover(&crate::repo_root()).unwrap();
        let posts = find(&exercises, "ex01-posts").unwrap();
        assert_eq!(posts.chapter, 1);
        assert_eq!(posts.solution_package, "posts");
        assert!(
            posts.book_page.is_file(),
            "{} should exist",
            posts.book_page.display()
        );
        assert_eq!(find(&exercises, "01-posts").unwrap().package, "ex01-posts");
        assert_eq!(find(&exercises, "1").unwrap().package, "ex01-posts");
        let error = find(&exercises, "nope").unwrap_err().to_string();
        assert!(
            error.contains("ex01-posts"),
            "the error lists the real names: {error}"
        );
    }

    /// The test functions of an exercise's test files, as (name, target).
    fn test_functions(exercise: &Exercise) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for file in exercise.rust_files() {
            let Ok(relative) = file.strip_prefix(&exercise.dir) else {
                continue;
            };
            if !relative.starts_with("tests") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let mut after_test_attribute = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with("#[") && (line.contains("test]") || line.contains("test(")) {
                    after_test_attribute = true;
                } else if after_test_attribute && let Some(at) = line.find("fn ") {
                    let name: String = line[at + 3..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    found.push((name, relative.display().to_string()));
                    after_test_attribute = false;
                }
            }
        }
        found
    }

    #[test]
    fn every_step_of_every_exercise_names_real_tests_and_every_test_is_in_one_step() {
        let exercises = discover(&crate::repo_root()).unwrap();
        assert!(
            exercises.len() >= 10,
            "every chapter's exercise is found: {exercises:?}"
        );
        for exercise in &exercises {
            assert!(
                (2..=4).contains(&exercise.steps.len()),
                "{} declares 2 to 4 steps: {:?}",
                exercise.package,
                exercise.steps
            );
        }
        for exercise in exercises.iter().filter(|e| !e.steps.is_empty()) {
            let tests = test_functions(exercise);
            for step in &exercise.steps {
                assert!(
                    tests
                        .iter()
                        .any(|(name, target)| step.selects(name, target)),
                    "{}: step {:?} selects no test; its tests are {tests:?}",
                    exercise.package,
                    step.name
                );
            }
            for (name, target) in &tests {
                let steps = exercise
                    .steps
                    .iter()
                    .filter(|s| s.selects(name, target))
                    .count();
                assert_eq!(
                    steps, 1,
                    "{}: test {name} ({target}) should be in exactly one step",
                    exercise.package
                );
            }
        }
    }

    #[test]
    fn a_step_selects_by_test_file_or_by_name_prefix() {
        let step = Step {
            name: "s".into(),
            tests: vec!["sync_spec.rs".into(), "a_title_".into()],
        };
        assert!(step.selects("anything", "tests/sync_spec.rs"));
        assert!(step.selects("a_title_is_trimmed", "tests/posts_spec.rs"));
        assert!(!step.selects("anything", "tests/comments_spec.rs"));
        assert!(
            !step.selects("the_title", "tests/posts_spec.rs"),
            "a prefix, not a substring"
        );
        assert!(
            !step.selects("anything", "tests/not_sync_spec.rs"),
            "a whole file name"
        );
    }

    #[test]
    fn the_solution_covers_every_file_the_learner_changes_wherever_it_is() {
        let root = crate::repo_root();
        let exercises = discover(&root).unwrap();
        let changed = |package: &str| -> Vec<(String, String)> {
            find(&exercises, package)
                .unwrap()
                .changed_files(&root)
                .into_iter()
                .map(|(yours, reference)| {
                    let relative = |p: &Path| p.strip_prefix(&root).unwrap().display().to_string();
                    (relative(&yours), relative(&reference))
                })
                .collect()
        };
        let posts = changed("ex01-posts");
        assert!(
            posts.contains(&(
                "exercises/01-posts/src/title.rs".into(),
                "solutions/01-posts/src/title.rs".into()
            )),
            "{posts:?}"
        );
        assert!(
            posts.iter().all(|(yours, _)| !yours.ends_with("Cargo.toml")
                && !yours.ends_with(".md")
                && !yours.contains("/tests/")),
            "the manifest, the hints and the tests are not the learner's: {posts:?}"
        );
        let client = changed("ex06-client");
        assert!(
            client.contains(&(
                "exercises/06-client/assets/app.js".into(),
                "solutions/06-client/assets/app.js".into()
            )),
            "{client:?}"
        );
        let image = changed("ex08-dockerizing");
        assert!(
            image.contains(&(
                "exercises/08-dockerizing/Dockerfile".into(),
                "Dockerfile".into()
            )),
            "{image:?}"
        );
        let manifests = changed("ex09-kubernetes");
        assert!(
            manifests.iter().any(|(yours, reference)| yours
                .starts_with("exercises/09-kubernetes/k8s/")
                && reference.starts_with("k8s/")),
            "{manifests:?}"
        );
    }

    #[test]
    fn files_the_learner_got_right_or_added_are_not_shown() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("exercises/01-x/src/done.rs", "same");
        write("solutions/01-x/src/done.rs", "same");
        write("exercises/01-x/src/stub.rs", "todo!()");
        write("solutions/01-x/src/stub.rs", "solved");
        write("exercises/01-x/src/mine.rs", "the learner's own file");
        write("exercises/01-x/target/debug/stub.rs", "build output");
        write("solutions/01-x/target/debug/stub.rs", "other build output");
        write("exercises/01-x/deploy.yaml", "replicas: 0");
        write("deploy.yaml", "replicas: 1");
        let exercise = Exercise {
            package: "ex01-x".into(),
            dir: root.path().join("exercises/01-x"),
            chapter: 1,
            title: "x".into(),
            solution_dir: root.path().join("solutions/01-x"),
            solution_package: "x".into(),
            book_page: root.path().join("book.md"),
            needs: Vec::new(),
            service: None,
            steps: Vec::new(),
        };
        let names: Vec<PathBuf> = exercise
            .changed_files(root.path())
            .into_iter()
            .map(|(yours, _)| yours.strip_prefix(&exercise.dir).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            vec![PathBuf::from("deploy.yaml"), PathBuf::from("src/stub.rs")]
        );
    }
}
