//! `cargo workbook image [--mine]`: the blog's Docker image, with your own
//! services in it.
//!
//! The image is always built by the one Dockerfile of chapter 8. What makes
//! it yours is a build argument: `BLOG_FEATURES` turns on one `mine-<service>`
//! feature of the `blog` package per service to take from `exercises/`
//! (solutions/blog/Cargo.toml), and the binary then compiles your crate in
//! place of the reference one. Like `cargo workbook up --mine`, a service is
//! yours only when its exercise's tests pass: a half-written service in an
//! image would only make the whole blog look broken.
//!
//! The image also carries a label, `org.workbook.mine`, that lists your
//! services, so anyone holding the image (the chapter 8 and 9 tests, you
//! with `docker image inspect`) can tell whose code it runs.

use std::path::Path;

use anyhow::Result;
use workbook::system::{Choice, choose_mine};

use crate::deploy::{Step, run_steps};

/// The reference image: what the manifests name and `docker build -t blog:0.1.0 .` makes.
pub const REFERENCE: &str = "blog:0.1.0";
/// The image with your services in it.
pub const MINE: &str = "blog:mine";
/// The label that lists the services an image takes from `exercises/`.
pub const LABEL: &str = "org.workbook.mine";

/// The services of an image: yours where `choices` says so, the reference elsewhere.
#[derive(Debug, Default)]
pub struct Selection {
    /// Each service exercise and whether yours is compiled in; empty for the reference image.
    pub choices: Vec<Choice>,
}

impl Selection {
    /// Runs every service exercise's tests (as `up --mine` does) and keeps yours where they pass.
    pub fn mine(root: &Path) -> Result<Selection> {
        Ok(Selection {
            choices: choose_mine(root)?,
        })
    }

    fn yours(&self) -> impl Iterator<Item = &Choice> {
        self.choices.iter().filter(|choice| choice.used)
    }

    /// The value of the Dockerfile's `BLOG_FEATURES`: `mine-posts,mine-moderation`.
    pub fn features(&self) -> String {
        let features: Vec<String> = self
            .yours()
            .map(|choice| format!("mine-{}", choice.service.name()))
            .collect();
        features.join(",")
    }

    /// The value of the image's label: `posts,moderation` (empty: all reference).
    pub fn label(&self) -> String {
        let services: Vec<&str> = self.yours().map(|choice| choice.service.name()).collect();
        services.join(",")
    }

    /// The build options that make the image yours, as `docker build` spells them.
    pub fn build_options(&self) -> Vec<String> {
        vec![
            "--build-arg".into(),
            format!("BLOG_FEATURES={}", self.features()),
            "--label".into(),
            format!("{LABEL}={}", self.label()),
        ]
    }

    /// One line per service exercise: yours, or the reference and why.
    pub fn print(&self, image: &str) {
        println!("\nThe services in {image}:");
        for choice in &self.choices {
            if choice.used {
                println!(
                    "  {:<11} yours      exercises/{} (its tests pass)",
                    choice.service.name(),
                    choice.slug
                );
            } else {
                println!(
                    "  {:<11} reference  `cargo test -p {}` does not pass yet",
                    choice.service.name(),
                    choice.package
                );
            }
        }
    }
}

/// Whether to build through scripts/docker-offline-build.sh: on a machine
/// that cannot download base images or crates, `WORKBOOK_DOCKER_OFFLINE=1`
/// (as in CI and chapter 8's tests).
pub fn offline() -> bool {
    std::env::var("WORKBOOK_DOCKER_OFFLINE").is_ok_and(|v| v == "1")
}

/// The image's name: `blog:mine` for yours, `blog:0.1.0` for the reference.
pub fn default_tag(mine: bool) -> &'static str {
    if mine { MINE } else { REFERENCE }
}

/// The one command that builds the image `tag`, from the repository's root.
pub fn build_step(offline: bool, tag: &str, selection: Option<&Selection>) -> Step {
    let options = selection.map(Selection::build_options).unwrap_or_default();
    let (program, mut args) = if offline {
        (
            "scripts/docker-offline-build.sh",
            vec!["-t".to_string(), tag.to_string()],
        )
    } else {
        (
            "docker",
            vec!["build".to_string(), "-t".to_string(), tag.to_string()],
        )
    };
    args.extend(options);
    if !offline {
        args.push(".".into());
    }
    Step { program, args }
}

