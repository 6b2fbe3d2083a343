//! Where ingress-nginx sends a request, worked out from the Ingress objects
//! the way the controller does it, so we can ask "which service answers
//! `POST /posts/create` on posts.com?" without a cluster.
//!
//! With `nginx.ingress.kubernetes.io/use-regex: "true"` every path of the
//! host becomes an nginx `location ~* "^<path>"`: a regular expression,
//! case-insensitive, matched from the START of the request's path (not to
//! its end). nginx takes the first regex location that matches, in the
//! order the controller writes them: sorted by path, then (stable) longest
//! path first. The method plays no part: an ingress routes by path only.

use k8s_openapi::api::networking::v1::Ingress;
use regex::{Regex, RegexBuilder};

use crate::load::{Manifests, Object, Problem};
use crate::pods::Pod;
use crate::system::{BlogService, CLIENT_CALLS, HOST};
use crate::wiring::{names, selected};

const USE_REGEX: &str = "nginx.ingress.kubernetes.io/use-regex";

/// One path of an Ingress, as ingress-nginx turns it into an nginx location.
#[derive(Clone, Debug)]
pub struct Location {
    /// `Ingress ingress-srv` in `k8s/ingress.yaml`, for messages.
    pub ingress: String,
    pub file: String,
    pub path: String,
    pub path_type: String,
    /// The Service it sends requests to.
    pub service: String,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum Matcher {
    Regex(Regex),
    Exact,
    /// `Prefix`: whole path segments (`/posts` matches `/posts/1`, not `/postsx`).
    Segments,
    /// `ImplementationSpecific` without regex: nginx's plain string prefix.
    Text,
}

/// The locations ingress-nginx would write for one host, in the order nginx tries them.
#[derive(Clone, Debug)]
pub struct Router {
    pub host: String,
    pub use_regex: bool,
    pub locations: Vec<Location>,
}

impl Router {
    /// The router for `host`, from every nginx Ingress that has a rule for it.
    pub fn for_host(manifests: &Manifests, host: &str) -> Result<Router, Vec<Problem>> {
        let ingresses: Vec<(&Object, &Ingress)> = manifests
            .ingresses()
            .filter(|(_, ingress)| {
                let class = ingress
                    .spec
                    .as_ref()
                    .and_then(|s| s.ingress_class_name.as_deref());
                class.is_none_or(|c| c == "nginx")
            })
            .collect();
        // The annotation on any Ingress of the host turns regex on for all its paths.
        let use_regex = ingresses.iter().any(|(_, ingress)| {
            ingress
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(USE_REGEX))
                .is_some_and(|v| v == "true")
        });
        let mut locations = Vec::new();
        let mut problems = Vec::new();
        for (object, ingress) in &ingresses {
            let rules = ingress.spec.as_ref().and_then(|s| s.rules.as_ref());
            for rule in rules.into_iter().flatten() {
                if rule.host.as_deref().is_some_and(|h| h != host) {
                    continue;
                }
                for path in rule.http.iter().flat_map(|h| &h.paths) {
                    let text = path.path.clone().unwrap_or_else(|| "/".to_string());
                    let matcher = if use_regex {
                        match RegexBuilder::new(&format!("^{text}"))
                            .case_insensitive(true)
                            .build()
                        {
                            Ok(regex) => Matcher::Regex(regex),
                            Err(error) => {
                                problems.push(object.problem(format!(
                                    "the path {text} is not a valid regular expression: {error}"
                                )));
                                continue;
                            }
                        }
                    } else {
                        match path.path_type.as_str() {
                            "Exact" => Matcher::Exact,
                            "Prefix" => Matcher::Segments,
                            _ => Matcher::Text,
                        }
                    };
                    locations.push(Location {
                        ingress: object.describe(),
                        file: object.file.clone(),
                        path: text,
                        path_type: path.path_type.clone(),
                        service: path
                            .backend
                            .service
                            .as_ref()
                            .map(|s| s.name.clone())
                            .unwrap_or_default(),
                        matcher,
                    });
                }
            }
        }
        // ingress-nginx: sort by path (descending), then stable by length (longest first).
        locations.sort_by(|a, b| b.path.cmp(&a.path));
        locations.sort_by_key(|l| std::cmp::Reverse(l.path.len()));
        if problems.is_empty() {
            Ok(Router {
                host: host.to_string(),
                use_regex,
                locations,
            })
        } else {
            Err(problems)
        }
    }

