//! What the manifests must agree with: the image the build produces, and for
//! each service of the blog its port, its data and who it talks to.
//!
//! The facts about the services themselves (names, ports, data, links,
//! who subscribes to the bus) are the blog's service catalogue
//! (`crates/catalogue`), read here, never copied: a service added there is
//! checked here at once. What is written in this file is about Kubernetes
//! alone: the image, the host name of the ingress, the page's calls.

/// A service of the blog, as the catalogue knows it. Called `BlogService`
/// here, because the manifests have Kubernetes Services too.
pub use blog_catalogue::{Link, Service as BlogService};

/// The image `docker build -t blog:0.1.0 .` (or `minikube image build`) produces:
/// one image for every service, the service chosen by its first argument.
pub const IMAGE: &str = "blog:0.1.0";

/// What the image sets, so a manifest that leaves them out still works:
/// listen on every interface of the pod, keep data under /data.
pub const IMAGE_ENV: [(&str, &str); 2] = [("HOST", "0.0.0.0"), ("DATA_DIR", "/data")];

/// The image's user (a non-root uid; 65532 is the usual "nonroot").
pub const IMAGE_USER: i64 = 65532;

/// The host name the ingress answers for (an `/etc/hosts` entry points it at minikube).
pub const HOST: &str = "posts.com";

/// Where the browser loads the page from in the cluster: the only origin
/// whose scripts may call the blog's APIs (CORS).
pub const PAGE_ORIGIN: &str = "http://posts.com";

/// The variable through which a service learns which origins' pages may
/// call it from a browser (comma-separated; the services' default is the
/// client on localhost:3000, which in the cluster is not where the page is).
pub const CORS_ORIGINS: &str = "CORS_ORIGINS";

/// The service a Deployment runs, from the first of its `args`.
pub fn blog_service(name: &str) -> Option<BlogService> {
    BlogService::from_name(name)
}

/// The links a service follows itself, from its pod: their URLs must name
/// cluster Services.
pub fn pod_links(service: BlogService) -> impl Iterator<Item = &'static Link> {
    service.links().iter().filter(|link| !link.from_browser)
}

/// The links the service hands to the BROWSER (the client's `POSTS_URL`,
/// ...): cluster names mean nothing there, so in the cluster they are empty,
/// which means the page's own origin, http://posts.com, where the ingress
/// sends each path to the right service.
pub fn browser_links(service: BlogService) -> impl Iterator<Item = &'static Link> {
    service.links().iter().filter(|link| link.from_browser)
}

/// The services the page calls from the browser: they must allow its origin (CORS).
pub fn called_by_the_page() -> Vec<BlogService> {
    let mut called: Vec<BlogService> = BlogService::ALL
        .into_iter()
        .flat_map(|service| browser_links(service).flat_map(|link| link.to.iter().copied()))
        .collect();
    called.sort();
    called.dedup();
    called
}

// ANCHOR: client_calls
/// A request the page makes to http://posts.com, and the service that must answer it.
#[derive(Clone, Copy, Debug)]
pub struct ClientCall {
    pub method: &'static str,
    pub path: &'static str,
    pub service: BlogService,
}

/// Everything the browser asks posts.com for (`5f2c9a1e0b7d4c36` stands for any post id).
pub const CLIENT_CALLS: [ClientCall; 7] = [
    ClientCall {
        method: "GET",
        path: "/",
        service: BlogService::Client,
    },
    ClientCall {
        method: "GET",
        path: "/app.js",
        service: BlogService::Client,
    },
    ClientCall {
        method: "GET",
        path: "/config.js",
        service: BlogService::Client,
    },
    ClientCall {
        method: "GET",
        path: "/posts",
        service: BlogService::Query,
    },
    ClientCall {
        method: "POST",
        path: "/posts/create",
        service: BlogService::Posts,
    },
    ClientCall {
        method: "POST",
        path: "/posts/5f2c9a1e0b7d4c36/comments",
        service: BlogService::Comments,
    },
    ClientCall {
        method: "GET",
        path: "/style.css",
        service: BlogService::Client,
    },
];
// ANCHOR_END: client_calls

/// The namespace the blog is deployed in (`kubectl apply` without `-n`).
pub const NAMESPACE: &str = "default";

/// Where minikube's ingress addon runs ingress-nginx's controller: its
/// namespace and its pods' labels. The ingress is a pod like any other, so a
/// NetworkPolicy must let it in where it sends the page's requests.
pub const INGRESS_NAMESPACE: &str = "ingress-nginx";
pub const INGRESS_CONTROLLER_LABELS: [(&str, &str); 3] = [
    ("app.kubernetes.io/name", "ingress-nginx"),
    ("app.kubernetes.io/instance", "ingress-nginx"),
    ("app.kubernetes.io/component", "controller"),
];

/// The label Kubernetes gives every namespace: its name. A NetworkPolicy
/// selects another namespace by it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How long a service may take to stop after SIGTERM: it finishes its
/// requests in flight and exits (well under 2 s in chapter 8's test; 10 s is
/// what `docker stop` grants). A pod's grace period must leave it this much
/// after its `preStop` pause.
pub const SHUTDOWN_SECONDS: i64 = 10;

/// The probes every service answers (blog-runtime's common layers):
/// `/healthz` while the process works, `/readyz` once it can serve.
pub const LIVENESS_PATH: &str = "/healthz";
pub const READINESS_PATH: &str = "/readyz";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_origin_is_the_ingress_host() {
        assert_eq!(PAGE_ORIGIN, format!("http://{HOST}"));
    }

    #[test]
    fn the_page_calls_the_services_its_links_name() {
        // Every API the page calls through the ingress is one its links name,
        // and the other way round: CORS is allowed exactly where it is used.
        let mut answering: Vec<BlogService> = CLIENT_CALLS
            .iter()
            .map(|call| call.service)
            .filter(|&s| s != BlogService::Client)
            .collect();
        answering.sort();
        answering.dedup();
        assert_eq!(answering, called_by_the_page());
        assert!(!called_by_the_page().contains(&BlogService::EventBus));
    }
}
