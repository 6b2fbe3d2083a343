//! The blog's Kubernetes manifests, checked without a cluster.
//!
//! Each test reads every manifest of `manifests::manifests_dir()` (the
//! exercise's own `k8s/` copy, or the repository's `k8s/` for the solution)
//! and runs one family of checks. A failure lists every problem found, each
//! naming the file and the object to fix.

use std::time::Duration;

use manifests::system::BlogService;
use manifests::{
    Manifests, Problem, hardening, ingress, load, manifests_dir, network, one_service, wiring,
};

fn manifests() -> Manifests {
    let dir = manifests_dir();
    Manifests::load(&dir).unwrap_or_else(|problems| {
        panic!(
            "the manifests in {} cannot be read:\n{}",
            dir.display(),
            list(&problems)
        )
    })
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails with every problem, one per line, under a title saying what was checked.
fn assert_none(what: &str, problems: Vec<Problem>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n{}\n",
        problems.len(),
        list(&problems)
    );
}

// ANCHOR: moderation_tests
#[test]
fn moderation_can_be_reached_by_its_service() {
    assert_none(
        "moderation (TODO 4, k8s/moderation.yaml): a Deployment that runs it, \
         and a Service moderation-srv that selects its pods on port 4003",
        one_service::reachable(&manifests(), BlogService::Moderation),
    );
}

#[test]
fn moderation_runs_probed_limited_and_locked_down() {
    assert_none(
        "moderation (TODO 5, k8s/moderation.yaml): both probes, requests and limits, \
         a locked-down security context",
        one_service::run_safely(&manifests(), BlogService::Moderation),
    );
}
// ANCHOR_END: moderation_tests

#[test]
fn every_manifest_is_read_and_kustomize_applies_the_same_files() {
    let manifests = manifests();
    assert!(
        !manifests.objects.is_empty(),
        "{} holds no manifest at all",
        manifests.folder
    );
    assert_none(
        "`kubectl apply -k` and `kubectl apply -f` must apply the same files",
        load::kustomization(&manifests),
    );
}

#[test]
fn every_service_selects_the_pods_of_one_deployment() {
    assert_none(
        "Services must select pods (spec.selector = a Deployment's spec.template.metadata.labels)",
        wiring::selectors(&manifests()),
    );
}

#[test]
fn ports_line_up_from_service_to_container_to_program() {
    assert_none(
        "a Service's targetPort must be the containerPort the program listens on",
        wiring::ports(&manifests()),
    );
}

#[test]
fn urls_in_the_environment_name_real_services_and_ports() {
    assert_none(
        "every URL a service is given must name a Service and one of its ports",
        wiring::env_urls(&manifests()),
    );
}

#[test]
fn every_service_of_the_blog_can_be_reached() {
    assert_none(
        "each service needs a ClusterIP Service; posts also a NodePort",
        wiring::service_coverage(&manifests()),
    );
}

#[test]
fn every_ingress_backend_is_a_real_service_and_port() {
    let manifests = manifests();
    assert_none(
        "the ingress must be for ingress-nginx and posts.com",
        ingress::ingress_rules(&manifests),
    );
    assert_none(
        "every backend of the ingress must exist",
        wiring::ingress_backends(&manifests),
    );
}

#[test]
fn the_ingress_sends_each_call_of_the_page_to_the_right_service() {
    assert_none(
        "each request the page makes to http://posts.com must reach the service that answers it",
        ingress::routing(&manifests()),
    );
}

#[test]
fn each_service_runs_once_from_the_built_image() {
    assert_none(
        "one Deployment per service, with the image blog:0.1.0 (never pulled) and the service as its argument",
        hardening::deployments(&manifests()),
    );
}

#[test]
fn probes_ask_healthz_and_readyz() {
    assert_none(
        "liveness on /healthz, readiness on /readyz",
        hardening::probes(&manifests()),
    );
}

#[test]
fn pods_run_locked_down_with_resources() {
    assert_none(
        "every container: non-root, read-only root file system, no privileges; requests and limits",
        hardening::security(&manifests()),
    );
}

#[test]
fn data_lives_on_persistent_volumes() {
    assert_none(
        "posts, comments and the event bus need a PersistentVolumeClaim at DATA_DIR",
        hardening::data(&manifests()),
    );
}

#[test]
fn only_the_bus_delivers_events_and_only_the_services_reach_the_bus() {
    assert_none(
        "NetworkPolicies must let in exactly who needs each service (the bus, its callers, the ingress)",
        network::policies(&manifests()),
    );
}

#[test]
fn the_page_origin_is_allowed_where_the_page_calls() {
    assert_none(
        "CORS_ORIGINS: http://posts.com on the services the page calls, nothing elsewhere",
        wiring::cors(&manifests()),
    );
}

#[test]
fn rolling_pods_pause_before_they_stop() {
    assert_none(
        "a Deployment that rolls must pause in preStop, so no request meets a stopped pod",
        hardening::pre_stop(&manifests()),
    );
}

/// The probe paths are asked of the real thing: every service is built on
/// blog-runtime's common layers, which serve `/healthz` and `/readyz`.
#[tokio::test]
async fn the_services_answer_the_probe_paths() {
    let router =
        blog_runtime::with_common_layers(axum::Router::new(), blog_runtime::Readiness::ready());
    let server = blog_runtime::Server::start("127.0.0.1:0".parse().unwrap(), router)
        .await
        .expect("the runtime starts on a free port");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let paths = hardening::probe_paths(&manifests());
    assert!(!paths.is_empty(), "no probe in any Deployment");
    let mut problems = Vec::new();
    for (place, path) in paths {
        let status = client
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if status.as_ref().ok() != Some(&200) {
            problems.push(format!(
                "  - {place}: GET {path} answers {status:?}, so the probe would fail"
            ));
        }
    }
    server.stop().await;
    assert!(
        problems.is_empty(),
        "probe paths the services do not answer with 200:\n{}",
        problems.join("\n")
    );
}
