//! Chapter 10's promise, seen in a real browser: the blog on a three-node
//! JetStream cluster, started the way `cargo workbook up --bus nats` starts
//! it (three `nats-server` nodes, every service but the event bus, each
//! given `EVENT_BUS_URL=nats://...`), and the page used as a person would:
//! a post, a comment that moderation approves, one with "orange" that it
//! rejects. Every step crosses the cluster: posts publishes `PostCreated`,
//! comments and query consume it, moderation decides, comments publishes
//! `CommentUpdated`, and the page shows what query learned.
//!
//! It needs `chromium` and `chromedriver` (else SKIPPED, a failure under
//! `REQUIRE_BROWSER=1`) and `nats-server` (else SKIPPED, a failure under
//! `REQUIRE_NATS=1`). CI sets both.

mod support;

// The browser side, shared with the client's own browser test.
#[path = "../../../exercises/06-client/tests/page/mod.rs"]
mod page;

use std::time::Duration;

use blog_catalogue::Service;
use support::{Blog, Bus};

#[tokio::test]
async fn on_nats_the_page_shows_comments_approved_and_rejected() {
    let Some(tools) = page::browser_tools() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let Some(blog) = Blog::launch(&data, Bus::Nats).await else {
        return;
    };
    let driver = page::ChromeDriver::start(&tools, data.path()).await;
    let page = driver
        .open_browser(&tools, &data.path().join("profile"))
        .await;

    page.go_to(&blog.plan().browser_url(Service::Client)).await;
    page.type_into("#post-title", "Hello from JetStream").await;
    page.click("#new-post button").await;
    let post = page.wait_for_post("Hello from JetStream").await;

    page.add_comment(&post, "Three nodes, one log").await;
    page.wait_for_comment(&post, 0, "approved", "Three nodes, one log")
        .await;
    page.add_comment(&post, "I do not like orange").await;
    page.wait_for_comment(&post, 1, "rejected", "This comment has been rejected")
        .await;

    page.quit().await;
    drop(driver);
    blog.stop(Duration::from_secs(5)).await;
}
