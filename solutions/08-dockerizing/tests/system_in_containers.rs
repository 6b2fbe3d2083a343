//! The whole blog from its image: six containers of `blog:0.1.0` on a Docker
//! network of their own, where each finds the others by service name, the
//! same scenario as the process end-to-end test (solutions/blog/tests/
//! system.rs), then `docker stop` on each, timed, and the bus's log kept
//! across a new container through a volume.
//!
//! The test talks to the services only through ports published on
//! 127.0.0.1. It builds and runs the reference image; `BLOG_IMAGE=blog:mine`
//! runs yours instead, as `cargo workbook image --mine` built it. Needs a Docker engine: without one it says SKIPPED and
//! returns, unless REQUIRE_DOCKER=1.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use blog_catalogue::Service;
use blog_testkit::eventually;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use serde_json::{Value, json};

/// The image the test builds, unless `BLOG_IMAGE` names another one.
const IMAGE: &str = "blog:0.1.0";

/// The image under test: `BLOG_IMAGE` (already built), or the reference.
fn image() -> String {
    std::env::var("BLOG_IMAGE").unwrap_or_else(|_| IMAGE.to_string())
}

/// The environment of each service: where the others are, by name. Each
/// container answers to its service's name (from the catalogue) on the
/// network, on the service's default port; the browser's links stay unset.
fn env_for(service: Service) -> Vec<String> {
    service
        .links()
        .iter()
        .filter(|link| !link.from_browser)
        .map(|link| {
            let urls: Vec<String> = link
                .to
                .iter()
                .map(|to| format!("http://{to}:{}", to.default_port()))
                .collect();
            format!("{}={}", link.variable, urls.join(","))
        })
        .collect()
}

/// The network, the bus's volume and the containers of one test run; all
/// removed when it ends, pass or fail.
struct Deployment {
    docker: Docker,
    prefix: String,
    ids: HashMap<Service, String>,
    urls: HashMap<Service, String>,
}

impl Deployment {
    fn network(&self) -> String {
        format!("{}-net", self.prefix)
    }

    fn volume(&self) -> String {
        format!("{}-bus-data", self.prefix)
    }

    async fn new(docker: Docker) -> Deployment {
        let prefix = format!("blog-e2e-{}", std::process::id());
        let deployment = Deployment {
            docker,
            prefix,
            ids: HashMap::new(),
            urls: HashMap::new(),
        };
        deployment
            .docker
            .create_network(NetworkCreateRequest {
                name: deployment.network(),
                driver: Some("bridge".to_string()),
                ..Default::default()
            })
            .await
            .expect("creating the network");
        deployment
    }

