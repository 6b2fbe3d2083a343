//! The rehearsal of chapter 10's overlay (`k8s/nats/`) on Docker: the blog
//! on a three-node NATS JetStream cluster, with one node stopped mid-test.
//!
//! What `kubectl kustomize k8s/nats` renders is run on a Docker network the
//! way the cluster would run it:
//!
//! - each pod of the NATS StatefulSet is a container of `blog-nats:2.9` (the
//!   local stand-in for the manifests' official `nats` image, made by
//!   `scripts/docker-nats-image.sh`), with the manifest's args, its pod name
//!   for `$(POD_NAME)`, its own named volume for the claim, and the names
//!   the cluster's DNS would give it: `nats-0.nats` (the headless Service)
//!   and `nats-client` (the client Service, shared by the three);
//! - each replica of each blog workload is a container of the blog's image
//!   with its env (`EVENT_BUS_URL=nats://nats-client:4222`), moderation three
//!   times, query twice with `QUERY_REPLICA` its ordinal.
//!
//! A post and two comments must reach their final statuses in both query
//! replicas; then one NATS node is stopped, and two more comments must
//! still get there, each comment shown once.
//!
//! It needs Docker, both images and kubectl; without them it prints
//! SKIPPED, and under `REQUIRE_DOCKER=1` (CI) it fails instead.

mod docker_cli;
use docker_cli::{docker, image_under_test};

use std::process::Command;
use std::time::{Duration, Instant};

use blog_testkit::skip_unless_required;
use manifests::pods::Pod;
use manifests::{Manifests, Object, nats};
use serde_json::{Value, json};

/// The local image that plays the manifests' `nats:2.10-alpine`.
const NATS_IMAGE: &str = "blog-nats:2.9";

/// The rendered overlay, when everything the rehearsal needs is here.
async fn ready() -> Option<Manifests> {
    let missing = if blog_testkit::docker::engine().await.is_none() {
        return None; // the test kit's gate has said why
    } else if let Some(image) = [image_under_test(), NATS_IMAGE.to_string()]
        .into_iter()
        .find(|image| docker(&["image", "inspect", image]).is_err())
    {
        format!(
            "the NATS rehearsal needs the image {image} (scripts/docker-offline-build.sh and scripts/docker-nats-image.sh make both)"
        )
    } else {
        match nats::render(&nats::overlay_dir()) {
            Ok(text) => {
                return Some(nats::parse_rendered(&text).unwrap_or_else(|p| panic!("{p:#?}")));
            }
            Err(error) => format!("the NATS rehearsal renders k8s/nats with kubectl: {error}"),
        }
    };
    skip_unless_required("REQUIRE_DOCKER", &missing);
    None
}

/// Everything the test made, removed when it ends, pass or fail.
struct Rehearsal {
    tag: String,
    network: String,
}

impl Rehearsal {
    fn new() -> Rehearsal {
        let tag = format!("natsops-rehearsal-{}", std::process::id());
        let rehearsal = Rehearsal {
            network: format!("{tag}-net"),
            tag,
        };
        rehearsal.clean();
        docker(&["network", "create", &rehearsal.network]).unwrap();
        rehearsal
    }

    fn name(&self, pod: &str) -> String {
        format!("{}-{pod}", self.tag)
    }

    /// `docker run` of one pod: its name, DNS names, env, user, volume, image and args.
    fn run(&self, pod: &str, aliases: &[String], env: &[(String, String)], rest: &[String]) {
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--name",
            &self.name(pod),
            "--label",
            &format!("org.workbook.test={}", self.tag),
            "--network",
            &self.network,
            "--user",
            "65532:65532",
            "--read-only",
            "--cap-drop",
            "ALL",
        ]
        .map(String::from)
        .to_vec();
        for alias in aliases {
            args.extend(["--network-alias".into(), alias.clone()]);
        }
        for (key, value) in env {
            args.extend(["--env".into(), format!("{key}={value}")]);
        }
        args.extend(rest.iter().cloned());
        let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&borrowed).unwrap_or_else(|error| panic!("starting {pod}: {error}"));
    }

    /// Where the test reaches `port` of a pod, published on 127.0.0.1.
    fn url(&self, pod: &str, port: i32) -> String {
        let published =
            docker(&["port", &self.name(pod), &format!("{port}/tcp")]).unwrap_or_else(|error| {
                panic!(
                    "{pod} has no published port {port} (did it stop?): {error}\n{}",
                    self.logs(pod)
                )
            });
        format!("http://{}", published.lines().next().unwrap_or_default())
    }

    fn logs(&self, pod: &str) -> String {
        let output = Command::new("docker")
            .args(["logs", "--tail", "25", &self.name(pod)])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_default();
        format!("--- last lines of {pod} ---\n{output}")
    }

    fn clean(&self) {
        let filter = format!("label=org.workbook.test={}", self.tag);
        if let Ok(ids) = docker(&["ps", "--all", "--quiet", "--filter", &filter]) {
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = docker(&["rm", "--force", "--volumes", id]);
            }
        }
        let _ = docker(&["network", "rm", &self.network]);
        // The NATS nodes' named volumes, `<tag>-data-nats-N`.
        let named = format!("name={}-", self.tag);
        if let Ok(volumes) = docker(&["volume", "ls", "--quiet", "--filter", &named]) {
            for volume in volumes.lines().filter(|l| !l.is_empty()) {
                let _ = docker(&["volume", "rm", "--force", volume]);
            }
        }
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        self.clean();
    }
}

