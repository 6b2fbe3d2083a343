//! The checks can fail: each test breaks one thing in a copy of the
//! repository's real `k8s/` folder and expects exactly the problem a person
//! would need to see.

use std::path::Path;

use crate::load::{self, Manifests, Problem};
use crate::{hardening, ingress, network, wiring};

type Check = fn(&Manifests) -> Vec<Problem>;

const CHECKS: [(&str, Check); 14] = [
    ("kustomization", load::kustomization),
    ("selectors", wiring::selectors),
    ("ports", wiring::ports),
    ("env_urls", wiring::env_urls),
    ("service_coverage", wiring::service_coverage),
    ("ingress_backends", wiring::ingress_backends),
    ("ingress_rules", ingress::ingress_rules),
    ("routing", ingress::routing),
    ("deployments", hardening::deployments),
    ("probes", hardening::probes),
    ("security", hardening::security),
    ("pre_stop", hardening::pre_stop),
    ("cors", wiring::cors),
    ("policies", network::policies),
];

/// The real manifests (both crates sit two folders below the root).
fn real_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the repository has a k8s/ folder") {
        let path = entry.unwrap().path();
        // k8s/nats/ is chapter 10's overlay, checked on its own (nats.rs).
        if path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    files
}

fn parse(files: &[(String, String)]) -> Manifests {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Manifests::parse("k8s", &borrowed).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// Every problem of every check, as text.
fn all_problems(manifests: &Manifests) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, check) in CHECKS {
        problems.extend(check(manifests).iter().map(|p| format!("[{name}] {p}")));
    }
    problems.extend(
        hardening::data(manifests)
            .iter()
            .map(|p| format!("[data] {p}")),
    );
    problems
}

/// Replaces `from` by `to` in `file` (once, and it must be there), runs every
/// check, and returns what they found.
fn broken(file: &str, from: &str, to: &str) -> Vec<String> {
    let mut files = real_files();
    let (_, text) = files
        .iter_mut()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("k8s/{file} exists"));
    assert_eq!(
        text.matches(from).count(),
        1,
        "k8s/{file} holds {from:?} exactly once"
    );
    *text = text.replacen(from, to, 1);
    all_problems(&parse(&files))
}

fn assert_found(problems: &[String], expected: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| expected.iter().all(|e| p.contains(e))),
        "expected a problem containing {expected:?}, got:\n{problems:#?}"
    );
}

