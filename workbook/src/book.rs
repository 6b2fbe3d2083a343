//! Builds the book with mdBook as a library (nothing to install) and serves it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use tower_http::services::ServeDir;

/// Builds `book_dir` into `dest` and returns the folder holding the HTML.
pub fn build(book_dir: &Path, dest: &Path) -> Result<PathBuf> {
    let mut book = mdbook_driver::MDBook::load(book_dir)
        .map_err(|e| anyhow!("{e:#}"))
        .with_context(|| format!("loading the book in {}", book_dir.display()))?;
    book.config.build.build_dir = dest.to_path_buf();
    book.build()
        .map_err(|e| anyhow!("{e:#}"))
        .context("building the book")?;
    Ok(html_dir(dest))
}

/// With one renderer mdBook writes straight into the build folder; with
/// several (html and the link checker) each gets a subfolder.
pub fn html_dir(dest: &Path) -> PathBuf {
    let nested = dest.join("html");
    if nested.join("index.html").is_file() {
        nested
    } else {
        dest.to_path_buf()
    }
}

/// The router that serves the built book.
pub fn router(html: &Path) -> Router {
    Router::new().fallback_service(ServeDir::new(html).append_index_html_on_directories(true))
}

/// Binds `addr` and serves the book; rebuilds it when a source file changes.
pub async fn serve(root: &Path, addr: SocketAddr) -> Result<()> {
    let book_dir = root.join("book");
    let dest = book_dir.join("build");
    println!("Building the book (the first build takes a few seconds)...");
    let html = build(&book_dir, &dest)?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "port {} is busy; try `cargo workbook serve --port 4322`",
            addr.port()
        )
    })?;
    let addr = listener.local_addr()?;
    println!("The workbook is at http://{addr}/  (Ctrl-C to stop)");
    println!("Edits to the book or the code are picked up automatically; reload the page.");

    let watched = vec![
        book_dir.join("src"),
        root.join("exercises"),
        root.join("solutions"),
    ];
    std::thread::spawn(move || rebuild_on_change(&book_dir, &dest, &watched));

    axum::serve(listener, router(&html))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn rebuild_on_change(book_dir: &Path, dest: &Path, watched: &[PathBuf]) {
    let mut last = newest_change(watched);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = newest_change(watched);
        if now > last {
            last = now;
            match build(book_dir, dest) {
                Ok(_) => println!("Rebuilt the book."),
                Err(error) => eprintln!("The book did not build: {error:#}"),
            }
        }
    }
}

/// The latest modification time of any file under `dirs` (skipping build output).
fn newest_change(dirs: &[PathBuf]) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == "build" {
                continue;
            }
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(modified);
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    for dir in dirs {
        walk(dir, &mut newest);
    }
    newest
}
