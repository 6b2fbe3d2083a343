//! `spawn_service` against a real child: the kit's tiny service.

use blog_testkit::spawn_service;
use tokio::process::Command;

fn tiny_service() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiny-service"))
}

#[tokio::test]
async fn it_returns_the_url_the_child_bound_on_port_0() {
    let service = spawn_service(&mut tiny_service()).await;
    assert!(
        service.url.starts_with("http://127.0.0.1:") && !service.url.ends_with(":0"),
        "the child reports the port it really got: {}",
        service.url
    );
    let answer = reqwest::get(format!("{}/hello", service.url))
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "hello");
}

#[tokio::test]
#[should_panic(expected = "error: no database here")]
async fn a_child_that_dies_first_is_reported_with_its_stderr() {
    spawn_service(tiny_service().env("TINY_SERVICE_FAILS", "no database here")).await;
}

#[tokio::test]
async fn the_child_is_killed_when_dropped() {
    let service = spawn_service(&mut tiny_service()).await;
    let url = service.url.clone();
    drop(service);
    let gone = blog_testkit::eventually(std::time::Duration::from_secs(10), async || {
        reqwest::get(format!("{url}/hello")).await.is_err()
    })
    .await;
    assert!(
        gone,
        "the service at {url} still answers after its ServiceProcess was dropped"
    );
}
