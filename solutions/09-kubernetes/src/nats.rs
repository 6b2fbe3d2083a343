//! Chapter 10's overlay, `k8s/nats/`: the blog on a NATS JetStream cluster.
//!
//! What NATS brings that the other checks cannot see, all of it accepted by
//! `kubectl apply` and fatal only later, on the cluster:
//!
//! - [`routes`]: the nodes find each other through `--routes`, and every
//!   route URL must name a real pod of the headless Service
//!   (`<StatefulSet>-<ordinal>.<Service>:<cluster port>`, ordinal below the
//!   replicas). A wrong one leaves a node alone, or two clusters.
//! - [`headless`]: that Service exists, is headless, selects the
//!   StatefulSet's pods and publishes them before they are ready (a node is
//!   ready only once it has reached its peers, so without it none ever is).
//! - [`stream_replicas`]: the stream's replication (`NATS_STREAM_REPLICAS`)
//!   equals the number of nodes: more cannot be placed, fewer loses the
//!   copies the chapter promises.
//! - [`bus_urls`]: every service's `EVENT_BUS_URL` names the client Service
//!   of those nodes, on their client port.
//! - [`query_replicas`]: each query replica has its own consumer name, from
//!   its StatefulSet ordinal.
//! - [`nodes`]: a volume per node at the store dir, probes on the
//!   monitoring port, the same locked-down pod as the blog's.
//! - [`base_copies`]: the overlay's copies of `k8s/` files are exact.
//! - [`generic`]: the checks of chapter 9 that still apply, with each
//!   StatefulSet seen as the Deployment it replaces.
//!
//! The overlay is read as `kubectl kustomize k8s/nats` renders it
//! ([`render`]): its patches are fragments, only the result is a system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet};
use k8s_openapi::api::core::v1::{Container, EnvVar, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::load::{Manifests, Object, Problem, Resource};
use crate::pods::Pod;
use crate::system::{BlogService, Link};
use crate::{hardening, network, wiring};

/// The variable that sets the streams' replication (the contract with the
/// JetStream adapter), and its default.
pub const STREAM_REPLICAS: &str = "NATS_STREAM_REPLICAS";
pub const DEFAULT_STREAM_REPLICAS: i32 = 3;

/// Which query replica a pod is: its consumer is `query-<QUERY_REPLICA>`.
pub const QUERY_REPLICA: &str = "QUERY_REPLICA";

/// The label a StatefulSet gives each of its pods: its ordinal (0, 1, ...).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The pod's own name and ordinal, which the cluster fills in
/// (`valueFrom.fieldRef`): the only values not written in the manifest
/// that these checks accept, since each names the pod itself.
const OWN_IDENTITY: [&str; 2] = [
    "metadata.name",
    "metadata.labels['apps.kubernetes.io/pod-index']",
];

/// The folder of the overlay.
pub fn overlay_dir() -> PathBuf {
    crate::manifests_dir().join("nats")
}

/// The folder under the overlay holding its copies of `k8s/` files.
pub const BASE_COPIES: &str = "base";

/// A variable that the cluster fills in with the pod's own name or ordinal.
pub fn is_own_identity(var: &EnvVar) -> bool {
    var.value_from
        .as_ref()
        .and_then(|from| from.field_ref.as_ref())
        .is_some_and(|field| OWN_IDENTITY.contains(&field.field_path.as_str()))
}

/// A link to the bus whose URL is a NATS one: checked by [`bus_urls`], not as an HTTP Service.
pub fn on_nats(pod: &Pod, link: &Link) -> bool {
    link.to == [BlogService::EventBus]
        && pod
            .env
            .get(link.variable)
            .is_some_and(|value| value.trim_start().starts_with("nats://"))
}

/// What `kubectl kustomize <dir>` renders, or why it cannot.
pub fn render(dir: &Path) -> Result<String, String> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|error| format!("cannot run `kubectl kustomize`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`kubectl kustomize {}` failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|error| error.to_string())
}

/// The rendered overlay, read as one file named after the command that made it.
pub fn parse_rendered(text: &str) -> Result<Manifests, Vec<Problem>> {
    Manifests::parse("k8s/nats", &[("(kubectl kustomize)", text)])
}

/// A NATS node's StatefulSet, with its options read from its `args`.
struct Nodes<'a> {
    object: &'a Object,
    set: &'a StatefulSet,
    container: &'a Container,
    replicas: i32,
    /// `--key=value` and `--key value`, without the dashes; a flag alone is `""`.
    options: BTreeMap<String, String>,
}

