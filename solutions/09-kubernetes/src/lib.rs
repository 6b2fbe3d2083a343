//! Checks the blog's Kubernetes manifests without a cluster (chapter 9).
//!
//! No cluster runs where this workbook is tested, so everything that can be
//! known from the files alone is checked here, reading them the way the
//! cluster and ingress-nginx would:
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
//! - [`nats`]: chapter 10's overlay (k8s/nats/): the NATS StatefulSet, its
//!   routes and Services, the stream's replication, the services on NATS.
//! - [`one_service`]: one service's Deployment and Service on their own, as
//!   the exercise has the learner write them (moderation's).
//!
//! Every check returns [`Problem`]s naming the file and the object.

pub mod hardening;
pub mod ingress;
pub mod load;
pub mod nats;
pub mod network;
pub mod one_service;
pub mod pods;
pub mod system;
pub mod wiring;

#[cfg(test)]
mod faults;

use std::path::{Path, PathBuf};

pub use load::{Manifests, Object, Problem, Resource};

// ANCHOR: manifests_dir
/// The folder the tests check: the repository's `k8s/`, the one
/// `kubectl apply -k k8s/` deploys.
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s")
}
// ANCHOR_END: manifests_dir
