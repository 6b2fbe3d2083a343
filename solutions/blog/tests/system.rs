//! The whole blog as real processes on real sockets: the end-to-end scenario,
//! and what happens when services go away and come back. The scenarios run
//! on both buses, from this one source: the blog's own HTTP bus, and a
//! three-node NATS JetStream cluster (chapter 10; skipped without
//! `nats-server`, unless `REQUIRE_NATS=1`).

mod support;

use std::time::{Duration, Instant};

use blog::launcher::{Logs, Plan};
use blog_catalogue::Service;
use support::{
    Blog, Bus, client, create_comment, create_post, get_json, launch, status_of, wait_for_query,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_travels_through_every_service_and_comes_back_moderated() {
    a_comment_travels(Bus::Http).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_nats_a_comment_travels_through_every_service_and_comes_back_moderated() {
    a_comment_travels(Bus::Nats).await;
}

async fn a_comment_travels(bus: Bus) {
    let data = tempfile::tempdir().unwrap();
    let Some(system) = Blog::launch(&data, bus).await else {
        return;
    };

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
    let listed = get_json(format!(
        "{}/posts/{post}/comments",
        system.url(Service::Comments)
    ))
    .await;
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
    catch_up_after_being_down(Bus::Http).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_nats_query_and_moderation_catch_up_after_being_down_and_nothing_is_lost_or_doubled() {
    catch_up_after_being_down(Bus::Nats).await;
}

async fn catch_up_after_being_down(bus: Bus) {
    let data = tempfile::tempdir().unwrap();
    let Some(mut system) = Blog::launch(&data, bus).await else {
        return;
    };
    let post = create_post(&system, "Resilience").await;
    let before = create_comment(&system, &post, "written while all is well").await;
    wait_for_query(&system, "the first comment approved", |p| {
        status_of(p, &post, &before).as_deref() == Some("approved")
    })
    .await;

    // Query goes away; the rest keeps working and the bus keeps its events.
    system
        .stop_service(Service::Query, Duration::from_secs(5))
        .await
        .unwrap();
    let second = create_post(&system, "Written while query was down").await;
    let during_query = create_comment(&system, &post, "query cannot see me yet").await;
    system.start_service(Service::Query).await.unwrap();
    wait_for_query(&system, "what happened while it was down", |p| {
        p[&second]["title"] == "Written while query was down"
            && status_of(p, &post, &during_query).as_deref() == Some("approved")
    })
    .await;

    // Moderation goes away: new comments wait as pending, then get decided.
    system
        .stop_service(Service::Moderation, Duration::from_secs(5))
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
    system.start_service(Service::Moderation).await.unwrap();
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
    .on_free_ports();
    // Something else already listens where posts should, and even answers
    // /healthz (another copy of the blog, say): its health is not ours.
    let squatter = blog_runtime::Server::start(
        "127.0.0.1:0".parse().unwrap(),
        blog_runtime::with_common_layers(axum::Router::new(), blog_runtime::Readiness::ready()),
    )
    .await
    .unwrap();
    plan.ports.insert(Service::Posts, squatter.addr().port());

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

#[tokio::test(flavor = "multi_thread")]
async fn a_port_taken_on_ipv6_localhost_is_reported_too() {
    // A browser asked for localhost may well try [::1] first: something
    // listening there would get the page's requests instead of the blog.
    let squatter = match std::net::TcpListener::bind("[::1]:0") {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("SKIPPED: this machine has no IPv6 loopback ({error})");
            return;
        }
    };
    let data = tempfile::tempdir().unwrap();
    let mut plan = Plan::reference(
        env!("CARGO_BIN_EXE_blog").as_ref(),
        data.path().join("data"),
        Logs::Dir(data.path().join("logs")),
    )
    .on_free_ports();
    let port = squatter.local_addr().unwrap().port();
    plan.ports.insert(Service::Posts, port);

    let error = match plan.launch().await {
        Ok(_) => panic!("the launch must fail when [::1]:{port} is taken"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains(&format!(
            "port {port} for posts is already in use on [::1]:{port}"
        )),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_killed_with_sigkill_is_started_again_and_the_blog_still_works() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let data = tempfile::tempdir().unwrap();
    let mut system = launch(&data).await;
    let post = create_post(&system, "Before the crashes").await;
    let first = create_comment(&system, &post, "written before the crashes").await;

    // A crash of a service the others call, then of the bus itself.
    for victim in [Service::Comments, Service::EventBus] {
        let before = system.status(victim).expect("supervised");
        let pid = before.pid.expect("running");
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let after = system
            .wait_for_restarts(victim, before.restarts + 1, Duration::from_secs(20))
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        assert_ne!(after.pid, Some(pid), "{victim} runs in a new process");
        // Healthy again, on the same address.
        let health = client()
            .get(format!("{}/healthz", system.url(victim)))
            .send()
            .await
            .unwrap();
        assert!(
            health.status().is_success(),
            "{victim}: {}",
            health.status()
        );
    }

    let second = create_comment(&system, &post, "written after the crashes").await;
    wait_for_query(&system, "both comments approved", |p| {
        status_of(p, &post, &first).as_deref() == Some("approved")
            && status_of(p, &post, &second).as_deref() == Some("approved")
    })
    .await;
    let said = std::fs::read_to_string(data.path().join("logs/launcher.log")).unwrap();
    for victim in ["comments", "event-bus"] {
        assert!(
            said.contains(&format!("{victim}: died (signal: 9"))
                && said.contains(&format!("{victim}: is back")),
            "the launcher says what happened to {victim}:\n{said}"
        );
    }
    system.stop(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_stopped_on_purpose_stays_stopped_and_frees_its_port() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let data = tempfile::tempdir().unwrap();
    let mut system = launch(&data).await;
    let pid = system.status(Service::Moderation).unwrap().pid.unwrap();
    // What `kill PID` does, and what the book's chapters 4 and 5 ask for.
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();

    let port = system.plan().port(Service::Moderation);
    let started = Instant::now();
    let free = loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => break listener,
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "port {port} still taken 10 s after moderation was stopped: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(free);
    // The launcher says what it saw, and does not start it again.
    let log = data.path().join("logs/launcher.log");
    let said = loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains("moderation: stopped (exit code 0)") {
            break said;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the launcher never said that moderation stopped:\n{said}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!said.contains("moderation: is back"), "{said}");
    assert_eq!(system.status(Service::Moderation).unwrap().pid, None);

    // Started again by hand, it works as before.
    system.start_service(Service::Moderation).await.unwrap();
    let post = create_post(&system, "Moderated again").await;
    let comment = create_comment(&system, &post, "an orange, once more").await;
    wait_for_query(&system, "the comment rejected", |p| {
        status_of(p, &post, &comment).as_deref() == Some("rejected")
    })
    .await;
    system.stop(Duration::from_secs(10)).await;
}