impl<'a> Nodes<'a> {
    /// Every StatefulSet whose container runs nats-server (its image is a nats one).
    fn all(manifests: &'a Manifests) -> Vec<Nodes<'a>> {
        manifests
            .stateful_sets()
            .filter_map(|(object, set)| {
                let spec = &set.spec;
                let container = spec.template.spec.as_ref()?.containers.first()?;
                let image = container.image.as_deref().unwrap_or("");
                let program = image.rsplit('/').next().unwrap_or(image);
                if !program.starts_with("nats:") && !program.contains("-nats:") {
                    return None;
                }
                Some(Nodes {
                    object,
                    set,
                    container,
                    replicas: spec.replicas.unwrap_or(1),
                    options: options(container.args.as_deref().unwrap_or_default()),
                })
            })
            .collect()
    }

    fn service_name(&self) -> Option<&str> {
        self.set.spec.service_name.as_deref()
    }

    fn pod_labels(&self) -> BTreeMap<String, String> {
        self.set
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    /// The port an option gives (`--port=4222`, `--cluster=nats://0.0.0.0:6222`), or its default.
    fn port(&self, option: &str, default: i32) -> i32 {
        match self.options.get(option) {
            Some(value) => value
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(-1),
            None => default,
        }
    }

    fn client_port(&self) -> i32 {
        self.port("port", 4222)
    }

    /// The container port named or numbered by a Service's targetPort.
    fn resolve(&self, port: &IntOrString) -> Option<i32> {
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

    /// Does this Service send traffic to these nodes' pods?
    fn selected_by(&self, service: &Service) -> bool {
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let labels = self.pod_labels();
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// `["--a=1", "--b", "2", "-js"]` → a=1, b=2, js="".
fn options(args: &[String]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        let Some(key) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        if let Some((key, value)) = key.split_once('=') {
            found.insert(key.to_string(), value.to_string());
        } else if iter.peek().is_some_and(|next| !next.starts_with('-')) {
            found.insert(key.to_string(), iter.next().cloned().unwrap_or_default());
        } else {
            found.insert(key.to_string(), String::new());
        }
    }
    found
}

/// The nodes, or the problem that there are none.
fn nodes_or_problem(manifests: &Manifests) -> Result<Vec<Nodes<'_>>, Problem> {
    let nodes = Nodes::all(manifests);
    if nodes.is_empty() {
        return Err(manifests.problem(
            "StatefulSet",
            "no StatefulSet runs nats-server (an image named nats:...), so the services have no bus",
        ));
    }
    Ok(nodes)
}

/// A host name inside the namespace: `a.b`, `a.b.default`, `a.b.default.svc.cluster.local` → (a, b).
fn pod_and_service(host: &str) -> Option<(&str, &str)> {
    let mut labels = host.splitn(3, '.');
    let pod = labels.next()?;
    let service = labels.next()?;
    match labels.next() {
        None | Some("default" | "default.svc" | "default.svc.cluster.local") => {
            Some((pod, service))
        }
        Some(_) => None,
    }
}

// ANCHOR: routes
/// Every route names a real pod of the headless Service on the cluster
/// port, and together the routes name every node.
pub fn routes(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    for node in &nodes {
        let name = &node.object.name;
        let cluster_port = node.port("cluster", -1);
        if cluster_port < 0 {
            problems.push(node.object.problem(
                "has no --cluster=nats://0.0.0.0:<port>: the nodes would not listen for each other's routes",
            ));
            continue;
        }
        let Some(service) = node.service_name() else {
            problems.push(node.object.problem(
                "has no serviceName: its pods get no DNS names, so no route can name them",
            ));
            continue;
        };
        let routes = node.options.get("routes").cloned().unwrap_or_default();
        let mut named = vec![false; usize::try_from(node.replicas).unwrap_or(0)];
        for url in routes.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let authority = url.strip_prefix("nats://").unwrap_or("");
            let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
            let Some((pod, via)) = pod_and_service(host) else {
                problems.push(node.object.problem(format!(
                    "has the route {url}, which names no pod: a route is nats://{name}-<ordinal>.{service}:{cluster_port}"
                )));
                continue;
            };
            let ordinal = pod
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse::<usize>().ok());
            let message = match ordinal {
                _ if via != service => Some(format!(
                    "names {pod}.{via}, but its pods' DNS names are under its headless Service {service} ({name}-0.{service}, ...)"
                )),
                None => Some(format!(
                    "names the pod {pod}, but this StatefulSet's pods are {name}-0 to {name}-{}",
                    node.replicas - 1
                )),
                Some(n) if n >= named.len() => Some(format!(
                    "names {pod}, but with {} replicas the pods are {name}-0 to {name}-{}: that node never exists",
                    node.replicas,
                    node.replicas - 1
                )),
                Some(_) if port != cluster_port.to_string() => Some(format!(
                    "uses port {port:?}, but the nodes listen for routes on {cluster_port} (--cluster)"
                )),
                Some(n) => {
                    named[n] = true;
                    None
                }
            };
            if let Some(message) = message {
                problems.push(
                    node.object
                        .problem(format!("has the route {url}, which {message}")),
                );
            }
        }
        let missing: Vec<String> = named
            .iter()
            .enumerate()
            .filter(|(_, named)| !**named)
            .map(|(n, _)| format!("{name}-{n}"))
            .collect();
        if !missing.is_empty() {
            problems.push(node.object.problem(format!(
                "its --routes never name {}: every node must list every node, or the cluster may split in two",
                wiring::listed(&missing)
            )));
        }
    }
    problems
}
// ANCHOR_END: routes

// ANCHOR: headless
/// The StatefulSet's Service is headless, selects its pods, publishes them
/// before they are ready, and offers the cluster port.
pub fn headless(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    for node in &nodes {
        let Some(name) = node.service_name() else {
            continue; // `routes` says so
        };
        let Some((object, service)) = manifests.service(name) else {
            problems.push(node.object.problem(format!(
                "names the Service {name} (serviceName), which does not exist: its pods would have no DNS names"
            )));
            continue;
        };
        let spec = service.spec.clone().unwrap_or_default();
        if spec.cluster_ip.as_deref() != Some("None") {
            problems.push(object.problem(
                "is the StatefulSet's serviceName but not headless: set `clusterIP: None`, so that each pod gets its own DNS name",
            ));
        }
        if spec.publish_not_ready_addresses != Some(true) {
            problems.push(object.problem(
                "does not publish pods before they are ready: a node is ready only after it has reached its peers \
                 by these names, so none would ever be; set `publishNotReadyAddresses: true`",
            ));
        }
        if !node.selected_by(service) {
            problems.push(object.problem(format!(
                "does not select the pods of the StatefulSet {}: the names nats-0.{name}, ... would not resolve",
                node.object.name
            )));
        }
        let cluster_port = node.port("cluster", -1);
        let offered = spec.ports.iter().flatten().any(|p| {
            p.port == cluster_port
                && node.resolve(p.target_port.as_ref().unwrap_or(&IntOrString::Int(p.port)))
                    == Some(cluster_port)
        });
        if cluster_port > 0 && !offered {
            problems.push(object.problem(format!(
                "has no port {cluster_port} to the pods' {cluster_port}, the cluster port of the routes"
            )));
        }
    }
    problems
}
// ANCHOR_END: headless

/// Every StatefulSet seen as the Deployment it stands for, so that the
/// checks of chapter 9 see its pods; without the NATS nodes if `nodes` is
/// false (the checks of a blog service's pod do not fit them).
fn view(manifests: &Manifests, nodes: bool) -> Manifests {
    let mut view = manifests.clone();
    let node_sets: Vec<String> = Nodes::all(manifests)
        .iter()
        .map(|n| n.object.name.clone())
        .collect();
    if !nodes {
        view.objects
            .retain(|o| o.kind() != "StatefulSet" || !node_sets.contains(&o.name));
    }
    for object in &mut view.objects {
        if let Resource::StatefulSet(set) = &object.resource {
            object.resource = Resource::Deployment(Box::new(as_deployment(set)));
        }
    }
    view
}

/// The pods of every workload that runs a blog service (Deployments and StatefulSets).
fn blog_view(manifests: &Manifests) -> Manifests {
    view(manifests, false)
}

/// The Deployment a StatefulSet stands for in the checks of chapter 9: the
/// same pods (template, selector, replicas).
pub fn as_deployment(set: &StatefulSet) -> Deployment {
    let spec = set.spec.clone();
    Deployment {
        metadata: set.metadata.clone(),
        spec: DeploymentSpec {
            replicas: spec.replicas,
            selector: spec.selector,
            template: spec.template,
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

// ANCHOR: stream_replicas
/// The stream's replication equals the number of NATS nodes.
pub fn stream_replicas(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let view = blog_view(manifests);
    let (pods, mut problems) = Pod::all(&view);
    let nodes_count: i32 = nodes.iter().map(|n| n.replicas).sum();
    for pod in pods.iter().filter(|p| p.env.contains_key("EVENT_BUS_URL")) {
        let replicas = match pod.env.get(STREAM_REPLICAS) {
            None => DEFAULT_STREAM_REPLICAS,
            Some(text) => match text.trim().parse::<i32>() {
                Ok(n) => n,
                Err(_) => {
                    problems.push(shown(manifests, pod.object).problem(format!(
                        "{STREAM_REPLICAS} is {text:?}, which is not a number"
                    )));
                    continue;
                }
            },
        };
        if replicas != nodes_count {
            let why = if replicas > nodes_count {
                "JetStream cannot place more copies than there are nodes, so the stream is never created"
            } else {
                "a node lost may then hold the only copy of an event it acknowledged"
            };
            problems.push(shown(manifests, pod.object).problem(format!(
                "the stream has {STREAM_REPLICAS}={replicas} (default {DEFAULT_STREAM_REPLICAS}), but {} runs {nodes_count} NATS nodes: {why}",
                listed_names(&nodes)
            )));
        }
    }
    problems
}
// ANCHOR_END: stream_replicas

fn listed_names(nodes: &[Nodes]) -> String {
    let names: Vec<String> = nodes
        .iter()
        .map(|n| format!("the StatefulSet {}", n.object.name))
        .collect();
    wiring::listed(&names)
}

/// The object as the manifests name it (a StatefulSet stays a StatefulSet in messages).
fn shown<'m>(manifests: &'m Manifests, object: &Object) -> &'m Object {
    manifests
        .objects
        .iter()
        .find(|o| o.name == object.name && o.file == object.file)
        .unwrap_or_else(|| {
            manifests
                .objects
                .first()
                .expect("a view is made from these manifests")
        })
}

// ANCHOR: bus_urls
/// Every service that uses the bus reaches the NATS nodes' client port
/// through a Service that selects them.
pub fn bus_urls(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let view = blog_view(manifests);
    let (pods, mut problems) = Pod::all(&view);
    for pod in &pods {
        let Some(service) = pod.service else { continue };
        for link in service
            .links()
            .iter()
            .filter(|l| l.to == [BlogService::EventBus])
        {
            let object = shown(manifests, pod.object);
            let value = pod.env.get(link.variable).map(String::as_str).unwrap_or("");
            if !value.trim_start().starts_with("nats://") {
                problems.push(object.problem(format!(
                    "{} is {value:?}: on this overlay there is no HTTP bus; set it to nats://<the NATS client Service>:<port>",
                    link.variable
                )));
                continue;
            }
            for url in value.split(',').map(str::trim) {
                let authority = url.strip_prefix("nats://").unwrap_or(url);
                let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "4222"));
                let port: i32 = port.parse().unwrap_or(-1);
                let Some(name) = wiring::service_name(host) else {
                    problems.push(object.problem(format!(
                        "{} has {url}: {host} is not a Service of this namespace",
                        link.variable
                    )));
                    continue;
                };
                let Some((_, target)) = manifests.service(name) else {
                    problems.push(object.problem(format!(
                        "{} has {url}, but there is no Service {name}",
                        link.variable
                    )));
                    continue;
                };
                let Some(node) = nodes.iter().find(|n| n.selected_by(target)) else {
                    problems.push(object.problem(format!(
                        "{} has {url}, but the Service {name} selects no NATS node",
                        link.variable
                    )));
                    continue;
                };
                let spec = target.spec.clone().unwrap_or_default();
                let Some(offered) = spec.ports.iter().flatten().find(|p| p.port == port) else {
                    problems.push(object.problem(format!(
                        "{} has {url}, but the Service {name} has no port {port}",
                        link.variable
                    )));
                    continue;
                };
                let target_port = offered
                    .target_port
                    .clone()
                    .unwrap_or(IntOrString::Int(port));
                if node.resolve(&target_port) != Some(node.client_port()) {
                    problems.push(object.problem(format!(
                        "{} has {url}, but the Service {name}'s port {port} does not lead to the nodes' client port {}",
                        link.variable,
                        node.client_port()
                    )));
                }
                if spec.cluster_ip.as_deref() == Some("None") {
                    problems.push(object.problem(format!(
                        "{} has {url}, which is the headless Service: name the client Service, which sends clients to a ready node",
                        link.variable
                    )));
                }
            }
        }
    }
    problems
}
// ANCHOR_END: bus_urls

