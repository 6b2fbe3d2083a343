//! The service catalogue: every fact about the blog's services, written once.
//!
//! The launcher, each service's configuration defaults, the bus's default
//! subscribers, the Docker tests, the Kubernetes checker, `cargo workbook
//! doctor` and `deploy` all read these facts from here instead of spelling
//! them out again. Adding a service is adding a variant to [`Service`]: every
//! `match` below stops compiling until the new service's facts are written.
//!
//! What it says, per service:
//! - its name (as in `blog <name>`) and default port;
//! - whether it keeps data on disk, and in which file;
//! - which events it consumes and emits ([`EventType`]);
//! - which services it calls, through which environment variable ([`Link`]).
//!
//! [`broker`] holds the same kind of facts about NATS, chapter 10's broker.

use std::fmt;

pub mod broker;

/// A service of the blog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    EventBus,
    Posts,
    Comments,
    Query,
    Moderation,
    Client,
}

/// An event type of the contract (`{"type": "...", "data": {...}}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    PostCreated,
    CommentCreated,
    CommentModerated,
    CommentUpdated,
}

impl EventType {
    /// Every event type the contract knows.
    pub const ALL: [EventType; 4] = [
        EventType::PostCreated,
        EventType::CommentCreated,
        EventType::CommentModerated,
        EventType::CommentUpdated,
    ];

    /// The `type` field on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::PostCreated => "PostCreated",
            EventType::CommentCreated => "CommentCreated",
            EventType::CommentModerated => "CommentModerated",
            EventType::CommentUpdated => "CommentUpdated",
        }
    }

    /// The event type called `name` on the wire, if the contract knows it.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An environment variable through which one service finds another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The variable, for example `EVENT_BUS_URL`.
    pub variable: &'static str,
    /// The services its URL (or comma-separated URLs) must reach.
    pub to: &'static [Service],
    /// The service cannot do its job without it. Its default is a
    /// `localhost` URL, which inside a container or pod is the wrong place.
    pub required: bool,
    /// The URL is used by the *browser*, not by the service itself, so it
    /// must be an address the learner's machine can reach.
    pub from_browser: bool,
}

const BUS: &[Service] = &[Service::EventBus];

impl Service {
    /// Every service, in the order they start: the bus first, because the
    /// others send it events and the query service replays its log.
    pub const ALL: [Service; 6] = [
        Service::EventBus,
        Service::Posts,
        Service::Comments,
        Service::Query,
        Service::Moderation,
        Service::Client,
    ];