    // ANCHOR: route
    /// The location that answers a request for `path` (the method does not matter).
    pub fn route(&self, path: &str) -> Option<&Location> {
        if self.use_regex {
            return self
                .locations
                .iter()
                .find(|location| match &location.matcher {
                    Matcher::Regex(regex) => regex.is_match(path),
                    _ => false,
                });
        }
        if let Some(exact) = self
            .locations
            .iter()
            .find(|l| matches!(l.matcher, Matcher::Exact) && l.path == path)
        {
            return Some(exact);
        }
        // Otherwise the longest matching prefix (the list is longest first).
        self.locations
            .iter()
            .find(|location| match location.matcher {
                Matcher::Segments => {
                    let prefix = location.path.trim_end_matches('/');
                    prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
                }
                Matcher::Text => path.starts_with(&location.path),
                _ => false,
            })
    }
    // ANCHOR_END: route
}

/// Every Ingress is for ingress-nginx and posts.com; regex paths are declared as such.
pub fn ingress_rules(manifests: &Manifests) -> Vec<Problem> {
    let mut problems = Vec::new();
    if manifests.ingresses().next().is_none() {
        problems.push(manifests.problem(
            "Ingress",
            format!(
                "there is no Ingress, so nothing answers http://{HOST}/ from outside the cluster"
            ),
        ));
    }
    for (object, ingress) in manifests.ingresses() {
        let spec = ingress.spec.as_ref();
        match spec.and_then(|s| s.ingress_class_name.as_deref()) {
            Some("nginx") => {}
            other => problems.push(object.problem(format!(
                "ingressClassName is {other:?}: minikube's ingress addon (ingress-nginx) handles the class \"nginx\""
            ))),
        }
        let rules = spec.and_then(|s| s.rules.clone()).unwrap_or_default();
        if !rules.iter().any(|r| r.host.as_deref() == Some(HOST)) {
            problems.push(object.problem(format!("has no rule for the host {HOST}")));
        }
        let use_regex = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(USE_REGEX))
            .is_some_and(|v| v == "true");
        for path in rules
            .iter()
            .flat_map(|r| r.http.iter().flat_map(|h| &h.paths))
        {
            let text = path.path.as_deref().unwrap_or("/");
            let is_regex = text.contains(['?', '(', ')', '*', '[', '+', '|', '$', '\\', '{']);
            if is_regex && !use_regex {
                problems.push(object.problem(format!(
                    "the path {text} is a regular expression, but the annotation {USE_REGEX}: \"true\" is missing, \
                     so ingress-nginx would take it literally"
                )));
            }
            if is_regex && path.path_type != "ImplementationSpecific" {
                problems.push(object.problem(format!(
                    "the path {text} is a regular expression with pathType {}: ingress-nginx accepts \
                     regular expressions only with pathType ImplementationSpecific",
                    path.path_type
                )));
            }
        }
    }
    problems
}

// ANCHOR: routing
/// Every call the page makes on posts.com reaches the service that answers it.
pub fn routing(manifests: &Manifests) -> Vec<Problem> {
    let router = match Router::for_host(manifests, HOST) {
        Ok(router) => router,
        Err(problems) => return problems,
    };
    let (pods, mut problems) = Pod::all(manifests);
    let order: Vec<&str> = router.locations.iter().map(|l| l.path.as_str()).collect();
    for call in CLIENT_CALLS {
        let request = format!("{} http://{HOST}{}", call.method, call.path);
        let Some(location) = router.route(call.path) else {
            problems.push(manifests.problem(
                "Ingress",
                format!(
                    "{request} matches no path of any Ingress (they are tried in this order: {order:?}), \
                     so ingress-nginx answers 404; the {} service must answer it",
                    call.service
                ),
            ));
            continue;
        };
        let reached: Vec<BlogService> = match manifests.service(&location.service) {
            Some((_, service)) => selected(service, &pods)
                .iter()
                .filter_map(|pod| pod.service)
                .collect(),
            None => Vec::new(),
        };
        if reached != [call.service] {
            let landed = match reached.as_slice() {
                [] => "no pod (check the Service's selector)".to_string(),
                several => names(several),
            };
            problems.push(Problem {
                file: location.file.clone(),
                object: location.ingress.clone(),
                message: format!(
                    "{request} goes to the Service {} (the path {} matches it first; paths are tried in this order: {order:?}), \
                     which reaches {landed}; the {} service must answer it",
                    location.service, location.path, call.service
                ),
            });
        }
    }
    // And no service's events endpoint is open to the world: the
    // NetworkPolicies let the ingress controller connect to posts, comments
    // and query, so it is the ingress that must keep their `/events` inside.
    for path in ["/events", "/events/batch"] {
        let Some(location) = router.route(path) else {
            continue;
        };
        let reached: Vec<BlogService> = match manifests.service(&location.service) {
            Some((_, service)) => selected(service, &pods)
                .iter()
                .filter_map(|pod| pod.service)
                .filter(|s| s.subscribes() || *s == BlogService::EventBus)
                .collect(),
            None => Vec::new(),
        };
        if !reached.is_empty() {
            problems.push(Problem {
                file: location.file.clone(),
                object: location.ingress.clone(),
                message: format!(
                    "POST http://{HOST}{path} goes to the Service {} (the path {} matches it), which is {}: \
                     anyone who can reach {HOST} could post forged events; no path may send {path} to a service",
                    location.service,
                    location.path,
                    names(&reached)
                ),
            });
        }
    }
    problems
}
// ANCHOR_END: routing