    /// `docker run -d --network NET --network-alias SERVICE -p 127.0.0.1::PORT
    /// [-v VOLUME:/data] blog:0.1.0 SERVICE`, then waits for `/healthz`.
    async fn start(&mut self, service: Service) {
        let port = service.default_port();
        let name = format!("{}-{service}", self.prefix);
        let body = ContainerCreateBody {
            image: Some(image()),
            cmd: Some(vec![service.to_string()]),
            env: Some(env_for(service)),
            exposed_ports: Some(vec![format!("{port}/tcp")]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    format!("{port}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_string()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                // The bus keeps its log on a named volume, which outlives the container.
                binds: (service == Service::EventBus)
                    .then(|| vec![format!("{}:/data", self.volume())]),
                network_mode: Some(self.network()),
                ..Default::default()
            }),
            // On its network, the container answers to the service's name.
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network(),
                    EndpointSettings {
                        aliases: Some(vec![service.to_string()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = self
            .docker
            .create_container(Some(options), body)
            .await
            .unwrap_or_else(|e| panic!("creating {name}: {e}"))
            .id;
        self.docker
            .start_container(&id, None)
            .await
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let inspected = self.docker.inspect_container(&id, None).await.unwrap();
        let host_port = inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().next())
            .and_then(|b| b.host_port)
            .unwrap_or_else(|| panic!("{name} has no published port"));
        let url = format!("http://127.0.0.1:{host_port}");
        let healthy = eventually(Duration::from_secs(30), async || {
            let answer = client().get(format!("{url}/healthz")).send().await;
            answer.is_ok_and(|response| response.status().is_success())
        })
        .await;
        assert!(healthy, "{service} did not answer /healthz within 30 s");
        self.ids.insert(service, id);
        self.urls.insert(service, url);
    }

    fn url(&self, service: Service) -> &str {
        &self.urls[&service]
    }

    /// `docker stop --time 10`, timed; returns how long it took and the exit code.
    async fn stop(&self, service: Service) -> (Duration, i64) {
        let id = &self.ids[&service];
        let stopped = dockerizing::stop_timed(&self.docker, id, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("stopping {service}: {e:#}"));
        (stopped.took, stopped.exit_code)
    }

    /// Removes one service's container (its volume stays).
    async fn remove(&mut self, service: Service) {
        if let Some(id) = self.ids.remove(&service) {
            let force = RemoveContainerOptionsBuilder::default().force(true).build();
            self.docker.remove_container(&id, Some(force)).await.ok();
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let ids: Vec<String> = self.ids.values().cloned().collect();
        let (network, volume) = (self.network(), self.volume());
        // Drop cannot await: clean up on a small runtime (and connection) of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(docker) = dockerizing::docker().await else {
                    return;
                };
                for id in ids {
                    let force = RemoveContainerOptionsBuilder::default().force(true).build();
                    docker.remove_container(&id, Some(force)).await.ok();
                }
                docker.remove_network(&network).await.ok();
                let force = RemoveVolumeOptionsBuilder::default().force(true).build();
                docker.remove_volume(&volume, Some(force)).await.ok();
            });
        })
        .join();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(url: String) -> Value {
    let response = client().get(&url).send().await.unwrap();
    response.json().await.unwrap()
}

/// Comments only accepts comments for posts it has heard of (through the
/// bus), so right after creating a post we may have to try again briefly.
async fn create_comment(comments: &str, post: &str, content: &str) -> String {
    let url = format!("{comments}/posts/{post}/comments");
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
            let mine = body
                .as_array()
                .and_then(|list| list.iter().rev().find(|c| c["content"] == content))
                .expect("the new comment is in the answer");
            return mine["id"].as_str().unwrap().to_string();
        }
        assert_eq!(status, 404, "POST {url} answered {status}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "comments never learned about post {post}"
        );
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

#[tokio::test(flavor = "multi_thread")]
async fn the_blog_runs_from_its_image_stops_in_time_and_the_bus_keeps_its_log_on_a_volume() {
    let Some(docker) = blog_testkit::docker::engine().await else {
        return;
    };
    if std::env::var_os("BLOG_IMAGE").is_none() {
        let _log = dockerizing::build(&dockerizing::repo_root().join("Dockerfile"), IMAGE)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
    // Whose services run: `cargo workbook image --mine` labels its image.
    let inspected = docker.inspect_image(&image()).await.unwrap_or_else(|e| {
        panic!(
            "no image {}: `cargo workbook image --mine` builds it ({e})",
            image()
        )
    });
    let yours = inspected
        .config
        .and_then(|config| config.labels)
        .and_then(|labels| labels.get("org.workbook.mine").cloned())
        .filter(|services| !services.is_empty());
    let _ = writeln!(
        std::io::stderr(),
        "the blog from {}: {}",
        image(),
        yours.map_or("every service the reference".to_string(), |services| {
            format!("yours: {services}; the reference: the rest")
        })
    );
    let mut blog = Deployment::new(docker).await;
    for service in Service::ALL {
        blog.start(service).await;
    }

    // The same story as with processes: a post, two comments, moderation.
    let created: Value = client()
        .post(format!("{}/posts/create", blog.url(Service::Posts)))
        .json(&json!({ "title": "Fruit, in containers" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = created["id"]
        .as_str()
        .expect("posts answers an id")
        .to_string();
    let nice = create_comment(blog.url(Service::Comments), &post, "I like apples").await;
    let bad = create_comment(blog.url(Service::Comments), &post, "I hate orange juice").await;

    let mut posts = Value::Null;
    let moderated = eventually(Duration::from_secs(30), async || {
        posts = get_json(format!("{}/posts", blog.url(Service::Query))).await;
        status_of(&posts, &post, &nice).as_deref() == Some("approved")
            && status_of(&posts, &post, &bad).as_deref() == Some("rejected")
    })
    .await;
    assert!(
        moderated,
        "after 30 s the query service still does not show both comments moderated: {posts}"
    );
    assert_eq!(posts[&post]["title"], "Fruit, in containers");
    assert_eq!(
        posts[&post]["comments"].as_array().unwrap().len(),
        2,
        "{posts}"
    );
    let page = client()
        .get(blog.url(Service::Client))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the client serves its page");

    let log_before = get_json(format!("{}/events", blog.url(Service::EventBus))).await;
    let events = log_before.as_array().map(Vec::len).unwrap_or(0);
    assert!(
        events >= 7,
        "the bus logged every event (1 post, 2 comments, 2 decisions, 2 updates): {log_before}"
    );

    // docker stop on each: SIGTERM, and every service is gone well within 2 s.
    for service in Service::ALL.into_iter().rev() {
        let (took, exit_code) = blog.stop(service).await;
        assert_eq!(
            exit_code, 0,
            "{service} must exit 0 on SIGTERM (it took {took:?})"
        );
        assert!(
            took < Duration::from_secs(2),
            "docker stop on {service} took {took:?}; it must stop within 2 s"
        );
    }

    // A brand-new bus container on the same volume has the whole log.
    blog.remove(Service::EventBus).await;
    blog.start(Service::EventBus).await;
    let log_after = get_json(format!("{}/events", blog.url(Service::EventBus))).await;
    assert_eq!(
        log_after, log_before,
        "the bus's log lives on the volume, so a new container must serve the same events"
    );
}
