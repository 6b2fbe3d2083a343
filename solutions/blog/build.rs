//! Links `blog` as a position-dependent executable on Linux with glibc.
//!
//! A position-independent executable (PIE, the default) is loaded at a
//! random address, so the loader must patch every pointer in its read-only
//! data (`.data.rel.ro`: vtables, tables of strings) before `main` runs.
//! Patched pages are private to each process: for this binary about 430 KB
//! in each of the six services, a quarter of the blog's memory at idle.
//! Linked at a fixed address, those pages stay as the file has them and
//! all six processes share one copy. What it costs is address-space
//! randomisation for the binary's own code; the stack, the heap and the
//! libraries are still placed at random. Chapter 3 ("Memory, measured
//! too") weighs the two. Build with `BLOG_PIE=1` to keep a PIE.
fn main() {
    println!("cargo:rerun-if-env-changed=BLOG_PIE");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && std::env::var_os("BLOG_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