// ANCHOR: query_replicas
/// Several query replicas each need their own consumer, so each needs its
/// own `QUERY_REPLICA`: the StatefulSet ordinal.
pub fn query_replicas(manifests: &Manifests) -> Vec<Problem> {
    let view = blog_view(manifests);
    let (pods, mut problems) = Pod::all(&view);
    for pod in pods
        .iter()
        .filter(|p| p.service == Some(BlogService::Query))
    {
        let replicas = pod.deployment.spec.replicas.unwrap_or(1);
        if replicas < 2 {
            continue;
        }
        let object = shown(manifests, pod.object);
        let var = pod
            .container
            .env
            .iter()
            .flatten()
            .find(|v| v.name == QUERY_REPLICA);
        let ordinal = format!("metadata.labels['{POD_INDEX_LABEL}']");
        let from_ordinal = var
            .and_then(|v| v.value_from.as_ref())
            .and_then(|f| f.field_ref.as_ref())
            .is_some_and(|f| f.field_path == ordinal);
        if object.kind() != "StatefulSet" || !from_ordinal {
            problems.push(object.problem(format!(
                "runs {replicas} query replicas, which would share one consumer (query-{}) and each miss the events \
                 the others get; run them as a StatefulSet with {QUERY_REPLICA} from fieldRef {ordinal}",
                var.and_then(|v| v.value.clone()).unwrap_or_else(|| "0".into())
            )));
        }
    }
    problems
}
// ANCHOR_END: query_replicas