#[test]
fn the_real_manifests_have_no_problem() {
    let problems = all_problems(&parse(&real_files()));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_service_that_selects_no_pod() {
    let problems = broken(
        "query.yaml",
        "  selector:\n    app: query",
        "  selector:\n    app: query-depl",
    );
    assert_found(
        &problems,
        &[
            "[selectors] k8s/query.yaml: Service query-srv: selects the pods labelled {app=query-depl}",
        ],
    );
    // Nothing reaches the query service any more: the ingress check says so too.
    assert_found(
        &problems,
        &["[routing]", "GET http://posts.com/posts", "reaches no pod"],
    );
    assert_found(
        &problems,
        &[
            "[env_urls]",
            "SUBSCRIBERS has http://query-srv:4002: the Service query-srv selects no pod",
        ],
    );
}

#[test]
fn a_deployment_whose_selector_misses_its_own_pods() {
    let problems = broken(
        "client.yaml",
        "    matchLabels:\n      app: client",
        "    matchLabels:\n      app: web",
    );
    assert_found(
        &problems,
        &["[selectors] k8s/client.yaml: Deployment client-depl: selects {app=web}"],
    );
}

#[test]
fn a_wrong_target_port() {
    let problems = broken("comments.yaml", "targetPort: 4001", "targetPort: 4000");
    assert_found(
        &problems,
        &[
            "[ports] k8s/comments.yaml: Service comments-srv: port 4001 sends traffic to targetPort 4000, but comments-depl (the comments service) listens on 4001",
        ],
    );
}

#[test]
fn a_port_the_program_does_not_listen_on() {
    let problems = broken("moderation.yaml", "value: \"4003\"", "value: \"4004\"");
    assert_found(
        &problems,
        &[
            "[ports]",
            "moderation-depl (the moderation service) listens on 4004",
            "containerPort: 4004",
        ],
    );
    assert_found(&problems, &["[probes]", "listens on 4004"]);
}

#[test]
fn a_url_with_the_wrong_port_or_an_unknown_service() {
    let problems = broken(
        "posts.yaml",
        "http://event-bus-srv:4005",
        "http://event-bus-srv:4006",
    );
    assert_found(
        &problems,
        &[
            "[env_urls] k8s/posts.yaml: Deployment posts-depl: EVENT_BUS_URL has http://event-bus-srv:4006",
            "not 4006",
        ],
    );
    let problems = broken(
        "query.yaml",
        "http://event-bus-srv:4005",
        "http://event-bus:4005",
    );
    assert_found(
        &problems,
        &["[env_urls]", "there is no Service called event-bus"],
    );
    let problems = broken(
        "moderation.yaml",
        "http://event-bus-srv:4005",
        "http://localhost:4005",
    );
    assert_found(
        &problems,
        &["[env_urls]", "localhost inside a pod is the pod itself"],
    );
}

#[test]
fn a_subscriber_list_that_misses_a_service() {
    let problems = broken("event-bus.yaml", ",http://moderation-srv:4003", "");
    assert_found(
        &problems,
        &[
            "[env_urls]",
            "SUBSCRIBERS reaches",
            "it must reach",
            "the moderation service",
        ],
    );
}

#[test]
fn a_url_that_reaches_the_wrong_service() {
    let problems = broken(
        "comments.yaml",
        "http://event-bus-srv:4005",
        "http://query-srv:4002",
    );
    assert_found(
        &problems,
        &[
            "[env_urls]",
            "EVENT_BUS_URL reaches the query service, but it must reach the event-bus service",
        ],
    );
}

#[test]
fn a_missing_bus_url_and_a_loopback_host() {
    let problems = broken(
        "query.yaml",
        "            - name: EVENT_BUS_URL\n              value: http://event-bus-srv:4005\n",
        "            - name: HOST\n              value: 127.0.0.1\n",
    );
    assert_found(&problems, &["[env_urls]", "EVENT_BUS_URL is not set"]);
    assert_found(&problems, &["[env_urls]", "HOST is 127.0.0.1"]);
}

#[test]
fn a_browser_url_that_names_a_cluster_service() {
    let problems = broken(
        "client.yaml",
        "- name: QUERY_URL\n              value: \"\"",
        "- name: QUERY_URL\n              value: http://query-srv:4002",
    );
    assert_found(
        &problems,
        &[
            "[env_urls] k8s/client.yaml: Deployment client-depl: QUERY_URL is \"http://query-srv:4002\"",
            "BROWSER",
        ],
    );
}

#[test]
fn a_missing_ingress_path_sends_comments_to_the_query_service() {
    let path = "          - path: /posts/?(.*)/comments\n            pathType: ImplementationSpecific\n            backend:\n              service:\n                name: comments-srv\n                port:\n                  number: 4001\n";
    let problems = broken("ingress.yaml", path, "");
    assert_found(
        &problems,
        &[
            "[routing] k8s/ingress.yaml: Ingress ingress-srv: POST http://posts.com/posts/5f2c9a1e0b7d4c36/comments goes to the Service query-srv (the path /posts matches it first",
            "the comments service must answer it",
        ],
    );
}

#[test]
fn without_the_create_path_a_new_post_would_reach_the_query_service() {
    let problems = broken(
        "ingress.yaml",
        "- path: /posts/create\n",
        "- path: /posts/new\n",
    );
    assert_found(
        &problems,
        &[
            "[routing]",
            "POST http://posts.com/posts/create goes to the Service query-srv",
            "the posts service must answer it",
        ],
    );
}

#[test]
fn an_ingress_backend_that_does_not_exist() {
    let problems = broken("ingress.yaml", "name: client-srv", "name: client");
    assert_found(
        &problems,
        &[
            "[ingress_backends]",
            "the path /?(.*) goes to the Service client, which does not exist",
        ],
    );
    let problems = broken("ingress.yaml", "number: 3000", "number: 80");
    assert_found(
        &problems,
        &[
            "[ingress_backends]",
            "goes to port \"80\" of the Service client-srv, which has the ports [3000]",
        ],
    );
}

#[test]
fn an_image_that_would_be_pulled_and_args_that_name_no_service() {
    let problems = broken(
        "posts.yaml",
        "imagePullPolicy: Never",
        "imagePullPolicy: IfNotPresent",
    );
    assert_found(
        &problems,
        &["[deployments]", "imagePullPolicy is \"IfNotPresent\""],
    );
    let problems = broken("posts.yaml", "image: blog:0.1.0", "image: blog:latest");
    assert_found(
        &problems,
        &["[deployments]", "runs the image \"blog:latest\""],
    );
    let problems = broken("client.yaml", "args: [\"client\"]", "args: [\"web\"]");
    assert_found(&problems, &["[deployments]", "args are [\"web\"]"]);
    assert_found(
        &problems,
        &["[deployments]", "no Deployment runs the client service"],
    );
}

#[test]
fn a_second_query_pod_or_a_rolling_bus() {
    let problems = broken("query.yaml", "replicas: 1", "replicas: 2");
    assert_found(
        &problems,
        &[
            "[deployments]",
            "has 2 replicas",
            "each read model would miss events",
        ],
    );
    let problems = broken("event-bus.yaml", "type: Recreate", "type: RollingUpdate");
    assert_found(
        &problems,
        &["[deployments]", "strategy RollingUpdate", "same file"],
    );
}

#[test]
fn a_liveness_probe_on_readyz() {
    let problems = broken("query.yaml", "path: /healthz", "path: /readyz");
    assert_found(
        &problems,
        &[
            "[probes] k8s/query.yaml: Deployment query-depl: its livenessProbe asks for /readyz; use /healthz",
        ],
    );
}

#[test]
fn a_writable_root_and_missing_limits() {
    let problems = broken(
        "client.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    );
    assert_found(&problems, &["[security]", "readOnlyRootFilesystem: true"]);
    let problems = broken(
        "client.yaml",
        "            limits:\n              cpu: 250m\n",
        "            limits:\n",
    );
    assert_found(
        &problems,
        &["[security]", "resources.limits.cpu is missing"],
    );
}

#[test]
fn the_bus_log_on_a_volume_that_dies_with_the_pod() {
    let problems = broken(
        "event-bus.yaml",
        "          persistentVolumeClaim:\n            claimName: event-bus-data",
        "          emptyDir: {}",
    );
    assert_found(
        &problems,
        &[
            "[data] k8s/event-bus.yaml: Deployment event-bus-depl: mounts /data from the volume data, which is not a PersistentVolumeClaim",
        ],
    );
    let problems = broken(
        "posts.yaml",
        "            - name: DATA_DIR\n              value: /data\n",
        "            - name: DATA_DIR\n              value: /var/lib/posts\n",
    );
    assert_found(
        &problems,
        &[
            "[data]",
            "DATA_DIR (/var/lib/posts), but nothing is mounted there",
        ],
    );
}

#[test]
fn a_file_the_kustomization_forgets() {
    let problems = broken("Kustomization", "  - posts-srv.yaml\n", "");
    assert_found(
        &problems,
        &["[kustomization] k8s: Kustomization: does not list posts-srv.yaml"],
    );
    // The NodePort Service is gone only from -k, not from the folder, so coverage still holds.
}

#[test]
fn a_service_offered_on_another_port_than_the_catalogues() {
    let problems = broken(
        "moderation.yaml",
        "      port: 4003\n",
        "      port: 4013\n",
    );
    assert_found(
        &problems,
        &[
            "[service_coverage] k8s/moderation.yaml: Service moderation-srv: offers the moderation service on the ports [4013]",
            "port: 4003",
        ],
    );
}

#[test]
fn a_policy_that_keeps_the_bus_out_of_query() {
    let policy = "  podSelector:\n    matchLabels:\n      app: query\n  policyTypes: [\"Ingress\"]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n              app: event-bus\n";
    let without_bus = "  podSelector:\n    matchLabels:\n      app: query\n  policyTypes: [\"Ingress\"]\n  ingress:\n    - from:\n        - podSelector:\n            matchLabels:\n              app: event-bus-depl\n";
    let problems = broken("network-policies.yaml", policy, without_bus);
    assert_found(
        &problems,
        &[
            "[policies] k8s/network-policies.yaml: NetworkPolicy query-policy: the event-bus service cannot connect to port 4002 of the query service",
            "the bus delivers every event to it",
        ],
    );
    assert_found(
        &problems,
        &[
            "[policies]",
            "query-policy: lets in the pods labelled {app=event-bus-depl}, but no Deployment's pods",
        ],
    );
}

#[test]
fn a_policy_that_lets_anyone_reach_the_events_of_moderation() {
    let rule = "    - from:\n        - podSelector:\n            matchLabels:\n              app: event-bus\n      ports:\n        - protocol: TCP\n          port: 4003\n";
    let problems = broken(
        "network-policies.yaml",
        rule,
        "    - ports:\n        - protocol: TCP\n          port: 4003\n",
    );
    assert_found(
        &problems,
        &[
            "[policies] k8s/network-policies.yaml: NetworkPolicy moderation-policy: lets ",
            "any pod of another namespace and the outside world connect to port 4003 of the moderation service, but only the event-bus service should",
            "forged events on POST /events",
        ],
    );
}

#[test]
fn a_policy_for_the_wrong_port_or_pods_and_a_pod_without_one() {
    let problems = broken(
        "network-policies.yaml",
        "          port: 4005\n",
        "          port: 4006\n",
    );
    assert_found(
        &problems,
        &[
            "[policies]",
            "the posts service cannot connect to port 4005 of the event-bus service",
            "EVENT_BUS_URL",
        ],
    );
    let problems = broken(
        "network-policies.yaml",
        "  podSelector:\n    matchLabels:\n      app: client\n",
        "  podSelector:\n    matchLabels:\n      app: web\n",
    );
    assert_found(
        &problems,
        &[
            "[policies]",
            "client-policy: its podSelector {app=web} selects no pod of any Deployment",
        ],
    );
    assert_found(
        &problems,
        &[
            "[policies] k8s/client.yaml: Deployment client-depl: no NetworkPolicy selects its pods",
            "lets in only the ingress controller",
        ],
    );
}

#[test]
fn an_ingress_path_to_the_events_of_a_service() {
    let path = "          - path: /posts/create\n";
    let problems = broken(
        "ingress.yaml",
        path,
        "          - path: /events\n            pathType: ImplementationSpecific\n            backend:\n              service:\n                name: moderation-srv\n                port:\n                  number: 4003\n          - path: /posts/create\n",
    );
    assert_found(
        &problems,
        &[
            "[routing] k8s/ingress.yaml: Ingress ingress-srv: POST http://posts.com/events goes to the Service moderation-srv",
            "forged events",
        ],
    );
}

#[test]
fn cors_that_leaves_out_the_page_or_opens_the_bus() {
    let problems = broken(
        "posts.yaml",
        "value: http://posts.com",
        "value: http://posts.com/",
    );
    assert_found(
        &problems,
        &[
            "[cors]",
            "posts-depl: CORS_ORIGINS holds \"http://posts.com/\", which is not an origin",
        ],
    );
    assert_found(
        &problems,
        &[
            "[cors]",
            "posts-depl: CORS_ORIGINS is \"http://posts.com/\", which leaves out http://posts.com",
        ],
    );
    let problems = broken(
        "query.yaml",
        "            - name: CORS_ORIGINS\n              value: http://posts.com\n",
        "",
    );
    assert_found(
        &problems,
        &["[cors] k8s/query.yaml: Deployment query-depl: CORS_ORIGINS is not set"],
    );
    let problems = broken(
        "event-bus.yaml",
        "            - name: DATA_DIR\n",
        "            - name: CORS_ORIGINS\n              value: \"*\"\n            - name: DATA_DIR\n",
    );
    assert_found(
        &problems,
        &[
            "[cors]",
            "event-bus-depl: sets CORS_ORIGINS to \"*\", but the page never calls the event-bus service",
        ],
    );
}

#[test]
fn a_rolling_pod_that_stops_without_a_pause() {
    let pause = "          lifecycle:\n            preStop:\n              sleep:\n                seconds: 5\n";
    let problems = broken("moderation.yaml", pause, "");
    assert_found(
        &problems,
        &[
            "[pre_stop] k8s/moderation.yaml: Deployment moderation-depl: rolls out with RollingUpdate, but its container has no `lifecycle.preStop.sleep`",
        ],
    );
    let problems = broken(
        "client.yaml",
        pause,
        "          lifecycle:\n            preStop:\n              exec:\n                command: [\"sleep\", \"5\"]\n",
    );
    assert_found(
        &problems,
        &[
            "[pre_stop]",
            "client-depl: its preStop runs a command (exec), but the image has no shell",
        ],
    );
    let problems = broken(
        "client.yaml",
        "                seconds: 5\n",
        "                seconds: 25\n",
    );
    assert_found(
        &problems,
        &["[pre_stop]", "sleeps 25 s of its 30 s grace period"],
    );
}