/// Polls `url` until it answers 200, for at most `seconds`; the pod's log if not.
async fn wait_ok(rehearsal: &Rehearsal, pod: &str, url: &str, seconds: u64) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        if http()
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{url} did not answer 200 within {seconds} s\n{}",
        rehearsal.logs(pod)
    );
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// One replica of a blog workload, as a container.
struct BlogPod {
    /// `moderation-depl-2`, `query-1`: the workload and the replica's ordinal.
    pod: String,
    service: String,
    env: Vec<(String, String)>,
    port: i32,
}

/// Every replica of every blog workload but the client (the test plays the page).
fn blog_pods(manifests: &Manifests) -> Vec<BlogPod> {
    let mut objects: Vec<Object> = manifests
        .objects
        .iter()
        .filter(|o| o.kind() == "Deployment")
        .cloned()
        .collect();
    for (object, set) in manifests.stateful_sets() {
        if object.name != "nats" {
            objects.push(Object {
                resource: manifests::Resource::Deployment(Box::new(nats::as_deployment(set))),
                ..object.clone()
            });
        }
    }
    let mut pods = Vec::new();
    for object in &objects {
        let manifests::Resource::Deployment(deployment) = &object.resource else {
            continue;
        };
        let pod = Pod::of(object, deployment).unwrap();
        let Some(service) = pod.service else { continue };
        if service.name() == "client" {
            continue; // the test plays the page
        }
        for ordinal in 0..deployment.spec.replicas.unwrap_or(1) {
            let mut env: Vec<(String, String)> = pod
                .container
                .env
                .iter()
                .flatten()
                .map(|var| {
                    // The only fieldRef the overlay uses for blog pods: the ordinal.
                    let value = match &var.value_from {
                        Some(_) => ordinal.to_string(),
                        None => var.value.clone().unwrap_or_default(),
                    };
                    (var.name.clone(), value)
                })
                .collect();
            env.push(("HOST".into(), "0.0.0.0".into()));
            pods.push(BlogPod {
                pod: format!("{}-{ordinal}", object.name),
                service: service.name().to_string(),
                env,
                port: pod.listen_port().unwrap(),
            });
        }
    }
    pods
}