/// Each node keeps its store on its own volume, answers its probes on the
/// monitoring port, and runs locked down like the blog's pods.
pub fn nodes(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    for node in &nodes {
        if node.replicas < 3 || node.replicas % 2 == 0 {
            problems.push(node.object.problem(format!(
                "runs {} nodes: a quorum of an even number is no stronger than of one fewer; run 3 (or 5)",
                node.replicas
            )));
        }
        if !node.options.contains_key("jetstream") && !node.options.contains_key("js") {
            problems
                .push(node.object.problem(
                    "runs nats-server without --jetstream: no streams, no durable events",
                ));
        }
        let store = node.options.get("store_dir").or(node.options.get("sd"));
        let claims: Vec<String> = node
            .set
            .spec
            .volume_claim_templates
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        let mounted = node
            .container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| Some(&m.mount_path) == store);
        match (store, mounted) {
            (None, _) => problems.push(node.object.problem(
                "has no --store_dir: JetStream would write into the container's read-only file system",
            )),
            (Some(store), None) => problems.push(node.object.problem(format!(
                "keeps its store in {store}, where no volume is mounted: a restarted node would come back empty"
            ))),
            (Some(store), Some(mount)) if !claims.contains(&mount.name) => {
                problems.push(node.object.problem(format!(
                    "mounts {} at {store}, which is not one of its volumeClaimTemplates ({claims:?}): \
                     each node needs its own volume, kept across restarts",
                    mount.name
                )));
            }
            _ => {}
        }
        let monitor = node.port("http_port", -1).max(node.port("m", -1));
        for (name, probe) in [
            ("livenessProbe", &node.container.liveness_probe),
            ("readinessProbe", &node.container.readiness_probe),
        ] {
            let action = probe.as_ref().and_then(|p| p.http_get.as_ref());
            let Some(action) = action else {
                problems.push(node.object.problem(format!(
                    "has no {name} with httpGet on the monitoring port (/healthz)"
                )));
                continue;
            };
            if node.resolve(&action.port) != Some(monitor) {
                problems.push(node.object.problem(format!(
                    "its {name} asks a port other than the monitoring port {monitor} (--http_port)"
                )));
            }
            let path = action.path.as_deref().unwrap_or("/");
            if !path.starts_with("/healthz") {
                problems.push(node.object.problem(format!(
                    "its {name} asks {path}; nats-server answers /healthz"
                )));
            }
            if name == "livenessProbe" && path == "/healthz" {
                problems.push(node.object.problem(
                    "its livenessProbe asks the full /healthz, which fails while the cluster has no quorum: \
                     the healthy nodes would be restarted exactly when the others are lost; ask /healthz?js-enabled-only=true",
                ));
            }
        }
    }
    let view = Manifests {
        objects: nodes
            .iter()
            .map(|n| Object {
                file: n.object.file.clone(),
                name: n.object.name.clone(),
                resource: Resource::Deployment(Box::new(as_deployment(n.set))),
            })
            .collect(),
        ..manifests.clone()
    };
    problems.extend(renamed(manifests, hardening::security(&view)));
    problems
}

