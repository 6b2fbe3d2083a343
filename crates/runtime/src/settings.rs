//! Settings: environment variables read into typed values, with defaults
//! that work on localhost.
//!
//! A service reads its settings once, at start, into its `Config`. A value
//! that cannot be used (`PORT=abc`, a subscriber that is not a URL) is a
//! [`SettingsError`] that names the variable, the value and what was
//! expected, so `main` can print one line and exit, instead of a panic deep
//! inside the service, or worse, a service that starts with a guess.
//!
//! The defaults come from the service catalogue ([`Service`]): the port a
//! service listens on and where it finds the others are written there once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use blog_catalogue::Service;
use url::Url;

use crate::http::PageOrigins;

/// A setting that cannot be used, with everything needed to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not valid: expected {expected}")]
pub struct SettingsError {
    /// The environment variable, e.g. `PORT`.
    pub variable: &'static str,
    /// What it was set to.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

/// Reads settings through a lookup function: the process's environment in
/// production ([`Settings::from_env`]), a map in tests, which can then try
/// settings without changing the environment every test shares.
pub struct Settings<L> {
    lookup: L,
}

/// How [`Settings::from_env`] reads a variable.
pub type EnvLookup = fn(&str) -> Option<String>;

impl Settings<EnvLookup> {
    /// The process's environment variables.
    pub fn from_env() -> Self {
        Settings {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

impl<L: Fn(&str) -> Option<String>> Settings<L> {
    /// Variables read through `lookup` (`None`: not set).
    pub fn from_lookup(lookup: L) -> Self {
        Settings { lookup }
    }

    /// The variable as set, untrimmed; `None` when it is not set at all.
    /// For the rare setting where "set but empty" means something.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The variable, trimmed; `None` when it is unset or blank, so that
    /// `PORT=` in a shell or a manifest means "the default", not "nothing".
    pub fn get(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }

    /// Free text, or `default`.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    /// A value of any type that can be parsed from text, or `default`.
    /// `expected` says, for the error, what would have been accepted.
    pub fn parse<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| invalid(name, &value, expected)),
        }
    }

    // ANCHOR: listen_addr
    /// Where `service` listens: `HOST` (default 127.0.0.1, this machine
    /// only; a container sets 0.0.0.0) and `PORT` (default: the service's
    /// port in the catalogue).
    pub fn listen_addr(&self, service: Service) -> Result<SocketAddr, SettingsError> {
        let host = self.parse(
            "HOST",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "an IP address such as 127.0.0.1 or 0.0.0.0",
        )?;
        let port = self.parse(
            "PORT",
            service.default_port(),
            "a port number from 0 to 65535",
        )?;
        Ok(SocketAddr::new(host, port))
    }
    // ANCHOR_END: listen_addr

    /// The folder that holds a service's database: `DATA_DIR` (default `./data`).
    pub fn data_dir(&self) -> PathBuf {
        self.text("DATA_DIR", "./data").into()
    }

    /// The base URL of another service, e.g. `EVENT_BUS_URL`; by default
    /// where `default` listens on this machine. A trailing `/` is dropped:
    /// callers append paths such as `/events`.
    pub fn base_url(&self, name: &'static str, default: Service) -> Result<String, SettingsError> {
        match self.get(name) {
            None => Ok(default.localhost_url()),
            Some(value) => check_base_url(name, &value),
        }
    }

    /// Where the service's events go: `EVENT_BUS_URL`. The blog's own HTTP
    /// bus (a base URL, as [`Settings::base_url`]; by default the bus on
    /// this machine), or a NATS JetStream cluster (chapter 10): one or more
    /// comma-separated `nats://host:port` URLs, returned as written. The
    /// `blog` binary reads the scheme to choose the bus.
    pub fn event_bus_url(&self) -> Result<String, SettingsError> {
        match self.get("EVENT_BUS_URL") {
            Some(list) if list.starts_with("nats://") => check_nats_urls(&list),
            _ => self.base_url("EVENT_BUS_URL", Service::EventBus),
        }
    }