async fn query_view(rehearsal: &Rehearsal, pod: &str) -> Value {
    let url = format!("{}/posts", rehearsal.url(pod, 4002));
    match http().get(&url).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The statuses of `post`'s comments in one query replica, by content, and
/// whether any comment appears twice.
fn statuses(view: &Value, post: &str) -> (Vec<(String, String)>, bool) {
    let comments = view[post]["comments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen: Vec<(String, String)> = comments
        .iter()
        .map(|c| {
            (
                c["content"].as_str().unwrap_or("").to_string(),
                c["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = comments.iter().filter_map(|c| c["id"].as_str()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    seen.sort();
    (seen, unique.len() != ids.len())
}

/// Adds a comment through comments (retrying the 404 of a post it has not heard of yet).
async fn comment(rehearsal: &Rehearsal, comments: &str, post: &str, content: &str) {
    let url = format!("{}/posts/{post}/comments", rehearsal.url(comments, 4001));
    let started = Instant::now();
    loop {
        let response = http()
            .post(&url)
            .json(&json!({ "content": content }))
            .send()
            .await;
        match response.map(|r| r.status().as_u16()) {
            Ok(201) => return,
            Ok(404) | Ok(503) | Err(_) if started.elapsed() < Duration::from_secs(60) => {}
            other => panic!("POST {url} gave {other:?}\n{}", rehearsal.logs(comments)),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until both query replicas show exactly `expected` for `post`, each comment once.
async fn wait_final(
    rehearsal: &Rehearsal,
    queries: &[String],
    post: &str,
    expected: &[(&str, &str)],
) {
    let mut wanted: Vec<(String, String)> = expected
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    wanted.sort();
    let started = Instant::now();
    loop {
        let mut done = true;
        for query in queries {
            let (seen, duplicated) = statuses(&query_view(rehearsal, query).await, post);
            assert!(!duplicated, "{query} shows a comment twice: {seen:?}");
            done &= seen == wanted;
        }
        if done {
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let logs: Vec<String> = queries.iter().map(|q| rehearsal.logs(q)).collect();
            panic!(
                "after 60 s the query replicas do not all show {wanted:?}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overlay_runs_the_blog_on_three_nats_nodes_and_survives_losing_one() {
    let Some(manifests) = ready().await else {
        return;
    };
    let rehearsal = Rehearsal::new();

    // The NATS StatefulSet: one container per pod, named as the cluster names it.
    let (nats_object, set) = manifests
        .stateful_sets()
        .find(|(o, _)| o.name == "nats")
        .expect("the overlay has the StatefulSet nats");
    let headless = set.spec.service_name.clone().unwrap_or_default();
    let container = &set.spec.template.spec.as_ref().unwrap().containers[0];
    let replicas = set.spec.replicas.unwrap_or(1);
    let mut nodes = Vec::new();
    for ordinal in 0..replicas {
        let pod = format!("{}-{ordinal}", nats_object.name);
        let mut rest = vec![
            "--volume".to_string(),
            format!("{}-data-{pod}:/data", rehearsal.tag),
            "--publish".into(),
            "127.0.0.1::8222".into(),
            NATS_IMAGE.into(),
        ];
        rest.extend(
            container
                .args
                .iter()
                .flatten()
                .map(|arg| arg.replace("$(POD_NAME)", &pod)),
        );
        rehearsal.run(
            &pod,
            &[format!("{pod}.{headless}"), "nats-client".into()],
            &[],
            &rest,
        );
        nodes.push(pod);
    }
    // The full /healthz: JetStream is up and the node is current with the
    // cluster's meta leader, so a quorum has formed.
    for node in &nodes {
        let url = format!("{}/healthz", rehearsal.url(node, 8222));
        wait_ok(&rehearsal, node, &url, 60).await;
    }

    // The blog: every replica of every workload, all at once.
    let pods = blog_pods(&manifests);
    for pod in &pods {
        let rest = [
            "--tmpfs".to_string(),
            "/data:uid=65532,gid=65532".into(),
            "--publish".into(),
            format!("127.0.0.1::{}", pod.port),
            image_under_test(),
            pod.service.clone(),
        ];
        rehearsal.run(&pod.pod, &[], &pod.env, &rest);
    }
    for pod in &pods {
        let url = format!("{}/readyz", rehearsal.url(&pod.pod, pod.port));
        wait_ok(&rehearsal, &pod.pod, &url, 60).await;
    }
    let find = |service: &str| -> Vec<String> {
        pods.iter()
            .filter(|p| p.service == service)
            .map(|p| p.pod.clone())
            .collect()
    };
    let (posts, comments, queries) = (&find("posts")[0], &find("comments")[0], find("query"));
    assert_eq!(queries.len(), 2, "the overlay runs 2 query replicas");
    assert_eq!(find("moderation").len(), 3, "the overlay runs 3 moderators");

    let created: Value = http()
        .post(format!("{}/posts", rehearsal.url(posts, 4000)))
        .json(&json!({ "title": "On NATS" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = created["id"].as_str().unwrap().to_string();
    comment(&rehearsal, comments, &post, "I like apples").await;
    comment(&rehearsal, comments, &post, "I hate orange juice").await;
    let mut expected = vec![
        ("I like apples", "approved"),
        ("I hate orange juice", "rejected"),
    ];
    wait_final(&rehearsal, &queries, &post, &expected).await;

    // One node stops (as `kubectl delete pod` would stop it): two of three
    // keep the quorum, and the blog carries on.
    let stopped = &nodes[0];
    docker(&["stop", "--time", "10", &rehearsal.name(stopped)]).unwrap();
    comment(&rehearsal, comments, &post, "Still here").await;
    comment(&rehearsal, comments, &post, "An orange after all").await;
    expected.extend([
        ("Still here", "approved"),
        ("An orange after all", "rejected"),
    ]);
    wait_final(&rehearsal, &queries, &post, &expected).await;
}