/// Problems found on a view, with each object named as in the manifests.
fn renamed(manifests: &Manifests, problems: Vec<Problem>) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|mut problem| {
            if let Some(name) = problem.object.strip_prefix("Deployment ")
                && let Some(object) = manifests
                    .objects
                    .iter()
                    .find(|o| o.name == name && o.kind() == "StatefulSet")
            {
                problem.object = object.describe();
            }
            problem
        })
        .collect()
}

/// The checks of chapter 9 that still hold on NATS, each StatefulSet of a
/// blog service seen as the Deployment it replaces (the NATS nodes are
/// checked by [`nodes`]; the Deployment names and the event bus's own
/// Deployment are chapter 9's rules, not this overlay's).
pub fn generic(manifests: &Manifests) -> Vec<Problem> {
    let everything = view(manifests, true);
    let blog = blog_view(manifests);
    let mut problems = Vec::new();
    problems.extend(wiring::selectors(&everything));
    problems.extend(wiring::ports(&everything));
    problems.extend(wiring::env_urls(&everything));
    problems.extend(wiring::cors(&everything));
    problems.extend(wiring::ingress_backends(&everything));
    problems.extend(wiring::service_coverage(&everything));
    problems.extend(network::policies(&everything));
    problems.extend(hardening::probes(&blog));
    problems.extend(hardening::security(&blog));
    problems.extend(hardening::data(&blog));
    renamed(manifests, problems)
}

