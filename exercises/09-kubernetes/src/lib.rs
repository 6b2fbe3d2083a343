//! Chapter 9 exercise: repair the blog's Kubernetes manifests.
//!
//! This time you write YAML, not Rust. `exercises/09-kubernetes/k8s/` is a
//! copy of the blog's manifests with three mistakes of the kind that cost
//! hours on a real cluster, because `kubectl apply` accepts them all: the
//! pods start, and then requests go nowhere. And one service has no
//! manifests at all: you write moderation's Deployment and Service. The
//! tests (`cargo test -p ex09-kubernetes`) read that folder the way the
//! cluster and ingress-nginx would, and name the file and the object to fix.
//!
//! The checker is the solution's code (`solutions/09-kubernetes/src/`), used
//! here as a library: read it to see how each rule is checked. The fixes go
//! in the YAML files.
//!
//! - [`load`]: every `*.yaml` file of a folder, each document typed with
//!   k8s-openapi (parsed with serde-saphyr), and the `Kustomization` file.
//! - [`system`]: what the manifests must agree with: the image the build
//!   produces, the calls the page makes; each service's port, data and links
//!   come from the blog's service catalogue.
//! - [`pods`]: a Deployment seen from inside: service, environment, port.
//! - [`wiring`]: Services select pods, ports line up, URLs in the environment
//!   name real Services, the ingress's backends exist, CORS allows the page.
//! - [`ingress`]: ingress-nginx's path matching, to see which service would
//!   answer each call of the page.
//! - [`hardening`]: the image, probes, security context, resources, volumes,
//!   the pause before a rolling pod stops.
//! - [`network`]: the NetworkPolicies: who may connect to whom.
//! - [`one_service`]: one service's Deployment and Service on their own:
//!   what the two you write (moderation's) still lack.

// ANCHOR: todos
// Step 1, the wiring (`every_service_selects_`, `ports_line_up_`, the
// `the_ingress_` and `every_ingress_` tests):
// TODO 1: k8s/query.yaml: the Service query-srv selects no pod, so nothing
//         reaches the query service (the page cannot list posts, the bus
//         cannot deliver to it). It must select the query pods.
// TODO 2: k8s/comments.yaml: the Service comments-srv sends traffic to a
//         port nobody listens on. It must reach the port the program listens on.
// TODO 3: k8s/ingress.yaml: a new comment (POST /posts/<id>/comments) lands
//         on the query service. It must reach comments-srv.
//
// Step 2 (`moderation_can_be_reached_`):
// TODO 4: k8s/moderation.yaml is empty. The moderation service must run
//         from the blog's image in a Deployment of its own, and be
//         reachable by the name and port the bus delivers to
//         (http://moderation-srv:4003): pod labels that a Service selects,
//         ports that line up from that Service to the program.
//
// Step 3 (`moderation_runs_probed_`):
// TODO 5: the same pods must tell Kubernetes when they are alive and when
//         they are ready, say how much CPU and memory they need and may
//         use, and run locked down (not root, a read-only file system, no
//         privileges), like the other services' pods.
//
// Step 4: every other test: the whole system agrees with itself.
// ANCHOR_END: todos

pub use checker::{Manifests, Object, Problem, Resource};
pub use checker::{hardening, ingress, load, network, one_service, pods, system, wiring};

use std::path::{Path, PathBuf};

// ANCHOR: manifests_dir
/// The folder the tests check: this exercise's own copy, `k8s/` beside this
/// crate's Cargo.toml (the solution checks the repository's real `k8s/`).
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}
// ANCHOR_END: manifests_dir
