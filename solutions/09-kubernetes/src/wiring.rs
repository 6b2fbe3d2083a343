//! How the pieces find each other: Services select pods, ports line up from
//! Service to container to program, URLs in the environment name real
//! Services, and the ingress's backends exist.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::load::{Manifests, Problem};
use crate::pods::{Pod, show_port};
use crate::system::{
    BlogService, CORS_ORIGINS, HOST, PAGE_ORIGIN, browser_links, called_by_the_page, pod_links,
};

/// The pods a Service sends traffic to: those whose labels include all of
/// its selector. A Service without a selector selects nothing.
pub fn selected<'p, 'a>(service: &Service, pods: &'p [Pod<'a>]) -> Vec<&'p Pod<'a>> {
    let selector = selector_of(service);
    if selector.is_empty() {
        return Vec::new();
    }
    pods.iter()
        .filter(|pod| includes(&pod.labels(), &selector))
        .collect()
}

/// The `port`s a Service offers (what a URL that names it must use).
fn port_numbers(service: &Service) -> Vec<i32> {
    let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .iter()
        .flat_map(|p| p.iter().map(|p| p.port))
        .collect()
}

fn selector_of(service: &Service) -> BTreeMap<String, String> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

fn includes(labels: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn show_labels(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

// ANCHOR: selectors
/// Every Deployment's selector matches its own pods, and every Service
/// selects the pods of exactly one Deployment.
pub fn selectors(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let selector = &pod.deployment.spec.selector;
        let match_labels = selector.match_labels.clone().unwrap_or_default();
        if selector.match_expressions.is_some() {
            problems.push(pod.object.problem(
                "uses selector.matchExpressions, which these checks do not follow; use matchLabels",
            ));
        } else if match_labels.is_empty() {
            problems.push(
                pod.object.problem(
                    "has no selector.matchLabels: it would not know which pods are its own",
                ),
            );
        } else if !includes(&pod.labels(), &match_labels) {
            problems.push(pod.object.problem(format!(
                "selects {} but its pod template has the labels {}: the cluster refuses a Deployment whose selector does not match its own pods",
                show_labels(&match_labels),
                show_labels(&pod.labels())
            )));
        }
    }
    let everyone: Vec<String> = pods
        .iter()
        .map(|p| format!("{} {}", p.object.name, show_labels(&p.labels())))
        .collect();
    for (object, service) in manifests.services() {
        let selector = selector_of(service);
        if selector.is_empty() {
            problems.push(object.problem("has no selector, so it sends traffic to no pod"));
            continue;
        }
        match selected(service, &pods).as_slice() {
            [] => problems.push(object.problem(format!(
                "selects the pods labelled {}, but no Deployment's pod template has all these labels \
                 (the pods are: {}); compare the selector with spec.template.metadata.labels",
                show_labels(&selector),
                everyone.join("; ")
            ))),
            [_] => {}
            several => {
                let names: Vec<&str> = several.iter().map(|p| p.object.name.as_str()).collect();
                problems.push(object.problem(format!(
                    "selects the pods of several Deployments ({}): requests would be shared between different programs",
                    names.join(", ")
                )));
            }
        }
    }
    problems
}
// ANCHOR_END: selectors

// ANCHOR: ports
/// Service `targetPort` = the container's `containerPort` = the port the
/// program really listens on (`PORT`, or its default).
pub fn ports(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let Some(listen) = pod.listen_port() else {
            if let Some(port) = pod.env.get("PORT") {
                problems.push(
                    pod.object
                        .problem(format!("PORT is {port:?}, which is not a port number")),
                );
            }
            continue;
        };
        let declared: Vec<i32> = pod
            .container
            .ports
            .iter()
            .flatten()
            .map(|p| p.container_port)
            .collect();
        if !declared.contains(&listen) {
            problems.push(pod.object.problem(format!(
                "{} listens on {listen}, but its container declares the ports {declared:?}: \
                 add `containerPort: {listen}`",
                pod.describe()
            )));
        }
    }
    for (object, service) in manifests.services() {
        let spec = service.spec.as_ref();
        let service_ports = spec.and_then(|s| s.ports.clone()).unwrap_or_default();
        if service_ports.is_empty() {
            problems.push(object.problem("has no ports"));
        }
        for pod in selected(service, &pods) {
            let Some(listen) = pod.listen_port() else {
                continue;
            };
            for port in &service_ports {
                let target = port
                    .target_port
                    .clone()
                    .unwrap_or(IntOrString::Int(port.port));
                match pod.resolve_port(&target) {
                    None => problems.push(object.problem(format!(
                        "port {} has targetPort {}, which is not the name of a port of {}'s container",
                        port.port,
                        show_port(&target),
                        pod.object.name
                    ))),
                    Some(target) if target != listen => problems.push(object.problem(format!(
                        "port {} sends traffic to targetPort {target}, but {} listens on {listen}: \
                         set `targetPort: {listen}`",
                        port.port,
                        pod.describe()
                    ))),
                    Some(_) => {}
                }
            }
        }
        if spec.and_then(|s| s.type_.as_deref()) == Some("NodePort") {
            for port in &service_ports {
                if let Some(node_port) = port.node_port
                    && !(30000..=32767).contains(&node_port)
                {
                    problems.push(object.problem(format!(
                        "nodePort {node_port} is outside the range a cluster hands out (30000-32767)"
                    )));
                }
            }
        }
    }
    problems
}
// ANCHOR_END: ports