/// The NATS nodes may be reached only by the blog's services (client port)
/// and by each other (cluster port).
pub fn node_policy(manifests: &Manifests) -> Vec<Problem> {
    let nodes = match nodes_or_problem(manifests) {
        Ok(nodes) => nodes,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    for node in &nodes {
        let labels = node.pod_labels();
        let guarding: Vec<_> = manifests
            .network_policies()
            .filter(|(_, p)| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.pod_selector.as_ref())
                    .is_some_and(|s| network::selects(s, &labels))
            })
            .collect();
        if guarding.is_empty() {
            problems.push(node.object.problem(
                "no NetworkPolicy selects its pods: any pod of the cluster could publish a forged event",
            ));
            continue;
        }
        let admits = |from: &BTreeMap<String, String>, port: i32| {
            guarding.iter().any(|(_, policy)| {
                policy
                    .spec
                    .as_ref()
                    .and_then(|s| s.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|rule| {
                        let port_ok = rule.ports.as_ref().is_none_or(|ports| {
                            ports.iter().any(|p| {
                                p.port
                                    .as_ref()
                                    .is_none_or(|q| node.resolve(q) == Some(port))
                            })
                        });
                        let peer_ok = rule.from.as_ref().is_none_or(|peers| {
                            peers.iter().any(|peer| {
                                peer.namespace_selector.is_none()
                                    && peer
                                        .pod_selector
                                        .as_ref()
                                        .is_some_and(|s| network::selects(s, from))
                            })
                        });
                        port_ok && peer_ok
                    })
            })
        };
        let cluster = node.port("cluster", 6222);
        if !admits(&labels, cluster) {
            problems.push(node.object.problem(format!(
                "its NetworkPolicy does not let the nodes reach each other on {cluster}: no routes, no cluster"
            )));
        }
        let view = blog_view(manifests);
        let (pods, _) = Pod::all(&view);
        for pod in pods.iter().filter(|p| p.env.contains_key("EVENT_BUS_URL")) {
            if !admits(&pod.labels(), node.client_port()) {
                problems.push(node.object.problem(format!(
                    "its NetworkPolicy does not let {} reach the client port {}",
                    pod.describe(),
                    node.client_port()
                )));
            }
        }
    }
    problems
}

