//! How a replay compares what a command printed with what the page shows,
//! shared by the replays of the book's transcripts (`replay.rs`, docker;
//! `replay_curl.rs`, the blog's services).
//!
//! In the page, `[..]` matches anything within a line and a line `...`
//! matches any number of lines (trycmd's syntax); runs of spaces and tabs
//! count as one space. An id the page shows (a run of 12, 16, 32 or 64 hex
//! digits: a container's short or long id, a post's or a comment's, an
//! event log's) matches
//! any id of that length, and from then on the page's id stands for the real
//! one in later commands, as it would for a learner who copies the id they
//! got. The digits after a decimal point (`0m2.012s`, `1.73 ms`) match any
//! digits: times differ on every run, and so does a run of 13 digits (a
//! time in milliseconds since 1970, `"parkedAt":1796161981746`).

#![allow(dead_code)] // each replay uses the parts it needs

use std::collections::HashMap;

/// The id lengths a page may show: docker's short and long ids, the blog's ids.
const ID_LENGTHS: [usize; 4] = [12, 16, 32, 64];

/// The digits of a time in milliseconds since 1970 (until the year 2286).
const MILLIS_DIGITS: usize = 13;

/// Whether the whole `actual` output matches the page's `expected` lines.
pub fn lines_match(
    expected: &[String],
    actual: &[&str],
    ids: &mut HashMap<String, String>,
) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..], &mut ids.clone()))
        }
        Some((first, rest)) => match actual.split_first() {
            Some((line, others)) => {
                let mut tried = ids.clone();
                if line_matches(&squash(first), &squash(line), &mut tried)
                    && lines_match(rest, others, &mut tried)
                {
                    *ids = tried;
                    true
                } else {
                    false
                }
            }
            None => false,
        },
    }
}

/// Runs of blanks as one space, none at the ends.
fn squash(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line: `[..]` matches anything; a page id matches any id as long, and
/// the same page id must stand for the same real one throughout.
fn line_matches(expected: &str, actual: &str, ids: &mut HashMap<String, String>) -> bool {
    if let Some(rest) = expected.strip_prefix("[..]") {
        return (0..=actual.len())
            .filter(|&i| actual.is_char_boundary(i))
            .any(|i| line_matches(rest, &actual[i..], ids));
    }
    let id_len = hex_run(expected);
    if ID_LENGTHS.contains(&id_len) && hex_run(actual) == id_len {
        let (page, real) = (&expected[..id_len], &actual[..id_len]);
        if ids.get(page).is_none_or(|known| known == real) {
            let mut tried = ids.clone();
            tried.insert(page.to_string(), real.to_string());
            if line_matches(&expected[id_len..], &actual[id_len..], &mut tried) {
                *ids = tried;
                return true;
            }
        }
    }
    if digit_run(expected) == MILLIS_DIGITS && digit_run(actual) == MILLIS_DIGITS {
        return line_matches(&expected[MILLIS_DIGITS..], &actual[MILLIS_DIGITS..], ids);
    }
    if let Some(rest) = expected.strip_prefix('.')
        && let Some(actual_rest) = actual.strip_prefix('.')
    {
        let (expected_digits, actual_digits) = (digit_run(rest), digit_run(actual_rest));
        if expected_digits > 0 && actual_digits > 0 {
            return line_matches(&rest[expected_digits..], &actual_rest[actual_digits..], ids);
        }
    }
    match (expected.chars().next(), actual.chars().next()) {
        (None, None) => true,
        (Some(e), Some(a)) if e == a => {
            // An id starts a line or follows a non-hex character, never inside a word.
            let skip = if e.is_ascii_hexdigit() {
                hex_run(expected).min(hex_run(actual)).max(1)
            } else {
                e.len_utf8()
            };
            expected.get(..skip) == actual.get(..skip)
                && line_matches(&expected[skip..], &actual[skip..], ids)
        }
        _ => false,
    }
}

fn hex_run(text: &str) -> usize {
    text.chars()
        .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
        .count()
}

fn digit_run(text: &str) -> usize {
    text.chars().take_while(char::is_ascii_digit).count()
}

/// The command with every page id seen so far replaced by the real one.
pub fn with_real_ids(command: &str, ids: &HashMap<String, String>) -> String {
    let mut command = command.to_string();
    for (page, real) in ids {
        command = command.replace(page.as_str(), real);
        if page.len() == 64 {
            command = command.replace(&page[..12], &real[..12]);
        }
    }
    command
}

#[test]
fn the_matcher_takes_wildcards_and_ids_but_not_other_differences() {
    let page = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let mut ids = HashMap::new();
    let expected = page(&["6bac6a2fb890   busybox   [..]ago", "...", "done"]);
    let actual = [
        "0123456789ab\tbusybox \"echo\" 2 seconds ago",
        "x",
        "y",
        "done",
    ];
    assert!(lines_match(&expected, &actual, &mut ids));
    assert_eq!(ids["6bac6a2fb890"], "0123456789ab");
    assert_eq!(
        with_real_ids("docker start -a 6bac6a2fb890", &ids),
        "docker start -a 0123456789ab"
    );
    assert!(!lines_match(
        &page(&["hello"]),
        &["hello", "extra"],
        &mut ids
    ));
    assert!(!lines_match(&page(&["exit 0"]), &["exit 137"], &mut ids));
    assert!(!lines_match(&page(&["6bac6a2fb890"]), &["0123"], &mut ids));
    assert!(lines_match(
        &page(&["\"echo created-not-st…\"   [..]"]),
        &["\"echo created-not-st…\" 3 seconds ago"],
        &mut ids
    ));
}

#[test]
fn blog_ids_times_and_the_same_id_twice() {
    let page = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let mut ids = HashMap::new();
    let expected = page(&[r#"{"id":"34e598f107ebeeca","title":"Hi"}"#, "real 0m2.012s"]);
    let actual = [r#"{"id":"00000000000000ff","title":"Hi"}"#, "real\t0m2.3s"];
    assert!(lines_match(&expected, &actual, &mut ids));
    assert_eq!(ids["34e598f107ebeeca"], "00000000000000ff");
    assert!(
        !lines_match(&page(&["real 0m2.012s"]), &["real 0m3.012s"], &mut ids),
        "only the fraction may differ"
    );
    let twice = page(&[r#"["34e598f107ebeeca","34e598f107ebeeca"]"#]);
    assert!(!lines_match(
        &twice,
        &[r#"["00000000000000ff","0000000000000aaa"]"#],
        &mut HashMap::new()
    ));
    assert!(
        !lines_match(
            &page(&[r#"{"seq":4}"#]),
            &[r#"{"seq":5}"#],
            &mut HashMap::new()
        ),
        "a number is no id"
    );
    assert!(lines_match(
        &page(&[r#"{"parkedAt":1796161981746}"#]),
        &[r#"{"parkedAt":1764636000123}"#],
        &mut HashMap::new()
    ));
}
