//! The rehearsal: the real image, run the way the manifests say, on a Docker
//! network instead of a cluster.
//!
//! Each Deployment becomes one container of `blog:0.1.0` with its args, its
//! env, its security context, its memory and CPU limits and its volumes (a
//! PersistentVolumeClaim becomes a named Docker volume). Each Service that
//! selects it becomes a network alias, so `http://event-bus-srv:4005` works
//! inside the network exactly as the cluster's DNS would make it work. The
//! test itself plays the ingress: it sends each request of the page to the
//! container the ingress-nginx emulation picks, through a port published on
//! 127.0.0.1 only.
//!
//! It needs a Docker engine and the image (`docker build -t blog:0.1.0 .`).
//! `BLOG_IMAGE=blog:mine` rehearses yours instead (`cargo workbook image
//! --mine`), under the manifests' name, as `cargo workbook deploy --mine`
//! runs it on minikube.
//! Without them it prints a loud SKIPPED and passes, unless `REQUIRE_DOCKER=1`
//! (CI sets it after building the image): then it fails.

mod docker_cli;
use docker_cli::{docker, image_under_test};

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use blog_testkit::skip_unless_required;
use manifests::hardening::quantity;
use manifests::ingress::Router;
use manifests::pods::Pod;
use manifests::system::{HOST, IMAGE};
use manifests::{Manifests, manifests_dir, wiring};
use serde_json::{Value, json};

/// `true` when the rehearsal can run: a Docker engine answers (the test
/// kit's gate), the `docker` command that drives it is installed, and the
/// image is built. Otherwise SKIPPED, or a failure under `REQUIRE_DOCKER=1`.
async fn docker_ready() -> bool {
    let Some(engine) = blog_testkit::docker::engine().await else {
        return false;
    };
    let image = image_under_test();
    let missing = if let Err(error) = docker(&["version", "--format", "{{.Client.Version}}"]) {
        format!("the Kubernetes rehearsal drives Docker with the `docker` command: {error}")
    } else {
        match engine.inspect_image(&image).await {
            Err(_) if image == IMAGE => format!(
                "the Kubernetes rehearsal needs the image {IMAGE}: build it with `docker build -t {IMAGE} .`"
            ),
            Err(_) => format!(
                "the Kubernetes rehearsal needs the image {image}: build it with `cargo workbook image --mine`"
            ),
            Ok(inspected) => {
                // Whose services it runs: `cargo workbook image --mine` labels its image.
                let yours = inspected
                    .config
                    .and_then(|config| config.labels)
                    .and_then(|labels| labels.get("org.workbook.mine").cloned())
                    .filter(|services| !services.is_empty());
                let whose = yours.map_or("every service the reference".to_string(), |services| {
                    format!("yours: {services}; the reference: the rest")
                });
                let _ = writeln!(std::io::stderr(), "rehearsing with {image}: {whose}");
                return true;
            }
        }
    };
    skip_unless_required("REQUIRE_DOCKER", &missing);
    false
}

/// How one Deployment runs as a container.
#[derive(Clone, Debug)]
struct Plan {
    deployment: String,
    /// The Services that select it: its names on the network.
    aliases: Vec<String>,
    /// The port its program listens on (published on 127.0.0.1 for the test).
    port: i32,
    args: Vec<String>,
}

/// Everything this test made, removed when it ends, pass or fail.
struct Rehearsal {
    tag: String,
    network: String,
    manifests: Manifests,
    plans: Vec<Plan>,
}

