//! Hints: `exercises/NN-topic/hints.md`, one `## Hint N` section per step.
//! The first step asks a question; each later step gives a little more away.

use std::path::Path;

use anyhow::{Context, Result};

/// The hint steps of an exercise, in order, without their headings.
pub fn read(exercise_dir: &Path) -> Result<Vec<String>> {
    let path = exercise_dir.join("hints.md");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(split(&text))
}

/// Splits markdown into the bodies of its `## ` sections.
pub fn split(text: &str) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("## ") {
            if let Some(step) = current.take() {
                steps.push(step.trim().to_string());
            }
            current = Some(String::new());
        } else if let Some(step) = current.as_mut() {
            step.push_str(line);
            step.push('\n');
        }
    }
    if let Some(step) = current {
        steps.push(step.trim().to_string());
    }
    steps.retain(|s| !s.is_empty());
    steps
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_sections_and_skips_the_preamble() {
        let steps = super::split("# Hints\nintro\n## Hint 1\nWhy?\n\n## Hint 2\nBecause.\n");
        assert_eq!(steps, vec!["Why?".to_string(), "Because.".to_string()]);
    }
}
