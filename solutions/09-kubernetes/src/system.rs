//! What the manifests must agree with: the image the build produces, and for
//! each service of the blog its port, its data and who it talks to.

use blog::launcher::SERVICES;

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

/// One service of the blog, as far as its deployment is concerned.
#[derive(Clone, Copy, Debug)]
pub struct BlogService {
    /// As in `blog <name>`: posts, comments, query, moderation, event-bus, client.
    pub name: &'static str,
    /// The port it listens on when `PORT` is not set.
    pub default_port: u16,
    /// It keeps a SQLite file in `DATA_DIR`, which must outlive the pod.
    pub keeps_data: bool,
    /// Why it must run as exactly one pod, replaced by stopping the old one
    /// first (`Recreate`); `None` if several pods, or a rolling update, are fine.
    pub single_pod: Option<&'static str>,
}

/// Every service of the blog, in the order they start.
pub fn blog_services() -> Vec<BlogService> {
    SERVICES
        .iter()
        .map(|s| {
            let keeps_data = matches!(s.name, "posts" | "comments" | "event-bus");
            let single_pod = match s.name {
                "posts" | "comments" | "event-bus" => Some(
                    "its SQLite file is on a ReadWriteOnce volume: two pods (or an old and a new one \
                     during a rolling update) would write the same file",
                ),
                "query" => Some(
                    "the bus pushes each event once to its Service, which hands it to ONE pod: \
                     with two pods each read model would miss events",
                ),
                _ => None,
            };
            BlogService {
                name: s.name,
                default_port: s.default_port,
                keeps_data,
                single_pod,
            }
        })
        .collect()
}

pub fn blog_service(name: &str) -> Option<BlogService> {
    blog_services().into_iter().find(|s| s.name == name)
}

/// An environment variable that holds where another service is.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// The service whose environment it is in.
    pub from: &'static str,
    pub variable: &'static str,
    /// The services the URLs in it must reach (a list for `SUBSCRIBERS`).
    pub to: &'static [&'static str],
    /// The service cannot work without it (the default is `localhost`, which in a pod is the pod itself).
    pub required: bool,
}

/// Who talks to whom, through which variable.
pub const LINKS: [Link; 6] = [
    Link {
        from: "posts",
        variable: "EVENT_BUS_URL",
        to: &["event-bus"],
        required: true,
    },
    Link {
        from: "comments",
        variable: "EVENT_BUS_URL",
        to: &["event-bus"],
        required: true,
    },
    Link {
        from: "comments",
        variable: "POSTS_URL",
        to: &["posts"],
        required: false,
    },
    Link {
        from: "query",
        variable: "EVENT_BUS_URL",
        to: &["event-bus"],
        required: true,
    },
    Link {
        from: "moderation",
        variable: "EVENT_BUS_URL",
        to: &["event-bus"],
        required: true,
    },
    Link {
        from: "event-bus",
        variable: "SUBSCRIBERS",
        to: &["posts", "comments", "query", "moderation"],
        required: true,
    },
];

/// The client's variables: URLs the BROWSER uses, so they cannot be cluster
/// names. Empty means the page's own origin, http://posts.com, where the
/// ingress sends each path to the right service.
pub const BROWSER_URLS: [&str; 3] = ["POSTS_URL", "COMMENTS_URL", "QUERY_URL"];

// ANCHOR: client_calls
/// A request the page makes to http://posts.com, and the service that must answer it.
#[derive(Clone, Copy, Debug)]
pub struct ClientCall {
    pub method: &'static str,
    pub path: &'static str,
    pub service: &'static str,
}

/// Everything the browser asks posts.com for (`5f2c9a1e0b7d4c36` stands for any post id).
pub const CLIENT_CALLS: [ClientCall; 7] = [
    ClientCall {
        method: "GET",
        path: "/",
        service: "client",
    },
    ClientCall {
        method: "GET",
        path: "/app.js",
        service: "client",
    },
    ClientCall {
        method: "GET",
        path: "/config.js",
        service: "client",
    },
    ClientCall {
        method: "GET",
        path: "/posts",
        service: "query",
    },
    ClientCall {
        method: "POST",
        path: "/posts/create",
        service: "posts",
    },
    ClientCall {
        method: "POST",
        path: "/posts/5f2c9a1e0b7d4c36/comments",
        service: "comments",
    },
    ClientCall {
        method: "GET",
        path: "/style.css",
        service: "client",
    },
];
// ANCHOR_END: client_calls

/// The probes every service answers (blog-runtime's common layers):
/// `/healthz` while the process works, `/readyz` once it can serve.
pub const LIVENESS_PATH: &str = "/healthz";
pub const READINESS_PATH: &str = "/readyz";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_of_the_blog_is_known_with_its_port() {
        let ports: Vec<(&str, u16)> = blog_services()
            .iter()
            .map(|s| (s.name, s.default_port))
            .collect();
        assert_eq!(
            ports,
            [
                ("event-bus", 4005),
                ("posts", 4000),
                ("comments", 4001),
                ("query", 4002),
                ("moderation", 4003),
                ("client", 3000)
            ]
        );
    }

    #[test]
    fn links_and_calls_name_real_services() {
        let known = |name: &str| blog_service(name).is_some();
        for link in LINKS {
            assert!(
                known(link.from) && link.to.iter().all(|t| known(t)),
                "{link:?}"
            );
        }
        for call in CLIENT_CALLS {
            assert!(known(call.service), "{call:?}");
        }
    }
}
