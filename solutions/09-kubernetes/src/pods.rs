//! A Deployment seen from the inside: which blog service its pod runs, with
//! which environment, on which port. The other checks start from this view.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::load::{Manifests, Object, Problem};
use crate::system::{self, BlogService};

/// The pod a Deployment runs.
#[derive(Clone, Debug)]
pub struct Pod<'a> {
    pub object: &'a Object,
    pub deployment: &'a Deployment,
    pub spec: &'a PodSpec,
    /// The one container of the pod (the blog runs one process per pod).
    pub container: &'a Container,
    /// The blog service it runs (from its `args`), if it is one.
    pub service: Option<BlogService>,
    /// The environment the program sees: the image's, then the manifest's.
    pub env: BTreeMap<String, String>,
}

impl<'a> Pod<'a> {
    /// The view of one Deployment, or the problem that prevents it.
    pub fn of(object: &'a Object, deployment: &'a Deployment) -> Result<Pod<'a>, Problem> {
        let Some(spec) = deployment.spec.template.spec.as_ref() else {
            return Err(object.problem("has no pod template (spec.template.spec)"));
        };
        let container = match spec.containers.as_slice() {
            [one] => one,
            [] => return Err(object.problem("its pod has no container")),
            more => {
                return Err(object.problem(format!(
                    "its pod has {} containers; each blog service runs alone in its pod",
                    more.len()
                )));
            }
        };
        let service = container
            .args
            .as_ref()
            .and_then(|args| args.first())
            .and_then(|name| system::blog_service(name));
        let mut env: BTreeMap<String, String> = system::IMAGE_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for var in container.env.iter().flatten() {
            env.insert(var.name.clone(), var.value.clone().unwrap_or_default());
        }
        Ok(Pod {
            object,
            deployment,
            spec,
            container,
            service,
            env,
        })
    }

    /// Every Deployment's pod; the problems of those that have none.
    pub fn all(manifests: &'a Manifests) -> (Vec<Pod<'a>>, Vec<Problem>) {
        let mut pods = Vec::new();
        let mut problems = Vec::new();
        for (object, deployment) in manifests.deployments() {
            match Pod::of(object, deployment) {
                Ok(pod) => pods.push(pod),
                Err(problem) => problems.push(problem),
            }
        }
        (pods, problems)
    }

    /// The pod template's labels, which Services select.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.deployment
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    /// The port the program listens on: `PORT`, or the service's default.
    /// `None` if `PORT` is not a number or the pod runs no blog service.
    pub fn listen_port(&self) -> Option<i32> {
        match self.env.get("PORT") {
            Some(port) => port.trim().parse().ok(),
            None => self.service.map(|s| i32::from(s.default_port())),
        }
    }

    /// The container port a Service's `targetPort` (or a probe's `port`)
    /// names: a number is itself, a name is looked up in the container's ports.
    pub fn resolve_port(&self, port: &IntOrString) -> Option<i32> {
        match port {
            IntOrString::Int(number) => Some(*number),
            IntOrString::String(name) => self
                .container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port),
        }
    }

    /// `posts-depl (the posts service)` for messages.
    pub fn describe(&self) -> String {
        match self.service {
            Some(service) => format!("{} (the {service} service)", self.object.name),
            None => self.object.name.clone(),
        }
    }
}

/// A port as written in a manifest: `4000`, or a name like `"http"`.
pub fn show_port(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(number) => number.to_string(),
        IntOrString::String(name) => format!("{name:?}"),
    }
}
