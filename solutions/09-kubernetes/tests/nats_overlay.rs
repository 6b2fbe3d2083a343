//! Chapter 10's overlay, `k8s/nats/`: the blog on a NATS JetStream cluster.
//!
//! The overlay is read as `kubectl kustomize k8s/nats` renders it (its
//! patches alone are fragments), so these tests need kubectl: without it
//! they say SKIPPED, and with `REQUIRE_KUBECTL=1` (CI) they fail instead.
//! Every check is run on the real overlay, where it must find nothing, and
//! on a copy broken the way it is meant to catch, where it must.

use std::path::Path;

use manifests::{Manifests, Problem, manifests_dir, nats};

/// The rendered overlay, or `None` (the test is skipped) without kubectl.
fn rendered() -> Option<String> {
    match nats::render(&nats::overlay_dir()) {
        Ok(text) => Some(text),
        Err(error) if std::env::var_os("REQUIRE_KUBECTL").is_some() => {
            panic!("REQUIRE_KUBECTL is set, but {error}")
        }
        Err(error) if error.starts_with("cannot run") => {
            eprintln!("SKIPPED: {error} (install kubectl to check k8s/nats)");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

fn parse(text: &str) -> Manifests {
    nats::parse_rendered(text).unwrap_or_else(|problems| panic!("{}", list(&problems)))
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    lines.join("\n")
}

/// Every check of the overlay, as CI runs them.
fn all(manifests: &Manifests) -> Vec<Problem> {
    let mut problems = Vec::new();
    problems.extend(nats::routes(manifests));
    problems.extend(nats::headless(manifests));
    problems.extend(nats::stream_replicas(manifests));
    problems.extend(nats::bus_urls(manifests));
    problems.extend(nats::query_replicas(manifests));
    problems.extend(nats::nodes(manifests));
    problems.extend(nats::node_policy(manifests));
    problems.extend(nats::generic(manifests));
    problems
}

/// The rendered overlay with `from` replaced by `to` (exactly once), and
/// what `check` finds in it, which must include `expected`.
fn broken(text: &str, from: &str, to: &str, check: fn(&Manifests) -> Vec<Problem>, expected: &str) {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the rendered overlay should hold {from:?} exactly once"
    );
    let problems = check(&parse(&text.replacen(from, to, 1)));
    assert!(
        problems.iter().any(|p| p.to_string().contains(expected)),
        "after replacing {from:?} with {to:?}, expected a problem containing {expected:?}, found:\n{}",
        list(&problems)
    );
}

#[test]
fn the_overlay_passes_every_check() {
    let Some(text) = rendered() else { return };
    let manifests = parse(&text);
    let problems = all(&manifests);
    assert!(problems.is_empty(), "k8s/nats:\n{}", list(&problems));
    let kinds: Vec<String> = manifests
        .stateful_sets()
        .map(|(o, _)| o.describe())
        .collect();
    assert_eq!(kinds, ["StatefulSet nats", "StatefulSet query"]);
    assert!(
        manifests
            .deployments()
            .all(|(o, _)| o.name != "event-bus-depl"),
        "the overlay must not deploy the HTTP bus"
    );
}

#[test]
fn a_route_to_a_pod_that_never_exists_is_found() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "nats://nats-2.nats:6222",
        "nats://nats-3.nats:6222",
        nats::routes,
        "names nats-3, but with 3 replicas the pods are nats-0 to nats-2",
    );
    broken(
        &text,
        "nats://nats-2.nats:6222",
        "nats://nats-2.nats-client:6222",
        nats::routes,
        "but its pods' DNS names are under its headless Service nats",
    );
    broken(
        &text,
        "nats://nats-2.nats:6222",
        "nats://nats-2.nats:4222",
        nats::routes,
        "uses port \"4222\", but the nodes listen for routes on 6222",
    );
    broken(
        &text,
        ",nats://nats-2.nats:6222",
        "",
        nats::routes,
        "its --routes never name nats-2",
    );
}

#[test]
fn a_headless_service_that_is_not_or_hides_unready_pods_is_found() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "  clusterIP: None\n",
        "",
        nats::headless,
        "Service nats: is the StatefulSet's serviceName but not headless",
    );
    broken(
        &text,
        "publishNotReadyAddresses: true",
        "publishNotReadyAddresses: false",
        nats::headless,
        "set `publishNotReadyAddresses: true`",
    );
    broken(
        &text,
        "  serviceName: nats\n",
        "  serviceName: nats-routes\n",
        nats::headless,
        "names the Service nats-routes (serviceName), which does not exist",
    );
}

