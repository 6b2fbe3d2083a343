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
}
