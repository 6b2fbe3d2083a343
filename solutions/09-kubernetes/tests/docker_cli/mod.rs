//! The Docker CLI as the rehearsals use it, shared by `rehearsal.rs` (the
//! blog on the HTTP bus) and `nats_rehearsal.rs` (the blog on NATS).

use std::process::Command;

use manifests::system::IMAGE;

/// Runs `docker`; its stdout, or what went wrong.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run docker: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The image that plays the manifests' `blog:0.1.0`: `BLOG_IMAGE` (yours,
/// say `blog:mine`), or that very image.
pub fn image_under_test() -> String {
    std::env::var("BLOG_IMAGE").unwrap_or_else(|_| IMAGE.to_string())
}
