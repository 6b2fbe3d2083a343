//! `cargo workbook serve` builds the real book and serves it: chapter 1's
//! exercise page answers 200 and shows code included from the exercise files.

use std::time::Duration;

#[tokio::test]
async fn chapter_one_is_served_with_its_code_included() {
    let root = workbook::repo_root();
    let dest = tempfile::tempdir().unwrap();
    let html = workbook::book::build(&root.join("book"), dest.path()).expect("the book builds");

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
