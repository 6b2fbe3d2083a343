//! The whole blog as real processes on real sockets: the end-to-end scenario,
//! and what happens when services go away and come back.

use std::time::{Duration, Instant};

use blog::launcher::{Logs, Plan, RunningSystem};
use serde_json::{Value, json};

async fn launch(data: &tempfile::TempDir) -> RunningSystem {
    let plan = Plan::reference(
        env!("CARGO_BIN_EXE_blog").as_ref(),
        data.path().join("data"),
        Logs::Dir(data.path().join("logs")),
    )
    .with_free_ports()
    .unwrap();
    plan.launch()
        .await
        .expect("all six services start and answer /healthz")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post_json(url: String, body: Value) -> Value {
    let response = client().post(&url).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST {url} answered {status}: {body}");
    body
}

async fn get_json(url: String) -> Value {
    client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the query service until `check` holds, or fails after 20 s with what it saw.
async fn wait_for_query(
    system: &RunningSystem,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let posts = get_json(format!("{}/posts", system.url("query"))).await;
        if check(&posts) {
            return posts;
        }
        if started.elapsed() > Duration::from_secs(20) {
            panic!("after 20 s the query service still does not show {what}: {posts}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_of(posts: &Value, post: &str, comment: &str) -> Option<String> {
    posts[post]["comments"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == comment)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

async fn create_post(system: &RunningSystem, title: &str) -> String {
    let post = post_json(
        format!("{}/posts/create", system.url("posts")),
        json!({ "title": title }),
    )
    .await;
    post["id"].as_str().unwrap().to_string()
}

/// Comments only accepts comments for posts it has heard of (through the
/// bus), so right after creating a post we may have to try again briefly.
async fn create_comment(system: &RunningSystem, post: &str, content: &str) -> String {
    let url = format!("{}/posts/{post}/comments", system.url("comments"));
    let started = Instant::now();
    loop {
        let response = client()
            .post(&url)
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == 201 {
            let list = body
                .as_array()
                .expect("the answer is the post's comment list");
            let mine = list
                .iter()
                .rev()
                .find(|c| c["content"] == content)
                .expect("the new comment is in the list");
            return mine["id"].as_str().unwrap().to_string();
        }
        assert_eq!(status, 404, "POST {url} answered {status}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "comments never learned about post {post}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_travels_through_every_service_and_comes_back_moderated() {
    let data = tempfile::tempdir().unwrap();
    let system = launch(&data).await;

    let post = create_post(&system, "Fruit").await;
    let nice = create_comment(&system, &post, "I like apples").await;
    let bad = create_comment(&system, &post, "I hate orange juice").await;

    let posts = wait_for_query(&system, "both comments moderated", |posts| {
        status_of(posts, &post, &nice).as_deref() == Some("approved")
            && status_of(posts, &post, &bad).as_deref() == Some("rejected")
    })
    .await;
    assert_eq!(posts[&post]["title"], "Fruit");
    assert_eq!(
        posts[&post]["comments"].as_array().unwrap().len(),
        2,
        "no comment is duplicated: {posts}"
    );

    // The comments service has the final statuses too (CommentModerated came back to it).
    let listed = get_json(format!("{}/posts/{post}/comments", system.url("comments"))).await;
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["approved", "rejected"], "{listed}");

    for (name, stopped) in system.stop(Duration::from_secs(10)).await {
        assert!(
            !stopped.killed && stopped.code == Some(0),
            "{name} should exit cleanly on SIGTERM: {stopped}"
        );
        assert!(
            stopped.took < Duration::from_secs(2),
            "{name} took {:?} to stop",
            stopped.took
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn query_and_moderation_catch_up_after_being_down_and_nothing_is_lost_or_doubled() {
    let data = tempfile::tempdir().unwrap();
    let mut system = launch(&data).await;
    let post = create_post(&system, "Resilience").await;
    let before = create_comment(&system, &post, "written while all is well").await;
    wait_for_query(&system, "the first comment approved", |p| {
        status_of(p, &post, &before).as_deref() == Some("approved")
    })
    .await;

    // Query goes away; the rest keeps working and the bus keeps its events.
    system
        .stop_service("query", Duration::from_secs(5))
        .await
        .unwrap();
    let second = create_post(&system, "Written while query was down").await;
    let during_query = create_comment(&system, &post, "query cannot see me yet").await;
    system.start_service("query").await.unwrap();
    wait_for_query(&system, "what happened while it was down", |p| {
        p[&second]["title"] == "Written while query was down"
            && status_of(p, &post, &during_query).as_deref() == Some("approved")
    })
    .await;

    // Moderation goes away: new comments wait as pending, then get decided.
    system
        .stop_service("moderation", Duration::from_secs(5))
        .await
        .unwrap();
    let waiting = create_comment(&system, &post, "an orange waits for moderation").await;
    let pending = wait_for_query(&system, "the new comment as pending", |p| {
        status_of(p, &post, &waiting).is_some()
    })
    .await;
    assert_eq!(
        status_of(&pending, &post, &waiting).as_deref(),
        Some("pending"),
        "without moderation it stays pending"
    );
    system.start_service("moderation").await.unwrap();
    let posts = wait_for_query(&system, "the waiting comment rejected", |p| {
        status_of(p, &post, &waiting).as_deref() == Some("rejected")
    })
    .await;

    let ids: Vec<&str> = posts[&post]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![before.as_str(), during_query.as_str(), waiting.as_str()],
        "every comment once, in order: {posts}"
    );
    assert_eq!(
        posts.as_object().unwrap().len(),
        2,
        "two posts, no duplicates: {posts}"
    );
    system.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_already_taken_is_reported_instead_of_trusting_whoever_answers() {
    let data = tempfile::tempdir().unwrap();
    let mut plan = Plan::reference(
        env!("CARGO_BIN_EXE_blog").as_ref(),
        data.path().join("data"),
        Logs::Dir(data.path().join("logs")),
    )
    .with_free_ports()
    .unwrap();
    // Something else already listens where posts should, and even answers
    // /healthz (another copy of the blog, say): its health is not ours.
    let squatter = blog_runtime::Server::start(
        "127.0.0.1:0".parse().unwrap(),
        blog_runtime::with_common_layers(axum::Router::new(), blog_runtime::Readiness::ready()),
    )
    .await
    .unwrap();
    plan.ports.insert("posts".into(), squatter.addr().port());

    let error = match plan.launch().await {
        Ok(_) => panic!("the launch must fail when a port is taken"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("port") && error.contains("for posts is already in use"),
        "{error}"
    );
    squatter.stop().await;
}