/// `cargo workbook image [--mine] [--tag TAG]`.
pub fn image(root: &Path, mine: bool, tag: Option<&str>) -> Result<()> {
    let tag = tag.unwrap_or(default_tag(mine));
    let selection = if mine {
        Some(Selection::mine(root)?)
    } else {
        None
    };
    let step = build_step(offline(), tag, selection.as_ref());
    if let Some(selection) = &selection {
        selection.print(tag);
        println!();
    }
    run_steps(root, std::slice::from_ref(&step)).map_err(|error| {
        error.context("the image did not build (without internet: WORKBOOK_DOCKER_OFFLINE=1)")
    })?;
    println!("\nBuilt {tag}. Try one service: docker run --rm -p 4000:4000 {tag} posts");
    if mine {
        println!(
            "The whole blog on it: BLOG_IMAGE={tag} cargo test -p dockerizing --test system_in_containers"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(yours: &[&str]) -> Selection {
        let choices = [
            ("posts", "01-posts"),
            ("comments", "02-comments"),
            ("event-bus", "03-event-bus"),
            ("moderation", "05-moderation"),
        ]
        .into_iter()
        .map(|(service, slug)| Choice {
            service: service.parse().unwrap(),
            package: format!("ex{slug}"),
            slug: slug.into(),
            used: yours.contains(&service),
        })
        .collect();
        Selection { choices }
    }

    #[test]
    fn the_reference_image_is_the_books_command() {
        assert_eq!(
            build_step(false, REFERENCE, None).to_string(),
            "docker build -t blog:0.1.0 ."
        );
        assert_eq!(
            build_step(true, REFERENCE, None).to_string(),
            "scripts/docker-offline-build.sh -t blog:0.1.0"
        );
    }

    #[test]
    fn your_image_turns_on_a_feature_per_service_whose_tests_pass() {
        let mine = selection(&["event-bus", "moderation"]);
        assert_eq!(
            build_step(false, MINE, Some(&mine)).to_string(),
            "docker build -t blog:mine --build-arg BLOG_FEATURES=mine-event-bus,mine-moderation \
             --label org.workbook.mine=event-bus,moderation ."
        );
        assert_eq!(
            build_step(true, MINE, Some(&mine)).to_string(),
            "scripts/docker-offline-build.sh -t blog:mine --build-arg BLOG_FEATURES=mine-event-bus,mine-moderation \
             --label org.workbook.mine=event-bus,moderation"
        );
        assert_eq!(selection(&[]).features(), "");
    }

    /// Every feature the workbook can ask for is one the `blog` package has.
    #[test]
    fn every_service_exercise_has_its_feature_in_the_blog_package() {
        let root = workbook::repo_root();
        let manifest: toml::Table = std::fs::read_to_string(root.join("solutions/blog/Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let features = manifest["features"]
            .as_table()
            .expect("blog has [features]");
        let exercises = workbook::exercises::discover(&root).unwrap();
        let services: Vec<_> = exercises.iter().filter_map(|e| e.service.clone()).collect();
        assert_eq!(services.len(), 6, "one service exercise per service");
        for exercise in &exercises {
            let Some(service) = &exercise.service else {
                continue;
            };
            let feature = format!("mine-{service}");
            let dependency = format!("{service}-mine");
            assert_eq!(
                features
                    .get(&feature)
                    .and_then(|f| f.as_array())
                    .map(|f| f.len()),
                Some(1),
                "solutions/blog/Cargo.toml needs `{feature} = [\"dep:{dependency}\"]`"
            );
            let dep = &manifest["dependencies"][&dependency];
            assert_eq!(dep["package"].as_str(), Some(exercise.package.as_str()));
            assert_eq!(
                dep["optional"].as_bool(),
                Some(true),
                "{dependency} is optional"
            );
        }
    }
}
