//! Tests that need a tool the machine may lack (Docker, a browser).

use std::io::Write;

/// For a test that cannot run here, because `reason`: prints a loud
/// `SKIPPED` line, so the test can return. But when `required_by` is set to
/// `1` (CI sets `REQUIRE_DOCKER=1`, say), it fails instead: a skipped test
/// proves nothing.
#[track_caller]
pub fn skip_unless_required(required_by: &str, reason: &str) {
    let setting = std::env::var(required_by).ok();
    match verdict(required_by, setting.as_deref(), reason) {
        // Straight to stderr, not `eprintln!`: the test harness would hide
        // that one when the test passes, and this line must be seen.
        Ok(skipped) => {
            let _ = writeln!(std::io::stderr(), "{skipped}");
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// The line to print (`Ok`), or the failure (`Err`) when the tool is required.
fn verdict(required_by: &str, setting: Option<&str>, reason: &str) -> Result<String, String> {
    if setting == Some("1") {
        return Err(format!("{required_by}=1, but {reason}"));
    }
    Ok(format!(
        "SKIPPED: {reason}. {required_by}=1 makes this a failure."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_skips_loudly_with_the_reason_unless_the_variable_is_1() {
        let reason = "no unicorn answers";
        assert_eq!(
            verdict("REQUIRE_UNICORN", None, reason),
            Ok("SKIPPED: no unicorn answers. REQUIRE_UNICORN=1 makes this a failure.".into())
        );
        assert!(verdict("REQUIRE_UNICORN", Some("0"), reason).is_ok());
        assert_eq!(
            verdict("REQUIRE_UNICORN", Some("1"), reason),
            Err("REQUIRE_UNICORN=1, but no unicorn answers".into())
        );
    }
}
