//! Issue 11's scenario, on the whole blog as real processes: one request
//! that every consumer refuses must not stop the blog.
//!
//! - the malformed `PostCreated` of the issue is refused by the bus (422);
//! - a poison event that got into the log anyway (written by an older bus,
//!   or a corrupt row) is refused by comments, query and moderation, parked
//!   for each of them after `DEAD_LETTER_AFTER` tries, and listed;
//! - posts and comments created afterwards still reach query, with the
//!   comment's final status, within seconds.

use std::time::{Duration, Instant};

use blog::launcher::{Logs, Plan, RunningSystem};
use blog_catalogue::Service;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(20);

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `GET {url}` until `check` holds; fails after [`PATIENCE`] with what it saw.
async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = send(client.get(url)).await;
        if check(&body) {
            return body;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "after {PATIENCE:?}, {url} still does not show {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn launch(data: &tempfile::TempDir) -> RunningSystem {
    let mut plan = Plan::reference(
        env!("CARGO_BIN_EXE_blog").as_ref(),
        data.path().join("data"),
        Logs::Dir(data.path().join("logs")),
    )
    .on_free_ports();
    plan.extra_env
        .push(("DEAD_LETTER_AFTER".into(), "3".into()));
    plan.launch().await.expect("all six services start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_parked_and_the_blog_goes_on() {
    let data = tempfile::tempdir().unwrap();
    // The log already holds a poison event, as one written before the bus
    // checked the contract would: a `PostCreated` with a numeric id and no title.
    {
        let path = data.path().join("data").join("event-bus.db");
        let mut log = event_bus::log::open(&path).unwrap();
        let poison = event_bus::NewEvent {
            kind: event_bus::EventType::parse("PostCreated").unwrap(),
            data: json!({"id": 1}),
        };
        event_bus::log::append_batch(&mut log, &[poison]).unwrap();
    }
    let system = launch(&data).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let bus = system.url(Service::EventBus);

    // The request is now refused at the door.
    let (status, body) = send(
        client
            .post(format!("{bus}/events"))
            .json(&json!({"type": "PostCreated", "data": {"id": 1}})),
    )
    .await;
    assert_eq!(
        status, 422,
        "the bus refuses a PostCreated that breaks the contract: {body}"
    );
    // A foreign event type is stored and passed on (the services ignore it).
    let (status, body) = send(
        client
            .post(format!("{bus}/events"))
            .json(&json!({"type": "InvoiceSent", "data": {"id": 1}})),
    )
    .await;
    assert_eq!(status, 200, "unknown event types are stored: {body}");

    // A post and a comment made now reach query, with the final status.
    let (status, post) = send(
        client
            .post(format!("{}/posts/create", system.url(Service::Posts)))
            .json(&json!({"title": "After the poison"})),
    )
    .await;
    assert_eq!(status, 201, "{post}");
    let post_id = post["id"].as_str().unwrap().to_string();
    // Comments learns of the post through the bus, behind the poison event.
    let comments_url = format!("{}/posts/{post_id}/comments", system.url(Service::Comments));
    let started = Instant::now();
    let comment_id = loop {
        let (status, list) = send(
            client
                .post(&comments_url)
                .json(&json!({"content": "still here"})),
        )
        .await;
        if status == 201 {
            break list[0]["id"].as_str().unwrap().to_string();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "comments never heard of the post made after the poison event: {status} {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    wait_for(
        &client,
        &format!("{}/posts", system.url(Service::Query)),
        "the approved comment",
        |posts| {
            let comments = posts[&post_id]["comments"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            comments
                .iter()
                .any(|c| c["id"] == comment_id && c["status"] == "approved")
        },
    )
    .await;

    // The poison event is parked for each service that refused it, visibly.
    let subscribers = wait_for(
        &client,
        &format!("{bus}/subscribers"),
        "the poison event parked",
        |all| {
            [Service::Comments, Service::Query, Service::Moderation]
                .into_iter()
                .all(|service| {
                    all.as_array()
                        .into_iter()
                        .flatten()
                        .any(|line| line["url"] == system.url(service) && line["parked"] == 1)
                })
        },
    )
    .await;
    let line_of = |service: Service| {
        subscribers
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["url"] == system.url(service))
            .unwrap_or_else(|| panic!("GET /subscribers lists {service}: {subscribers}"))
            .clone()
    };
    assert_eq!(
        line_of(Service::Posts)["parked"],
        0,
        "posts took the event (it reads no PostCreated data): {subscribers}"
    );
    let query = line_of(Service::Query);
    let name = query["name"].as_str().unwrap();
    let (status, parked) = send(client.get(format!("{bus}/subscribers/{name}/parked"))).await;
    assert_eq!(status, 200, "{parked}");
    assert_eq!(
        parked[0]["seq"], 1,
        "query's parked event is the poison one: {parked}"
    );
    assert_eq!(parked[0]["data"], json!({"id": 1}));
    // Query may also have answered 503 while it rebuilt: those count as
    // tries, but only its three 422s parked the event.
    let attempts = parked[0]["attempts"].as_u64().unwrap();
    assert!(
        attempts >= 3,
        "parked after DEAD_LETTER_AFTER=3 refusals: {parked}"
    );
    assert!(
        parked[0]["error"].as_str().unwrap().contains("422"),
        "{parked}"
    );

    system.stop(Duration::from_secs(5)).await;
}