    /// A comma-separated list of base URLs, e.g. the bus's `SUBSCRIBERS`; by
    /// default where each of `defaults` listens on this machine. Blank
    /// entries are skipped.
    pub fn base_urls(
        &self,
        name: &'static str,
        defaults: impl IntoIterator<Item = Service>,
    ) -> Result<Vec<String>, SettingsError> {
        match self.get(name) {
            None => Ok(defaults.into_iter().map(Service::localhost_url).collect()),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(|url| check_base_url(name, url))
                .collect(),
        }
    }

    /// The origins whose web page may call this service from a browser:
    /// `CORS_ORIGINS`, comma-separated (default: the client on this machine,
    /// `http://localhost:3000,http://127.0.0.1:3000`).
    pub fn page_origins(&self) -> Result<PageOrigins, SettingsError> {
        match self.get("CORS_ORIGINS") {
            None => Ok(PageOrigins::default()),
            Some(list) => PageOrigins::parse(&list).map_err(|bad| {
                invalid(
                    "CORS_ORIGINS",
                    &bad,
                    "comma-separated origins such as http://localhost:3000 \
                     (scheme, host and port; no path)",
                )
            }),
        }
    }
}

fn invalid(variable: &'static str, value: &str, expected: &str) -> SettingsError {
    SettingsError {
        variable,
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// An `http://` or `https://` URL with a host, returned as written (without
/// a trailing `/`): the bus names a subscriber's cursor after its URL, so
/// the text must not change from one start to the next.
fn check_base_url(name: &'static str, value: &str) -> Result<String, SettingsError> {
    let trimmed = value.trim().trim_end_matches('/');
    match Url::parse(trimmed) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(trimmed.to_string())
        }
        _ => Err(invalid(
            name,
            value,
            "an http:// or https:// URL such as http://localhost:4005",
        )),
    }
}

/// Comma-separated `nats://host:port` URLs, each with a host.
fn check_nats_urls(list: &str) -> Result<String, SettingsError> {
    let servers: Vec<&str> = list.split(',').map(str::trim).collect();
    for server in &servers {
        let fine = Url::parse(server)
            .map(|url| url.scheme() == "nats" && url.has_host())
            .unwrap_or(false);
        if !fine {
            return Err(invalid(
                "EVENT_BUS_URL",
                list,
                "an http:// URL such as http://localhost:4005, or comma-separated \
                 nats:// URLs such as nats://localhost:4222,nats://localhost:4223",
            ));
        }
    }
    Ok(servers.join(","))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Settings::from_lookup(move |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_come_from_the_catalogue() {
        let none = settings(&[]);
        assert_eq!(
            none.listen_addr(Service::Comments),
            Ok("127.0.0.1:4001".parse().unwrap())
        );
        assert_eq!(
            none.base_url("EVENT_BUS_URL", Service::EventBus),
            Ok("http://localhost:4005".to_string())
        );
        assert_eq!(
            none.base_urls("SUBSCRIBERS", Service::subscribers())
                .unwrap(),
            [
                "http://localhost:4000",
                "http://localhost:4001",
                "http://localhost:4002",
                "http://localhost:4003"
            ]
        );
        assert_eq!(none.data_dir(), PathBuf::from("./data"));
    }

    #[test]
    fn set_values_are_read_and_blank_ones_mean_the_default() {
        let set = settings(&[
            ("HOST", " 0.0.0.0 "),
            ("PORT", "8080"),
            ("EVENT_BUS_URL", "http://event-bus-srv:4005/"),
            ("SUBSCRIBERS", "http://a:1, ,http://b:2/"),
            ("DATA_DIR", "   "),
        ]);
        assert_eq!(
            set.listen_addr(Service::Posts),
            Ok("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            set.base_url("EVENT_BUS_URL", Service::EventBus).unwrap(),
            "http://event-bus-srv:4005"
        );
        assert_eq!(
            set.base_urls("SUBSCRIBERS", []).unwrap(),
            ["http://a:1", "http://b:2"]
        );
        assert_eq!(set.data_dir(), PathBuf::from("./data"));
        assert_eq!(
            settings(&[("HOST", "::")]).listen_addr(Service::Query),
            Ok("[::]:4002".parse().unwrap())
        );
    }

    #[test]
    fn a_bad_port_names_the_variable_the_value_and_what_was_expected() {
        let error = settings(&[("PORT", "abc")])
            .listen_addr(Service::Posts)
            .unwrap_err();
        assert_eq!(error.variable, "PORT");
        assert_eq!(error.value, "abc");
        let line = error.to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(
            line.contains("PORT=\"abc\"") && line.contains("port number"),
            "{line}"
        );

        for bad in ["70000", "-1", "4000x"] {
            assert!(
                settings(&[("PORT", bad)])
                    .listen_addr(Service::Posts)
                    .is_err(),
                "PORT={bad}"
            );
        }
        let error = settings(&[("HOST", "localhost")])
            .listen_addr(Service::Posts)
            .unwrap_err();
        assert_eq!(error.variable, "HOST");
    }

    #[test]
    fn urls_must_be_http_urls_with_a_host() {
        for bad in [
            "not a url",
            "localhost:4005",
            "ftp://x",
            "http://",
            "/events",
        ] {
            let error = settings(&[("EVENT_BUS_URL", bad)])
                .base_url("EVENT_BUS_URL", Service::EventBus)
                .unwrap_err();
            assert_eq!(
                (error.variable, error.value.as_str()),
                ("EVENT_BUS_URL", bad)
            );
        }
        let error = settings(&[("SUBSCRIBERS", "http://ok:1,not a url")])
            .base_urls("SUBSCRIBERS", [])
            .unwrap_err();
        assert_eq!(
            (error.variable, error.value.as_str()),
            ("SUBSCRIBERS", "not a url")
        );
    }

    #[test]
    fn the_event_bus_is_an_http_url_or_a_list_of_nats_urls() {
        let bus = |value: &str| settings(&[("EVENT_BUS_URL", value)]).event_bus_url();
        assert_eq!(
            settings(&[]).event_bus_url().unwrap(),
            "http://localhost:4005"
        );
        assert_eq!(bus("http://bus:4005/").unwrap(), "http://bus:4005");
        assert_eq!(
            bus("nats://a:4222, nats://b:4223").unwrap(),
            "nats://a:4222,nats://b:4223"
        );
        for bad in ["nats://a:4222,http://b:1", "nats://", "nats://a:4222,"] {
            let error = bus(bad).unwrap_err();
            assert_eq!(
                (error.variable, error.value.as_str()),
                ("EVENT_BUS_URL", bad)
            );
        }
    }

    #[test]
    fn parse_reports_what_was_expected() {
        let error = settings(&[("POSTS_TIMEOUT_MS", "soon")])
            .parse(
                "POSTS_TIMEOUT_MS",
                2000u64,
                "a whole number of milliseconds",
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "POSTS_TIMEOUT_MS=\"soon\" is not valid: expected a whole number of milliseconds"
        );
        assert_eq!(settings(&[]).parse("X", 7u64, "a number"), Ok(7));
    }

    #[test]
    fn page_origins_default_to_the_client_on_this_machine() {
        assert_eq!(
            settings(&[]).page_origins().unwrap(),
            PageOrigins::parse("http://localhost:3000,http://127.0.0.1:3000").unwrap()
        );
        let error = settings(&[("CORS_ORIGINS", "http://posts.com,posts.com")])
            .page_origins()
            .unwrap_err();
        assert_eq!(
            (error.variable, error.value.as_str()),
            ("CORS_ORIGINS", "posts.com")
        );
    }
}