impl Rehearsal {
    fn new(manifests: Manifests) -> Rehearsal {
        let tag = format!("k8s-rehearsal-{}", std::process::id());
        let network = format!("{tag}-net");
        let (pods, problems) = Pod::all(&manifests);
        assert!(problems.is_empty(), "{problems:?}");
        let mut plans = Vec::new();
        for pod in &pods {
            let mut aliases = Vec::new();
            for (object, service) in manifests.services() {
                if !wiring::selected(service, &pods)
                    .iter()
                    .any(|p| p.object.name == pod.object.name)
                {
                    continue;
                }
                // A network alias cannot translate ports: a Service must use the pod's port.
                for port in service
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.clone())
                    .unwrap_or_default()
                {
                    let target = port
                        .target_port
                        .as_ref()
                        .and_then(|t| pod.resolve_port(t))
                        .unwrap_or(port.port);
                    assert_eq!(
                        port.port,
                        target,
                        "{}: the rehearsal needs port = targetPort (Docker cannot remap a port behind a name)",
                        object.describe()
                    );
                }
                aliases.push(object.name.clone());
            }
            plans.push(Plan {
                deployment: pod.object.name.clone(),
                aliases,
                port: pod.listen_port().expect("the manifests checks passed"),
                args: pod.container.args.clone().unwrap_or_default(),
            });
        }
        drop(pods);
        let rehearsal = Rehearsal {
            tag,
            network,
            manifests,
            plans,
        };
        rehearsal.clean();
        docker(&["network", "create", &rehearsal.network]).unwrap();
        rehearsal
    }

    fn container(&self, deployment: &str) -> String {
        format!("{}-{deployment}", self.tag)
    }

    /// `docker run` for one Deployment, from what its manifest says.
    fn start(&self, deployment: &str) {
        let plan = self
            .plans
            .iter()
            .find(|p| p.deployment == deployment)
            .unwrap();
        let (pods, _) = Pod::all(&self.manifests);
        let pod = pods.iter().find(|p| p.object.name == deployment).unwrap();
        let name = self.container(deployment);
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("org.workbook.test={}", self.tag),
            "--network".into(),
            self.network.clone(),
            "--publish".into(),
            format!("127.0.0.1::{}", plan.port),
        ];
        for alias in &plan.aliases {
            args.extend(["--network-alias".into(), alias.clone()]);
        }
        for var in pod.container.env.iter().flatten() {
            args.extend([
                "--env".into(),
                format!("{}={}", var.name, var.value.clone().unwrap_or_default()),
            ]);
        }
        // The security context.
        let pod_security = pod.spec.security_context.as_ref();
        let security = pod.container.security_context.as_ref();
        let user = security
            .and_then(|s| s.run_as_user)
            .or(pod_security.and_then(|s| s.run_as_user));
        let group = security
            .and_then(|s| s.run_as_group)
            .or(pod_security.and_then(|s| s.run_as_group));
        if let Some(user) = user {
            args.extend(["--user".into(), format!("{user}:{}", group.unwrap_or(user))]);
        }
        if security.and_then(|s| s.read_only_root_filesystem) == Some(true) {
            args.push("--read-only".into());
        }
        if security.and_then(|s| s.allow_privilege_escalation) == Some(false) {
            args.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        for capability in security
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.drop.clone())
            .unwrap_or_default()
        {
            args.extend(["--cap-drop".into(), capability]);
        }
        // The limits: a container that outgrows its memory limit is killed, as in the cluster.
        let limits = pod
            .container
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        if let Some(bytes) = limits.get("memory").and_then(|q| quantity("memory", &q.0)) {
            args.extend(["--memory".into(), format!("{}", bytes as u64)]);
        }
        if let Some(cores) = limits.get("cpu").and_then(|q| quantity("cpu", &q.0)) {
            args.extend(["--cpus".into(), format!("{cores}")]);
        }
        // Volumes: a claim is a named volume that outlives the container; an emptyDir is a tmpfs.
        let volumes = pod.spec.volumes.clone().unwrap_or_default();
        for mount in pod.container.volume_mounts.iter().flatten() {
            let volume = volumes
                .iter()
                .find(|v| v.name == mount.name)
                .expect("checked by the manifests");
            if let Some(claim) = &volume.persistent_volume_claim {
                args.extend([
                    "--volume".into(),
                    format!("{}-{}:{}", self.tag, claim.claim_name, mount.mount_path),
                ]);
            } else if volume.empty_dir.is_some() {
                args.extend([
                    "--tmpfs".into(),
                    format!(
                        "{}:uid={},gid={}",
                        mount.mount_path,
                        user.unwrap_or(0),
                        group.or(user).unwrap_or(0)
                    ),
                ]);
            }
        }
        let image = pod.container.image.clone().unwrap_or_default();
        args.push(if image == IMAGE {
            image_under_test()
        } else {
            image
        });
        args.extend(plan.args.iter().cloned());
        let borrowed: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&borrowed).unwrap_or_else(|error| panic!("starting {deployment}: {error}"));
    }

    /// Where the test reaches a Deployment's port (`http://127.0.0.1:PORT`).
    fn url(&self, deployment: &str) -> String {
        let plan = self
            .plans
            .iter()
            .find(|p| p.deployment == deployment)
            .unwrap();
        let published = docker(&[
            "port",
            &self.container(deployment),
            &format!("{}/tcp", plan.port),
        ])
        .unwrap_or_else(|error| panic!("{deployment} has no published port: {error}"));
        let address = published.lines().next().unwrap_or_default().to_string();
        format!("http://{address}")
    }

    /// The Deployment behind the Service the ingress picks for `path`.
    fn via_ingress(&self, path: &str) -> String {
        let router = Router::for_host(&self.manifests, HOST).expect("the manifests checks passed");
        let location = router
            .route(path)
            .unwrap_or_else(|| panic!("the ingress routes no path for {path}"));
        let service = &location.service;
        let plan = self
            .plans
            .iter()
            .find(|p| p.aliases.contains(service))
            .unwrap_or_else(|| panic!("no container answers to the Service {service}"));
        self.url(&plan.deployment)
    }

    fn logs(&self, deployment: &str) -> String {
        let output = Command::new("docker")
            .args(["logs", "--tail", "30", &self.container(deployment)])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default();
        format!("--- last lines of {deployment}'s log ---\n{output}")
    }

    /// Polls `GET /readyz` like a readiness probe, for at most 60 s.
    async fn wait_ready(&self, deployment: &str) {
        let client = http();
        let started = Instant::now();
        loop {
            let running = docker(&[
                "inspect",
                "--format",
                "{{.State.Running}}",
                &self.container(deployment),
            ]);
            if running.as_deref() == Ok("false") {
                panic!(
                    "{deployment} stopped during start-up\n{}",
                    self.logs(deployment)
                );
            }
            let url = format!("{}/readyz", self.url(deployment));
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!(
                    "{deployment} was not ready (GET /readyz) within 60 s\n{}",
                    self.logs(deployment)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn remove(&self, deployment: &str) {
        let _ = docker(&["rm", "--force", &self.container(deployment)]);
    }

    fn clean(&self) {
        let filter = format!("label=org.workbook.test={}", self.tag);
        if let Ok(ids) = docker(&["ps", "--all", "--quiet", "--filter", &filter]) {
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = docker(&["rm", "--force", id]);
            }
        }
        let _ = docker(&["network", "rm", &self.network]);
        for (claim, _) in self.manifests.claims() {
            let _ = docker(&[
                "volume",
                "rm",
                "--force",
                &format!("{}-{}", self.tag, claim.name),
            ]);
        }
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        self.clean();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} ({status}): {e}"));
    assert_eq!(status, 200, "GET {url} answered {status}: {body}");
    body
}

fn status_of(posts: &Value, post: &str, content: &str) -> Option<String> {
    posts[post]["comments"]
        .as_array()?
        .iter()
        .find(|c| c["content"] == content)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

/// Polls what the page would show (GET http://posts.com/posts) until `check` holds, for at most 30 s.
async fn wait_for_page(rehearsal: &Rehearsal, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let posts = get_json(&format!("{}/posts", rehearsal.via_ingress("/posts"))).await;
        if check(&posts) {
            return posts;
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!(
                "after 30 s GET http://{HOST}/posts still does not show {what}: {posts}\n{}\n{}",
                rehearsal.logs("event-bus-depl"),
                rehearsal.logs("query-depl")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_run_the_blog_end_to_end_on_a_docker_network() {
    if !docker_ready().await {
        return;
    }
    let manifests = Manifests::load(&manifests_dir()).unwrap_or_else(|p| panic!("{p:#?}"));
    let rehearsal = Rehearsal::new(manifests);
    let deployments: Vec<String> = rehearsal
        .plans
        .iter()
        .map(|p| p.deployment.clone())
        .collect();
    // Like `kubectl apply`: everything at once, in no particular order.
    for deployment in &deployments {
        rehearsal.start(deployment);
    }
    for deployment in &deployments {
        rehearsal.wait_ready(deployment).await;
    }

    // The page, and its config: the browser must call its own origin.
    let page = http()
        .get(format!("{}/", rehearsal.via_ingress("/")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "GET http://{HOST}/");
    let config = http()
        .get(format!("{}/config.js", rehearsal.via_ingress("/config.js")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        config.contains(r#""postsUrl":"""#),
        "the page must call posts.com itself: {config}"
    );

    // A post, through the path the ingress sends to posts.
    let created = http()
        .post(format!(
            "{}/posts/create",
            rehearsal.via_ingress("/posts/create")
        ))
        .json(&json!({ "title": "Deployed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "POST http://{HOST}/posts/create");
    let post = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Two comments. Comments learns about the post from the bus (posts ->
    // event-bus-srv -> comments-srv), so it may answer 404 for a moment.
    let path = format!("/posts/{post}/comments");
    for content in ["I like apples", "I hate orange juice"] {
        let started = Instant::now();
        loop {
            let response = http()
                .post(format!("{}{path}", rehearsal.via_ingress(&path)))
                .json(&json!({ "content": content }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            if status == 201 {
                break;
            }
            assert_eq!(status, 404, "POST http://{HOST}{path} answered {status}");
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "comments never heard of the post through the bus\n{}\n{}",
                rehearsal.logs("posts-depl"),
                rehearsal.logs("event-bus-depl")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Moderated and back: comments -> bus -> moderation -> bus -> comments -> bus -> query.
    let moderated = |posts: &Value| {
        status_of(posts, &post, "I like apples").as_deref() == Some("approved")
            && status_of(posts, &post, "I hate orange juice").as_deref() == Some("rejected")
    };
    wait_for_page(&rehearsal, "both comments moderated", moderated).await;

    // A new bus pod on the same claim keeps the log, and a new query pod
    // rebuilds its read model from it before it reports ready.
    rehearsal.remove("event-bus-depl");
    rehearsal.remove("query-depl");
    rehearsal.start("event-bus-depl");
    rehearsal.start("query-depl");
    rehearsal.wait_ready("event-bus-depl").await;
    rehearsal.wait_ready("query-depl").await;
    let posts = get_json(&format!("{}/posts", rehearsal.via_ingress("/posts"))).await;
    assert!(
        moderated(&posts),
        "once ready, the new query pod must show everything from the bus's log: {posts}"
    );

    // Kubernetes stops a pod with SIGTERM: every service must exit cleanly (code 0).
    for deployment in &deployments {
        let container = rehearsal.container(deployment);
        docker(&["stop", "--time", "10", &container]).unwrap();
        let code = docker(&["inspect", "--format", "{{.State.ExitCode}}", &container]).unwrap();
        assert_eq!(
            code,
            "0",
            "{deployment} did not exit cleanly on SIGTERM\n{}",
            rehearsal.logs(deployment)
        );
    }
}