/// Each file under `k8s/nats/base/` is byte for byte the `k8s/` file of its
/// name (kustomize reads no file outside the overlay, so these are copies).
pub fn base_copies(k8s: &Path, overlay: &Path) -> Vec<Problem> {
    let base = overlay.join(BASE_COPIES);
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(&base) else {
        return vec![Problem {
            file: base.display().to_string(),
            object: "folder".into(),
            message: "cannot be read".into(),
        }];
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let copy = std::fs::read(entry.path()).unwrap_or_default();
        let original = std::fs::read(k8s.join(&name));
        if original.as_deref().ok() != Some(copy.as_slice()) {
            problems.push(Problem {
                file: format!("k8s/nats/{BASE_COPIES}/{name}"),
                object: "copy".into(),
                message: match original {
                    Ok(_) => format!(
                        "differs from k8s/{name}; copy it again: cp k8s/{name} k8s/nats/{BASE_COPIES}/"
                    ),
                    Err(_) => format!("k8s/{name} does not exist; remove the copy"),
                },
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_in_both_spellings() {
        let args: Vec<String> = ["--a=1", "--b", "2", "-js", "--c"]
            .map(String::from)
            .to_vec();
        let found = options(&args);
        assert_eq!(found["a"], "1");
        assert_eq!(found["b"], "2");
        assert_eq!(found["js"], "");
        assert_eq!(found["c"], "");
    }

    #[test]
    fn pod_names_are_read_from_short_and_long_host_names() {
        assert_eq!(pod_and_service("nats-0.nats"), Some(("nats-0", "nats")));
        assert_eq!(
            pod_and_service("nats-0.nats.default.svc.cluster.local"),
            Some(("nats-0", "nats"))
        );
        assert_eq!(pod_and_service("nats-0"), None);
        assert_eq!(pod_and_service("nats-0.nats.other"), None);
    }
}