/// A URL found in an environment variable: `http://host:port/...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub text: String,
    pub host: String,
    pub port: i32,
}

/// The URLs in a variable's value (one, or a comma-separated list).
pub fn urls_in(value: &str) -> Vec<Url> {
    value
        .split(',')
        .map(str::trim)
        .filter_map(|text| {
            let (rest, default_port) = if let Some(rest) = text.strip_prefix("http://") {
                (rest, 80)
            } else {
                (text.strip_prefix("https://")?, 443)
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().unwrap_or(-1)),
                None => (authority, default_port),
            };
            Some(Url {
                text: text.to_string(),
                host: host.to_ascii_lowercase(),
                port,
            })
        })
        .collect()
}

/// The Service a host name reaches from a pod in the same namespace:
/// `query-srv`, `query-srv.default`, `query-srv.default.svc.cluster.local`.
pub fn service_name(host: &str) -> Option<&str> {
    for suffix in [".default.svc.cluster.local", ".default.svc", ".default", ""] {
        if let Some(name) = host.strip_suffix(suffix)
            && !name.is_empty()
            && !name.contains('.')
        {
            return Some(name);
        }
    }
    None
}

// ANCHOR: env_urls
/// Every URL in a pod's environment names an existing Service and one of
/// its ports, and reaches the service that variable is meant for.
pub fn env_urls(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        for var in pod.container.env.iter().flatten() {
            if var.value_from.is_some() && !crate::nats::is_own_identity(var) {
                problems.push(pod.object.problem(format!(
                    "{} comes from valueFrom, which these checks (and the Docker rehearsal) cannot follow: give its value inline",
                    var.name
                )));
            }
        }
        if let Some(host) = pod.env.get("HOST")
            && matches!(host.trim(), "127.0.0.1" | "localhost" | "::1")
        {
            problems.push(pod.object.problem(format!(
                "HOST is {host}: the program would listen only on the pod's own loopback, where neither \
                 the Service nor the probes can reach it; leave HOST out (the image sets 0.0.0.0)"
            )));
        }
        // URLs the browser uses: the page's own origin, which the ingress routes.
        let mut for_the_browser = vec![CORS_ORIGINS];
        for link in pod.service.into_iter().flat_map(browser_links) {
            for_the_browser.push(link.variable);
            match pod.env.get(link.variable).map(|v| v.trim()) {
                Some("") => {}
                None => problems.push(pod.object.problem(format!(
                    "{} is not set, so the page would call http://localhost:...; set it to \"\" \
                     so the browser calls {HOST}, the page's own origin, and the ingress routes the call",
                    link.variable
                ))),
                Some(value) => problems.push(pod.object.problem(format!(
                    "{} is {value:?}, but this URL is used by the BROWSER, which cannot reach \
                     the cluster's Services by name; set it to \"\" (the page's own origin, {HOST})",
                    link.variable
                ))),
            }
        }
        // Every other URL must name a Service and one of its ports.
        let mut unreachable = false;
        for (name, value) in &pod.env {
            if for_the_browser.contains(&name.as_str()) {
                continue;
            }
            for url in urls_in(value) {
                let message = match reach(manifests, &pods, &url) {
                    Ok(reached) if reached.is_empty() => format!(
                        "the Service {} selects no pod, so nothing answers there (check its selector)",
                        service_name(&url.host).unwrap_or_default()
                    ),
                    Ok(_) => continue,
                    Err(message) => message,
                };
                unreachable = true;
                problems.push(
                    pod.object
                        .problem(format!("{name} has {}: {message}", url.text)),
                );
            }
        }
        let Some(service) = pod.service else { continue };
        if unreachable {
            continue;
        }
        // And reach the services the catalogue says it is for.
        for link in pod_links(service) {
            // On NATS (chapter 10) the bus is no Service of the blog: the
            // NATS checks follow those URLs (`nats::bus_urls`).
            if crate::nats::on_nats(pod, link) {
                continue;
            }
            let Some(value) = pod.env.get(link.variable) else {
                if link.required {
                    problems.push(pod.object.problem(format!(
                        "{} is not set, so the {service} service would use localhost, which in a pod is the pod itself; \
                         set it to the URL of the {} Service",
                        link.variable,
                        names(link.to)
                    )));
                }
                continue;
            };
            let mut reached: Vec<BlogService> = urls_in(value)
                .iter()
                .filter_map(|url| reach(manifests, &pods, url).ok())
                .flatten()
                .collect();
            reached.sort();
            let mut wanted = link.to.to_vec();
            wanted.sort();
            if reached != wanted {
                problems.push(pod.object.problem(format!(
                    "{} reaches {}, but it must reach {}",
                    link.variable,
                    names(&reached),
                    names(&wanted)
                )));
            }
        }
    }
    problems
}
// ANCHOR_END: env_urls

