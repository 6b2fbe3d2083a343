//! Chapter 9 exercise: repair the blog's Kubernetes manifests.
//!
//! This time you write YAML, not Rust. `exercises/09-kubernetes/k8s/` is a
//! copy of the blog's manifests with three mistakes of the kind that cost
//! hours on a real cluster, because `kubectl apply` accepts them all: the
//! pods start, and then requests go nowhere. The tests
//! (`cargo test -p ex09-kubernetes`) read that folder the way the cluster
//! and ingress-nginx would, and name the file and the object to fix.
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

// ANCHOR: todos
// TODO 1: k8s/query.yaml: the Service query-srv selects no pod, so nothing
//         reaches the query service (the page cannot list posts, the bus
//         cannot deliver to it). Make its selector match the pod labels.
// TODO 2: k8s/comments.yaml: the Service comments-srv sends traffic to a
//         port nobody listens on. Make its targetPort the comments service's port.
// TODO 3: k8s/ingress.yaml: a new comment (POST /posts/<id>/comments) lands
//         on the query service. Add the path that sends it to comments-srv.
// ANCHOR_END: todos

pub use checker::{Manifests, Object, Problem, Resource};
pub use checker::{hardening, ingress, load, network, pods, system, wiring};

use std::path::{Path, PathBuf};

// ANCHOR: manifests_dir
/// The folder the tests check: this exercise's own copy, `k8s/` beside this
/// crate's Cargo.toml (the solution checks the repository's real `k8s/`).
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}
// ANCHOR_END: manifests_dir
