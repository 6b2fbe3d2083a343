//! Who may open a connection to whom: the NetworkPolicies, read the way a
//! network plugin that enforces them (Calico, Cilium) would.
//!
//! - A pod that no policy selects accepts connections from anyone.
//! - Once a policy selects it (for `Ingress`, the incoming direction), it
//!   accepts only what a rule of a policy that selects it allows. A rule
//!   names sources (`from`) and ports: no `from` means every source, no
//!   `ports` every port. Policies only ever allow; there is no "deny" rule.
//! - The ports are the POD's ports (a Service's `targetPort`), because the
//!   plugin filters packets once the Service has translated them.
//!
//! What the blog needs is derived from the catalogue: the bus connects to
//! every subscriber, each service to the services it calls, and the ingress
//! controller to the services that answer the page. Nothing else may connect,
//! so that a stray pod cannot post forged events to a service's `/events`.
//!
//! NetworkPolicy works with addresses and ports (layers 3 and 4), not with
//! HTTP: it can say "only the bus and the ingress may connect to port 4000
//! of posts", never "only the bus may `POST /events`". The ingress controller
//! may connect to posts, so `/events` is also kept out of the ingress's
//! paths (see [`crate::ingress::routing`]).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::load::{Manifests, Object, Problem};
use crate::pods::Pod;
use crate::system::{
    BlogService, CLIENT_CALLS, INGRESS_CONTROLLER_LABELS, INGRESS_NAMESPACE, NAMESPACE,
    NAMESPACE_NAME_LABEL,
};
use crate::wiring::{listed, names};

/// A place a connection may come from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'p, 'a> {
    /// The pod of a Deployment of these manifests.
    Pod(&'p Pod<'a>),
    /// ingress-nginx's controller, in its own namespace.
    IngressController,
    /// Some other pod of the blog's namespace (a `kubectl run` debugging pod, say).
    StrangerHere,
    /// A pod of another namespace.
    StrangerElsewhere,
    /// Outside the cluster (through a NodePort, say).
    Outside,
}

impl Source<'_, '_> {
    /// The namespace's labels and the pod's labels; `None` outside the cluster.
    fn identity(&self) -> Option<(BTreeMap<String, String>, BTreeMap<String, String>)> {
        let namespace =
            |name: &str| BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())]);
        match self {
            Source::Pod(pod) => Some((namespace(NAMESPACE), pod.labels())),
            Source::IngressController => Some((
                namespace(INGRESS_NAMESPACE),
                INGRESS_CONTROLLER_LABELS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
            Source::StrangerHere => Some((namespace(NAMESPACE), BTreeMap::new())),
            Source::StrangerElsewhere => Some((namespace("elsewhere"), BTreeMap::new())),
            Source::Outside => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Pod(pod) => match pod.service {
                Some(service) => format!("the {service} service"),
                None => pod.object.name.clone(),
            },
            Source::IngressController => "the ingress controller".into(),
            Source::StrangerHere => "any other pod of the namespace".into(),
            Source::StrangerElsewhere => "any pod of another namespace".into(),
            Source::Outside => "the outside world".into(),
        }
    }

    fn is_blog(&self, service: BlogService) -> bool {
        matches!(self, Source::Pod(pod) if pod.service == Some(service))
    }
}

/// Whether `labels` satisfy a label selector (an empty one selects everything).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labelled = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let listed = |v: &String| e.values.iter().flatten().any(|w| w == v);
        match e.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => !value.is_some_and(listed),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labelled && expressions
}

fn peer_admits(peer: &NetworkPolicyPeer, source: &Source) -> bool {
    if peer.ip_block.is_some() {
        // Address ranges are for what is outside the cluster: pod addresses come and go.
        return matches!(source, Source::Outside);
    }
    let Some((namespace, labels)) = source.identity() else {
        return false;
    };
    let namespace_ok = match &peer.namespace_selector {
        Some(selector) => selects(selector, &namespace),
        // Without a namespaceSelector, the policy's own namespace only.
        None => namespace.get(NAMESPACE_NAME_LABEL).map(String::as_str) == Some(NAMESPACE),
    };
    let pod_ok = peer
        .pod_selector
        .as_ref()
        .is_none_or(|selector| selects(selector, &labels));
    namespace_ok && pod_ok
}