// ANCHOR: cors
/// The services the page calls allow its origin, http://posts.com (and
/// only real origins); the others allow no browser at all.
pub fn cors(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    let called = called_by_the_page();
    for pod in &pods {
        let Some(service) = pod.service else { continue };
        let value = pod.env.get(CORS_ORIGINS);
        if !called.contains(&service) {
            if let Some(value) = value {
                problems.push(pod.object.problem(format!(
                    "sets {CORS_ORIGINS} to {value:?}, but the page never calls the {service} service: \
                     leave it out, so that no web page may call it from a browser"
                )));
            }
            continue;
        }
        let Some(value) = value else {
            problems.push(pod.object.problem(format!(
                "{CORS_ORIGINS} is not set, so the {service} service allows the pages of its default \
                 origins (the client on localhost:3000), which in the cluster are no page of the blog; \
                 set it to {PAGE_ORIGIN}, where the page is"
            )));
            continue;
        };
        let origins: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        for origin in &origins {
            if *origin == "*" {
                problems.push(pod.object.problem(format!(
                    "{CORS_ORIGINS} allows every origin (\"*\"): any page on the web could call the \
                     {service} service from its visitors' browsers; allow only {PAGE_ORIGIN}"
                )));
            } else if !is_origin(origin) {
                problems.push(pod.object.problem(format!(
                    "{CORS_ORIGINS} holds {origin:?}, which is not an origin (scheme://host[:port], \
                     no path, no trailing slash): a browser sends its Origin header in exactly that \
                     form, so this entry would never match"
                )));
            }
        }
        if !origins.contains(&PAGE_ORIGIN) {
            problems.push(pod.object.problem(format!(
                "{CORS_ORIGINS} is {value:?}, which leaves out {PAGE_ORIGIN}, the origin of the page \
                 that calls the {service} service"
            )));
        }
    }
    problems
}
// ANCHOR_END: cors

/// `http://posts.com` or `https://localhost:3000`: what a browser sends as `Origin`.
fn is_origin(text: &str) -> bool {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ']))
}

/// `the query service and the posts service`, or `no service`.
pub fn names(services: &[BlogService]) -> String {
    if services.is_empty() {
        return "no service".into();
    }
    let named: Vec<String> = services
        .iter()
        .map(|s| format!("the {s} service"))
        .collect();
    listed(&named)
}

/// `a`, `a and b`, `a, b and c`.
pub fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The blog services a URL reaches, or why it reaches none.
fn reach(manifests: &Manifests, pods: &[Pod], url: &Url) -> Result<Vec<BlogService>, String> {
    if matches!(url.host.as_str(), "localhost" | "127.0.0.1" | "::1") {
        return Err("localhost inside a pod is the pod itself; name the Service instead".into());
    }
    let Some(name) = service_name(&url.host) else {
        return Err(format!(
            "{} is not the name of a Service in this namespace",
            url.host
        ));
    };
    let Some((_, service)) = manifests.service(name) else {
        let known: Vec<&str> = manifests.services().map(|(o, _)| o.name.as_str()).collect();
        return Err(format!(
            "there is no Service called {name} (the Services are: {})",
            known.join(", ")
        ));
    };
    let ports = port_numbers(service);
    if !ports.contains(&url.port) {
        return Err(format!(
            "the Service {name} has the ports {ports:?}, not {} (a URL uses the Service's `port`, not its targetPort)",
            url.port
        ));
    }
    Ok(selected(service, pods)
        .iter()
        .filter_map(|pod| pod.service)
        .collect())
}