    /// As in `blog <name>`, the Docker command and the Kubernetes names.
    pub const fn name(self) -> &'static str {
        match self {
            Service::EventBus => "event-bus",
            Service::Posts => "posts",
            Service::Comments => "comments",
            Service::Query => "query",
            Service::Moderation => "moderation",
            Service::Client => "client",
        }
    }

    /// The port it listens on when `PORT` is not set.
    pub const fn default_port(self) -> u16 {
        match self {
            Service::EventBus => 4005,
            Service::Posts => 4000,
            Service::Comments => 4001,
            Service::Query => 4002,
            Service::Moderation => 4003,
            Service::Client => 3000,
        }
    }

    /// What it does, in a few words (the launcher prints it).
    pub const fn role(self) -> &'static str {
        match self {
            Service::EventBus => "stores every event and delivers it",
            Service::Posts => "creates posts",
            Service::Comments => "creates comments",
            Service::Query => "posts with their comments, built from events",
            Service::Moderation => "approves or rejects comments",
            Service::Client => "the web page",
        }
    }

    /// The SQLite file it keeps in `DATA_DIR`, if it keeps data that must
    /// outlive the process (a volume in Docker, a PVC in Kubernetes).
    /// Query keeps nothing: it rebuilds its read model from the bus's log.
    pub const fn database(self) -> Option<&'static str> {
        match self {
            Service::EventBus => Some("event-bus.db"),
            Service::Posts => Some("posts.db"),
            Service::Comments => Some("comments.db"),
            Service::Query | Service::Moderation | Service::Client => None,
        }
    }

    /// Whether it keeps data on disk.
    pub const fn keeps_data(self) -> bool {
        self.database().is_some()
    }

    /// Why at most one instance of it may run at a time (so it cannot be
    /// scaled out, and a new one may only start once the old one is gone);
    /// `None` if several instances side by side are fine.
    pub const fn single_instance(self) -> Option<&'static str> {
        match self {
            Service::EventBus | Service::Posts | Service::Comments => Some(
                "it keeps its data in one SQLite file, which one process at a time may write: \
                 two instances (or an old and a new one side by side) would write the same file",
            ),
            Service::Query => Some(
                "the bus delivers each event once, to one address: with two instances behind it, \
                 each read model would miss events",
            ),
            Service::Moderation | Service::Client => None,
        }
    }

    /// The events it acts on.
    pub const fn consumes(self) -> &'static [EventType] {
        use EventType::*;
        match self {
            Service::Comments => &[CommentModerated],
            Service::Query => &[PostCreated, CommentCreated, CommentUpdated],
            Service::Moderation => &[CommentCreated],
            Service::EventBus | Service::Posts | Service::Client => &[],
        }
    }

    /// The events it publishes.
    pub const fn emits(self) -> &'static [EventType] {
        use EventType::*;
        match self {
            Service::Posts => &[PostCreated],
            Service::Comments => &[CommentCreated, CommentUpdated],
            Service::Moderation => &[CommentModerated],
            Service::EventBus | Service::Query | Service::Client => &[],
        }
    }

    /// Whether the bus delivers every event to its `POST /events`. As in the
    /// course app, every service with an events endpoint gets every event
    /// and ignores the types it does not consume (posts consumes none).
    pub const fn subscribes(self) -> bool {
        matches!(
            self,
            Service::Posts | Service::Comments | Service::Query | Service::Moderation
        )
    }

    /// The services it finds through its environment.
    pub const fn links(self) -> &'static [Link] {
        const TO_BUS: Link = Link {
            variable: "EVENT_BUS_URL",
            to: BUS,
            required: true,
            from_browser: false,
        };
        match self {
            Service::Posts | Service::Query | Service::Moderation => &[TO_BUS],
            Service::Comments => &[
                TO_BUS,
                // Only for `POST_LOOKUP=http`, the synchronous check of chapter 2.
                Link {
                    variable: "POSTS_URL",
                    to: &[Service::Posts],
                    required: false,
                    from_browser: false,
                },
            ],
            Service::EventBus => &[Link {
                variable: "SUBSCRIBERS",
                to: &[
                    Service::Posts,
                    Service::Comments,
                    Service::Query,
                    Service::Moderation,
                ],
                required: true,
                from_browser: false,
            }],
            // The page's calls; empty means the page's own origin (behind an ingress).
            Service::Client => &[
                Link {
                    variable: "POSTS_URL",
                    to: &[Service::Posts],
                    required: false,
                    from_browser: true,
                },
                Link {
                    variable: "COMMENTS_URL",
                    to: &[Service::Comments],
                    required: false,
                    from_browser: true,
                },
                Link {
                    variable: "QUERY_URL",
                    to: &[Service::Query],
                    required: false,
                    from_browser: true,
                },
            ],
        }
    }

    /// The services it calls (over HTTP, from the service itself).
    pub fn calls(self) -> impl Iterator<Item = Service> {
        self.links()
            .iter()
            .filter(|link| !link.from_browser)
            .flat_map(|link| link.to.iter().copied())
    }

    /// The services the bus delivers to, in start order.
    pub fn subscribers() -> impl Iterator<Item = Service> {
        Service::ALL.into_iter().filter(|s| s.subscribes())
    }

    /// The service called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// `http://localhost:PORT`: where it is when everything runs on one machine.
    pub fn localhost_url(self) -> String {
        format!("http://localhost:{}", self.default_port())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Service {
    type Err = UnknownService;

    fn from_str(name: &str) -> Result<Service, UnknownService> {
        Service::from_name(name).ok_or_else(|| UnknownService(name.to_string()))
    }
}

/// A name that is not one of the blog's services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl fmt::Display for UnknownService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        write!(
            f,
            "there is no service called {:?} (the services are {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownService {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_are_unique() {
        for a in Service::ALL {
            for b in Service::ALL {
                if a != b {
                    assert_ne!(a.name(), b.name());
                    assert_ne!(a.default_port(), b.default_port());
                }
            }
            assert_eq!(Service::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn every_consumed_event_is_emitted_by_someone_and_delivered() {
        for service in Service::ALL {
            for event in service.consumes() {
                assert!(
                    Service::ALL.iter().any(|s| s.emits().contains(event)),
                    "{service} consumes {event}, which nobody emits"
                );
                assert!(
                    service.subscribes(),
                    "{service} consumes events but is not subscribed"
                );
            }
        }
        for event in EventType::ALL {
            assert_eq!(EventType::from_name(event.name()), Some(event));
        }
    }

    #[test]
    fn whoever_emits_calls_the_bus() {
        for service in Service::ALL {
            if !service.emits().is_empty() {
                assert!(service.calls().any(|s| s == Service::EventBus), "{service}");
            }
        }
        let subscribers: Vec<Service> = Service::EventBus
            .links()
            .iter()
            .flat_map(|l| l.to.iter().copied())
            .collect();
        assert_eq!(subscribers, Service::subscribers().collect::<Vec<_>>());
    }

    #[test]
    fn an_unknown_name_lists_the_real_ones() {
        let error = "postz".parse::<Service>().unwrap_err().to_string();
        assert!(
            error.contains("\"postz\"") && error.contains("event-bus"),
            "{error}"
        );
    }
}
