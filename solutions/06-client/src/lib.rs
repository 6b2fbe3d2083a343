//! The client service (chapter 6).
//!
//! It serves the blog's one web page and owns no data. The page runs in the
//! browser and talks to the other services itself:
//!
//! - reads every post with its comments from query (`GET {query}/posts`),
//!   again every second, so moderation's verdict shows up without a reload;
//! - creates posts through posts (`POST {posts}/posts/create`) and comments
//!   through comments (`POST {comments}/posts/{id}/comments`).
//!
//! Routes: `/` (the HTML), `/app.js`, `/style.css`, and `/config.js`, which
//! tells the page where those services are. Their addresses are the ones a
//! *browser* uses, so they are set here, from the environment: localhost
//! ports on a laptop, or empty strings behind the Kubernetes ingress, where
//! the page and the services share one origin (`posts.com`).
//!
//! The page is plain HTML and JavaScript, compiled into the binary with
//! `include_str!`: nothing to install, no build step.
//!
//! Modules: [`page`] (the files and the security headers they are served with).

pub mod page;

use std::net::SocketAddr;

use blog_runtime::{Readiness, Server, Service, Settings, SettingsError, with_common_layers};

/// Where the service listens and where the browser finds the other services.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Base URL of posts as the browser sees it, e.g. `http://localhost:4000`.
    /// Empty: the page's own origin (the ingress routes `/posts/create`).
    pub posts_url: String,
    /// Base URL of comments; empty: the page's own origin.
    pub comments_url: String,
    /// Base URL of query; empty: the page's own origin.
    pub query_url: String,
}

/// A service address the page could not use.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name} must be empty (same origin as the page) or an http:// or https:// URL \
     such as http://localhost:4000, with no spaces, `?` or `#`; got {value:?}"
)]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
}

impl Config {
    /// `HOST` (127.0.0.1), `PORT` (3000), `POSTS_URL` (http://localhost:4000),
    /// `COMMENTS_URL` (http://localhost:4001), `QUERY_URL` (http://localhost:4002).
    ///
    /// Unlike other settings, a URL set to the empty string stays empty: it
    /// means "the page's own origin", which is what the ingress needs.
    /// [`Config::check`] (run by [`start`]) checks the URLs.
    pub fn from_env() -> Result<Self, SettingsError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup`, so tests
    /// can try settings without changing the process's environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let settings = Settings::from_lookup(lookup);
        // Set-but-empty is a choice here, so only an unset variable gets the default.
        let url = |name: &str, service: Service| match settings.raw(name) {
            Some(value) => value.trim().trim_end_matches('/').to_string(),
            None => service.localhost_url(),
        };
        Ok(Config {
            addr: settings.listen_addr(Service::Client)?,
            posts_url: url("POSTS_URL", Service::Posts),
            comments_url: url("COMMENTS_URL", Service::Comments),
            query_url: url("QUERY_URL", Service::Query),
        })
    }

    /// The three service URLs, named as in the environment.
    pub fn service_urls(&self) -> [(&'static str, &str); 3] {
        [
            ("POSTS_URL", &self.posts_url),
            ("COMMENTS_URL", &self.comments_url),
            ("QUERY_URL", &self.query_url),
        ]
    }

    /// Checks that every service URL is one the page and its security policy
    /// can use. [`start`] refuses to run otherwise, so a typo shows up as a
    /// clear message at start, not as a page that silently cannot load.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (name, value) in self.service_urls() {
            if !value.is_empty() && page::origin_of(value).is_none() {
                return Err(ConfigError {
                    name,
                    value: value.to_string(),
                });
            }
        }
        Ok(())
    }
}

// ANCHOR: app
/// The service's routes. `config` must have passed [`Config::check`].
pub fn app(config: &Config) -> axum::Router {
    let routes = with_common_layers(page::routes(config), Readiness::ready());
    page::with_security_headers(routes, config)
}
// ANCHOR_END: app

/// Checks the configuration and serves the page until stopped.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    config.check()?;
    Ok(Server::start(config.addr, app(&config)).await?)
}
