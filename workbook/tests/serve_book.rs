//! `cargo workbook serve` builds the real book and serves it: chapter 1's
//! exercise page answers 200 and shows code included from the exercise files.

use std::time::Duration;

#[tokio::test]
async fn chapter_one_is_served_with_its_code_included() {
    let root = workbook::repo_root();
    let dest = tempfile::tempdir().unwrap();
    let html = workbook::book::build(&root.join("book"), dest.path()).expect("the book builds");
    let broken = workbook::links::check(&html).expect("the built book can be read");
    assert!(
        broken.is_empty(),
        "every link of the book must lead to a page and anchor of the book:\n{}",
        broken
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(async move { axum::serve(listener, workbook::book::router(&html)).await });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let page = client
        .get(format!("http://{addr}/ch01-microservices/exercise.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "chapter 1's exercise page must be served"
    );
    let body = page.text().await.unwrap();

    // A line that exists only in the exercise's source, so it got there by include.
    let stub = std::fs::read_to_string(root.join("exercises/01-posts/src/title.rs")).unwrap();
    let todo_line = stub
        .lines()
        .find(|l| l.contains("TODO 1:"))
        .expect("the stub has TODO 1")
        .trim();
    let escaped = todo_line
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "&#96;");
    assert!(
        body.contains(todo_line) || body.contains(&escaped),
        "the page should show the stub's code included from exercises/01-posts/src/title.rs ({todo_line:?})"
    );
    assert!(
        !body.contains("{{#include"),
        "every include must be resolved"
    );

    let index = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    server.abort();
}

/// `cargo workbook serve` needs nothing installed: mdBook is built into the
/// binary, and the book names no backend (such as a link checker) that would
/// have to be on PATH. The binary runs with an empty PATH; the book must
/// still build and be served.
#[tokio::test]
async fn the_book_is_served_with_nothing_on_path() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let root = workbook::repo_root();
    let empty = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbook"))
        .args(["serve", "--port", "0"])
        .current_dir(&root)
        .env("PATH", empty.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the workbook binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let mut address = None;
    for line in stdout.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("The workbook is at ") {
            address = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    // Keep reading what it prints: a closed pipe would stop it mid-test.
    std::thread::spawn(move || stdout.for_each(drop));
    let Some(address) = address else {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "`workbook serve` stopped before serving the book, with an empty PATH:\n{seen}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let page = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{address}ch02-sync/exercise.html"))
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    let page = page.expect("the served book answers");
    assert_eq!(
        page.status(),
        200,
        "chapter 2's exercise page must be served with nothing on PATH"
    );
}