// ANCHOR: ingress_backends
/// Every backend of every Ingress is an existing Service and one of its ports.
pub fn ingress_backends(manifests: &Manifests) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (object, ingress) in manifests.ingresses() {
        let Some(spec) = ingress.spec.as_ref() else {
            problems.push(object.problem("has no spec"));
            continue;
        };
        let mut backends = Vec::new();
        if let Some(backend) = &spec.default_backend {
            backends.push(("its defaultBackend".to_string(), backend));
        }
        for rule in spec.rules.iter().flatten() {
            for path in rule.http.iter().flat_map(|h| &h.paths) {
                let shown = path.path.as_deref().unwrap_or("/");
                backends.push((format!("the path {shown}"), &path.backend));
            }
        }
        for (what, backend) in backends {
            let Some(target) = &backend.service else {
                problems.push(object.problem(format!("{what} has no service backend")));
                continue;
            };
            let Some((_, service)) = manifests.service(&target.name) else {
                problems.push(object.problem(format!(
                    "{what} goes to the Service {}, which does not exist",
                    target.name
                )));
                continue;
            };
            let ports = service
                .spec
                .as_ref()
                .and_then(|s| s.ports.clone())
                .unwrap_or_default();
            let port = target.port.as_ref();
            let found = match (
                port.and_then(|p| p.number),
                port.and_then(|p| p.name.as_deref()),
            ) {
                (Some(number), _) => ports.iter().any(|p| p.port == number),
                (None, Some(name)) => ports.iter().any(|p| p.name.as_deref() == Some(name)),
                (None, None) => false,
            };
            if !found {
                let listed: Vec<i32> = ports.iter().map(|p| p.port).collect();
                problems.push(object.problem(format!(
                    "{what} goes to port {:?} of the Service {}, which has the ports {listed:?}",
                    port.map(|p| p.number.map_or(p.name.clone().unwrap_or_default(), |n| n.to_string()))
                        .unwrap_or_default(),
                    target.name
                )));
            }
        }
    }
    problems
}
// ANCHOR_END: ingress_backends

/// Every service of the blog can be reached: a ClusterIP Service for the
/// others (and the ingress), and a NodePort Service for posts from outside.
pub fn service_coverage(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    let reaching = |pod: &Pod, kind: &str| {
        manifests.services().any(|(_, service)| {
            let type_ = service
                .spec
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .unwrap_or("ClusterIP");
            type_ == kind
                && selected(service, &pods)
                    .iter()
                    .any(|p| p.object.name == pod.object.name)
        })
    };
    for pod in &pods {
        let Some(service) = pod.service else { continue };
        if !reaching(pod, "ClusterIP") {
            problems.push(pod.object.problem(format!(
                "no ClusterIP Service selects its pods, so the other services have no name to reach the {} service by",
                service.name()
            )));
        }
        // The port everything else knows the service by (localhost, Docker, the book).
        let port = i32::from(service.default_port());
        for (object, k8s_service) in manifests.services() {
            let ports = port_numbers(k8s_service);
            let selects_it = selected(k8s_service, &pods)
                .iter()
                .any(|p| p.object.name == pod.object.name);
            if selects_it && !ports.is_empty() && !ports.contains(&port) {
                problems.push(object.problem(format!(
                    "offers the {service} service on the ports {ports:?}, but the {service} service's port is {port} \
                     everywhere else (on localhost, in Docker, in the other services' defaults): give it `port: {port}`"
                )));
            }
        }
        if service == BlogService::Posts && !reaching(pod, "NodePort") {
            problems.push(pod.object.problem(
                "no NodePort Service selects its pods, so the posts service cannot be tried from outside the cluster \
                 (`minikube service posts-srv --url`)",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_from_single_values_and_lists() {
        let urls = urls_in("http://posts-clusterip-srv:4000, https://query-srv/x,not a url");
        let found: Vec<(&str, i32)> = urls.iter().map(|u| (u.host.as_str(), u.port)).collect();
        assert_eq!(found, [("posts-clusterip-srv", 4000), ("query-srv", 443)]);
        assert!(urls_in("").is_empty());
    }

    #[test]
    fn origins_have_no_path() {
        assert!(is_origin("http://posts.com"));
        assert!(is_origin("http://localhost:3000"));
        assert!(!is_origin("http://posts.com/"));
        assert!(!is_origin("posts.com"));
        assert!(!is_origin("http://"));
    }

    #[test]
    fn service_names_may_be_short_or_fully_qualified() {
        assert_eq!(service_name("query-srv"), Some("query-srv"));
        assert_eq!(
            service_name("query-srv.default.svc.cluster.local"),
            Some("query-srv")
        );
        assert_eq!(service_name("example.com"), None);
    }
}