fn rule_admits(rule: &NetworkPolicyIngressRule, source: &Source, target: &Pod, port: i32) -> bool {
    let from = rule.from.as_deref().unwrap_or_default();
    let source_ok = from.is_empty() || from.iter().any(|peer| peer_admits(peer, source));
    let ports = rule.ports.as_deref().unwrap_or_default();
    let port_ok = ports.is_empty()
        || ports.iter().any(|p| {
            let tcp = p.protocol.as_deref().unwrap_or("TCP") == "TCP";
            let number = match &p.port {
                None => return tcp,
                Some(IntOrString::Int(number)) => Some(*number),
                Some(name) => target.resolve_port(name),
            };
            let in_range = number.is_some_and(|n| match p.end_port {
                Some(end) => (n..=end).contains(&port),
                None => n == port,
            });
            tcp && in_range
        });
    source_ok && port_ok
}

/// Whether a policy restricts what comes IN to the pods it selects.
fn limits_ingress(policy: &NetworkPolicy) -> bool {
    let spec = policy.spec.as_ref();
    match spec.and_then(|s| s.policy_types.as_ref()) {
        Some(types) => types.iter().any(|t| t == "Ingress"),
        // Without policyTypes, a policy is always about Ingress.
        None => spec.is_some(),
    }
}

/// The policies (of the blog's namespace) that select `pod` for Ingress.
pub fn policies_for<'m>(
    manifests: &'m Manifests,
    pod: &Pod,
) -> Vec<(&'m Object, &'m NetworkPolicy)> {
    manifests
        .network_policies()
        .filter(|(_, policy)| in_blog_namespace(policy) && limits_ingress(policy))
        .filter(|(_, policy)| {
            let selector = policy.spec.as_ref().and_then(|s| s.pod_selector.clone());
            selects(&selector.unwrap_or_default(), &pod.labels())
        })
        .collect()
}

fn in_blog_namespace(policy: &NetworkPolicy) -> bool {
    policy
        .metadata
        .namespace
        .as_deref()
        .is_none_or(|n| n == NAMESPACE)
}

/// Whether `source` may open a connection to `port` of `target`.
pub fn admits(manifests: &Manifests, source: &Source, target: &Pod, port: i32) -> bool {
    let policies = policies_for(manifests, target);
    policies.is_empty()
        || policies.iter().any(|(_, policy)| {
            let rules = policy.spec.as_ref().and_then(|s| s.ingress.as_ref());
            rules
                .into_iter()
                .flatten()
                .any(|rule| rule_admits(rule, source, target, port))
        })
}

/// Why `source` must be able to connect to `target`, or `None` if it has no reason to.
fn reason(source: &Source, target: BlogService) -> Option<String> {
    if target.subscribes() && source.is_blog(BlogService::EventBus) {
        return Some("the bus delivers every event to it".into());
    }
    if let Source::Pod(pod) = source
        && let Some(caller) = pod.service
        && let Some(link) = caller
            .links()
            .iter()
            .find(|l| !l.from_browser && l.to.contains(&target))
    {
        return Some(format!("the {caller} service calls it ({})", link.variable));
    }
    if matches!(source, Source::IngressController)
        && CLIENT_CALLS.iter().any(|c| c.service == target)
    {
        return Some("the ingress sends it the page's requests".into());
    }
    None
}

// ANCHOR: policies
/// The NetworkPolicies let in exactly what the blog needs: the bus to every
/// subscriber, each service to those it calls, the ingress controller to the
/// services that answer the page; and nothing else, anywhere.
pub fn policies(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    problems.extend(selectors(manifests, &pods));
    let mut sources: Vec<Source> = pods.iter().map(Source::Pod).collect();
    sources.extend([
        Source::IngressController,
        Source::StrangerHere,
        Source::StrangerElsewhere,
        Source::Outside,
    ]);
    for target in &pods {
        let (Some(service), Some(port)) = (target.service, target.listen_port()) else {
            continue;
        };
        let policies = policies_for(manifests, target);
        let blame = |message: String| match policies.as_slice() {
            [(object, _)] => object.problem(message),
            _ => target.object.problem(message),
        };
        if policies.is_empty() {
            problems.push(target.object.problem(format!(
                "no NetworkPolicy selects its pods, so anything in the cluster may connect to the {service} \
                 service; add one that lets in only {}",
                expected(&sources, target, service)
            )));
            continue;
        }
        let mut intruders = Vec::new();
        for source in &sources {
            if matches!(source, Source::Pod(pod) if pod.object.name == target.object.name) {
                continue;
            }
            let needed = reason(source, service);
            match (needed, admits(manifests, source, target, port)) {
                (Some(why), false) => problems.push(blame(format!(
                    "{} cannot connect to port {port} of the {service} service, but it must: {why}",
                    source.describe()
                ))),
                (None, true) => intruders.push(source.describe()),
                _ => {}
            }
        }
        if !intruders.is_empty() {
            problems.push(blame(format!(
                "lets {} connect to port {port} of the {service} service, but only {} should: anything that \
                 reaches it can send it requests the page never makes{}",
                listed(&intruders),
                expected(&sources, target, service),
                if service.subscribes() {
                    ", such as forged events on POST /events"
                } else if service == BlogService::EventBus {
                    ", such as events nobody emitted"
                } else {
                    ""
                }
            )));
        }
    }
    problems
}
// ANCHOR_END: policies