#[test]
fn a_stream_replicated_more_or_less_than_the_nodes_is_found() {
    let Some(text) = rendered() else { return };
    // The nodes' replica count, then a service's stream replication.
    let nodes = "  replicas: 3\n  selector:\n    matchLabels:\n      app: nats\n";
    broken(
        &text,
        nodes,
        &nodes.replace("replicas: 3", "replicas: 5"),
        nats::stream_replicas,
        "the stream has NATS_STREAM_REPLICAS=3 (default 3), but the StatefulSet nats runs 5 NATS nodes",
    );
    let text_with_one = text.replacen(
        "- name: NATS_STREAM_REPLICAS\n          value: \"3\"",
        "- name: NATS_STREAM_REPLICAS\n          value: \"1\"",
        1,
    );
    let problems = nats::stream_replicas(&parse(&text_with_one));
    assert!(
        problems.iter().any(|p| p
            .message
            .contains("NATS_STREAM_REPLICAS=1 (default 3), but the StatefulSet nats runs 3")),
        "{}",
        list(&problems)
    );
}

#[test]
fn a_bus_url_that_misses_the_client_service_is_found() {
    let Some(text) = rendered() else { return };
    let first = "value: nats://nats-client:4222";
    let once = |to: &str| text.replacen(first, to, 1);
    let expect = |text: String, expected: &str| {
        let problems = nats::bus_urls(&parse(&text));
        assert!(
            problems.iter().any(|p| p.to_string().contains(expected)),
            "expected {expected:?}, found:\n{}",
            list(&problems)
        );
    };
    expect(
        once("value: nats://nats-clients:4222"),
        "has nats://nats-clients:4222, but there is no Service nats-clients",
    );
    expect(
        once("value: nats://nats-client:6222"),
        "the Service nats-client has no port 6222",
    );
    expect(
        once("value: nats://nats:6222"),
        "which is the headless Service",
    );
    expect(
        once("value: http://event-bus-srv:4005"),
        "on this overlay there is no HTTP bus",
    );
}

#[test]
fn query_replicas_sharing_one_consumer_are_found() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "          valueFrom:\n            fieldRef:\n              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']\n",
        "          value: \"0\"\n",
        nats::query_replicas,
        "StatefulSet query: runs 2 query replicas, which would share one consumer (query-0)",
    );
}

#[test]
fn a_node_without_its_own_volume_or_with_a_liveness_probe_on_the_quorum_is_found() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "- --store_dir=/data",
        "- --store_dir=/store",
        nats::nodes,
        "keeps its store in /store, where no volume is mounted",
    );
    broken(
        &text,
        "livenessProbe:\n          failureThreshold: 3\n          httpGet:\n            path: /healthz?js-enabled-only=true",
        "livenessProbe:\n          failureThreshold: 3\n          httpGet:\n            path: /healthz",
        nats::nodes,
        "its livenessProbe asks the full /healthz",
    );
    broken(
        &text,
        "/healthz?js-enabled-only=true\n            port: monitor\n          periodSeconds: 5",
        "/healthz?js-enabled-only=true\n            port: client\n          periodSeconds: 5",
        nats::nodes,
        "its readinessProbe asks a port other than the monitoring port 8222",
    );
    broken(
        &text,
        "  replicas: 3\n  selector:\n    matchLabels:\n      app: nats\n",
        "  replicas: 2\n  selector:\n    matchLabels:\n      app: nats\n",
        nats::nodes,
        "runs 2 nodes: a quorum of an even number",
    );
}

#[test]
fn a_node_policy_that_cuts_the_routes_or_the_services_off_is_found() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "    - port: 6222\n      protocol: TCP\n",
        "    - port: 6223\n      protocol: TCP\n",
        nats::node_policy,
        "does not let the nodes reach each other on 6222",
    );
    broken(
        &text,
        "    - podSelector:\n        matchLabels:\n          app: moderation\n    ports:\n    - port: 4222",
        "    ports:\n    - port: 4222",
        nats::node_policy,
        "does not let moderation-depl (the moderation service) reach the client port 4222",
    );
}

#[test]
fn the_checks_of_chapter_9_still_apply_to_the_statefulsets() {
    let Some(text) = rendered() else { return };
    broken(
        &text,
        "      app: query\n  template:",
        "      app: queries\n  template:",
        nats::generic,
        "StatefulSet query: selects {app=queries} but its pod template has the labels",
    );
}

#[test]
fn the_overlay_base_is_a_copy_of_k8s() {
    let k8s = manifests_dir();
    let overlay = nats::overlay_dir();
    let problems = nats::base_copies(&k8s, &overlay);
    assert!(problems.is_empty(), "{}", list(&problems));
    // A copy that drifted is named, with the command that fixes it.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(nats::BASE_COPIES);
    std::fs::create_dir(&copy).unwrap();
    let posts = std::fs::read_to_string(k8s.join("posts.yaml")).unwrap();
    std::fs::write(copy.join("posts.yaml"), posts.replace("4000", "4009")).unwrap();
    let problems = nats::base_copies(&k8s, dir.path());
    assert_eq!(problems.len(), 1, "{}", list(&problems));
    assert!(
        problems[0].to_string().contains(
            "differs from k8s/posts.yaml; copy it again: cp k8s/posts.yaml k8s/nats/base/"
        ),
        "{}",
        list(&problems)
    );
    assert!(Path::new(&overlay).join("Kustomization").is_file());
}