#[cfg(test)]
mod tests {
    use super::*;

    fn router(paths: &[&str], regex: bool) -> Router {
        let annotation = if regex {
            "  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"
        } else {
            ""
        };
        let mut text = format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: in\n{annotation}spec:\n  ingressClassName: nginx\n  rules:\n    - host: posts.com\n      http:\n        paths:\n"
        );
        for (index, path) in paths.iter().enumerate() {
            let (path, path_type) = path
                .split_once(' ')
                .unwrap_or((path, "ImplementationSpecific"));
            text.push_str(&format!(
                "          - path: {path}\n            pathType: {path_type}\n            backend:\n              service:\n                name: s{index}\n                port:\n                  number: 80\n"
            ));
        }
        let manifests = Manifests::parse("k8s", &[("ingress.yaml", &text)]).unwrap();
        Router::for_host(&manifests, "posts.com").unwrap()
    }

    fn service_for(router: &Router, path: &str) -> String {
        router
            .route(path)
            .map(|l| l.service.clone())
            .unwrap_or_else(|| "404".into())
    }

    #[test]
    fn the_blogs_paths_route_every_call_like_ingress_nginx() {
        // Listed in a different order from the sorted one on purpose.
        let r = router(
            &["/?(.*)", "/posts", "/posts/create", "/posts/?(.*)/comments"],
            true,
        );
        let order: Vec<&str> = r.locations.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            order,
            ["/posts/?(.*)/comments", "/posts/create", "/posts", "/?(.*)"]
        );
        assert_eq!(service_for(&r, "/posts/create"), "s2");
        assert_eq!(service_for(&r, "/posts/abc123/comments"), "s3");
        assert_eq!(service_for(&r, "/posts"), "s1");
        assert_eq!(service_for(&r, "/"), "s0");
        assert_eq!(service_for(&r, "/app.js"), "s0");
        // Matched from the start only, and regardless of case.
        assert_eq!(service_for(&r, "/POSTS/CREATE"), "s2");
        assert_eq!(
            service_for(&r, "/posts/createX"),
            "s2",
            "a regex location is not anchored at the end"
        );
    }

    #[test]
    fn equal_lengths_are_ordered_by_path_descending() {
        // "/posts" and "/?(.*)" are both 6 long: "/p" sorts after "/?", so /posts goes first.
        let r = router(&["/?(.*)", "/posts"], true);
        assert_eq!(service_for(&r, "/posts"), "s1");
        let r = router(&["/posts", "/?(.*)"], true);
        assert_eq!(service_for(&r, "/posts"), "s0");
    }

    #[test]
    fn without_the_comments_path_a_comment_lands_on_the_query_service() {
        let r = router(&["/posts/create", "/posts", "/?(.*)"], true);
        assert_eq!(service_for(&r, "/posts/abc/comments"), "s1");
    }

    #[test]
    fn without_regex_prefixes_match_whole_segments_and_exact_wins() {
        let r = router(&["/ Prefix", "/posts Prefix", "/posts/create Exact"], false);
        assert_eq!(service_for(&r, "/posts/create"), "s2");
        assert_eq!(service_for(&r, "/posts/1/comments"), "s1");
        assert_eq!(service_for(&r, "/postsx"), "s0");
    }

    #[test]
    fn regex_paths_need_the_annotation_and_implementation_specific() {
        let text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: in\nspec:\n  ingressClassName: nginx\n  rules:\n    - host: posts.com\n      http:\n        paths:\n          - path: /?(.*)\n            pathType: Prefix\n            backend:\n              service:\n                name: s\n                port:\n                  number: 80\n";
        let manifests = Manifests::parse("k8s", &[("ingress.yaml", text)]).unwrap();
        let problems: Vec<String> = ingress_rules(&manifests)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].contains("annotation"), "{problems:#?}");
        assert!(
            problems[1].contains("ImplementationSpecific"),
            "{problems:#?}"
        );
    }
}