/// `the event-bus service and the ingress controller`.
fn expected(sources: &[Source], target: &Pod, service: BlogService) -> String {
    let wanted: Vec<String> = sources
        .iter()
        .filter(|s| !matches!(s, Source::Pod(pod) if pod.object.name == target.object.name))
        .filter(|s| reason(s, service).is_some())
        .map(Source::describe)
        .collect();
    if wanted.is_empty() {
        names(&[])
    } else {
        listed(&wanted)
    }
}

/// Every policy is in the blog's namespace and selects real pods, and every
/// `podSelector` of its rules names pods that exist: a misspelt label
/// selects nothing, and the policy silently keeps everyone out.
fn selectors(manifests: &Manifests, pods: &[Pod]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let real = |selector: &LabelSelector| pods.iter().any(|pod| selects(selector, &pod.labels()));
    let show = |selector: &LabelSelector| {
        let pairs: Vec<String> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{{{}}}", pairs.join(", "))
    };
    for (object, policy) in manifests.network_policies() {
        if !in_blog_namespace(policy) {
            problems.push(object.problem(format!(
                "is in the namespace {:?}, but the blog runs in {NAMESPACE:?}: it would select none of its pods",
                policy.metadata.namespace.as_deref().unwrap_or_default()
            )));
            continue;
        }
        let Some(spec) = policy.spec.as_ref() else {
            problems.push(object.problem("has no spec"));
            continue;
        };
        let own = spec.pod_selector.clone().unwrap_or_default();
        if !real(&own) {
            problems.push(object.problem(format!(
                "its podSelector {} selects no pod of any Deployment, so it protects nothing; \
                 compare it with the pods' labels (spec.template.metadata.labels)",
                show(&own)
            )));
        }
        for rule in spec.ingress.iter().flatten() {
            for peer in rule.from.iter().flatten() {
                if peer.namespace_selector.is_none()
                    && let Some(selector) = &peer.pod_selector
                    && !real(selector)
                {
                    problems.push(object.problem(format!(
                        "lets in the pods labelled {}, but no Deployment's pods have these labels: \
                         the pods it means to let in are kept out",
                        show(selector)
                    )));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_follow_labels_and_expressions() {
        let selector: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "posts"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test"]}]
        }))
        .unwrap();
        assert!(selects(&selector, &labels(&[("app", "posts")])));
        assert!(!selects(
            &selector,
            &labels(&[("app", "posts"), ("tier", "test")])
        ));
        assert!(!selects(&selector, &labels(&[("app", "query")])));
        assert!(
            selects(&LabelSelector::default(), &labels(&[])),
            "empty selects all"
        );
    }

    #[test]
    fn a_peer_without_a_namespace_selector_is_the_policys_own_namespace() {
        let peer: NetworkPolicyPeer =
            serde_json::from_value(serde_json::json!({"podSelector": {}})).unwrap();
        assert!(peer_admits(&peer, &Source::StrangerHere));
        assert!(!peer_admits(&peer, &Source::StrangerElsewhere));
        assert!(!peer_admits(&peer, &Source::IngressController));
        assert!(!peer_admits(&peer, &Source::Outside));
        let ingress: NetworkPolicyPeer = serde_json::from_value(serde_json::json!({
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: INGRESS_NAMESPACE}}
        }))
        .unwrap();
        assert!(peer_admits(&ingress, &Source::IngressController));
        assert!(!peer_admits(&ingress, &Source::StrangerHere));
    }
}
