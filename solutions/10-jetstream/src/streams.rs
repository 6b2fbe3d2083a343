//! The broker's side of the contract: where the cluster is, the two streams
//! and the subjects the blog's events live on.
//!
//! Every service that starts on NATS calls [`ensure_streams`]: the first
//! creates the streams, the others find them. No set-up step to forget.

use std::time::Duration;

use async_nats::jetstream::{self, Context, stream};
use blog_runtime::{Backoff, Settings, SettingsError};

/// The stream every event of the blog is stored in, once, in order.
pub const STREAM: &str = "BLOG_EVENTS";
/// Subjects of [`STREAM`]: `blog.events.<EventType>`.
pub const SUBJECT_PREFIX: &str = "blog.events.";
/// The stream that keeps the dead letters: events a consumer can never take.
pub const PARKED_STREAM: &str = "BLOG_PARKED";
/// Subjects of [`PARKED_STREAM`]: `blog.parked.<consumer>`.
pub const PARKED_PREFIX: &str = "blog.parked.";
/// How long the stream remembers a message id: an event published again
/// within this time (a relay that crashed before deleting its outbox row)
/// is acknowledged but not stored twice.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The subject an event of type `kind` is published on.
pub fn subject_for(kind: &str) -> String {
    format!("{SUBJECT_PREFIX}{kind}")
}

/// The subject a consumer's dead letters are published on.
pub fn parked_subject(consumer: &str) -> String {
    format!("{PARKED_PREFIX}{consumer}")
}

/// How a service reaches the cluster and how the streams are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// `nats://host:port` of each node (the client fails over between them).
    pub servers: Vec<String>,
    /// `NATS_STREAM_REPLICAS` (3): on how many nodes each stream is stored.
    /// A write is acknowledged once a majority of them has it.
    pub replicas: usize,
    /// `DEAD_LETTER_AFTER` (5): how many times an event the handler refuses
    /// for good (a 4xx) is tried before it is parked.
    pub dead_letter_after: i64,
    /// `NATS_ACK_WAIT_MS` (10000): how long a consumer may hold an event
    /// without acknowledging it before the broker gives it to someone else
    /// (the replica that held it has probably crashed).
    pub ack_wait: Duration,
}

impl BusConfig {
    /// Reads the settings beside `servers` (the comma-separated
    /// `nats://` URLs of `EVENT_BUS_URL`).
    pub fn from_settings<L: Fn(&str) -> Option<String>>(
        servers: &str,
        settings: &Settings<L>,
    ) -> Result<BusConfig, SettingsError> {
        let ack_wait_ms: u64 =
            settings.parse("NATS_ACK_WAIT_MS", 10_000, "a whole number of milliseconds")?;
        Ok(BusConfig {
            servers: servers.split(',').map(|s| s.trim().to_string()).collect(),
            replicas: settings.parse("NATS_STREAM_REPLICAS", 3, "1, 3 or 5")?,
            dead_letter_after: settings.parse("DEAD_LETTER_AFTER", 5, "a whole number of tries")?,
            ack_wait: Duration::from_millis(ack_wait_ms),
        })
    }

    /// One local node: for tests and a single `nats-server -js`.
    pub fn single(server: &str) -> BusConfig {
        BusConfig {
            servers: vec![server.to_string()],
            replicas: 1,
            dead_letter_after: 5,
            ack_wait: Duration::from_secs(10),
        }
    }
}

/// Connects to the cluster. The client keeps reconnecting on its own, to
/// any node of the list, for as long as the service runs.
pub async fn connect(config: &BusConfig) -> anyhow::Result<Context> {
    let servers: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .map(|url| url.parse())
        .collect::<Result<_, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .retry_on_initial_connect()
        .connect(servers)
        .await?;
    // A publish that has no answer within this time counts as failed: the
    // outbox keeps the event and tries again. Without a quorum, that is
    // what every publish does.
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(3))
        .build(client))
}

/// Creates the blog's streams unless they exist. A cluster that has just
/// started may not have elected a leader yet, so it tries again, with
/// backoff, for up to `patience`.
pub async fn ensure_streams(
    js: &Context,
    replicas: usize,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pauses = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    for (name, prefix) in [(STREAM, SUBJECT_PREFIX), (PARKED_STREAM, PARKED_PREFIX)] {
        let config = stream::Config {
            name: name.to_string(),
            subjects: vec![format!("{prefix}>")],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        loop {
            match js.get_or_create_stream(config.clone()).await {
                Ok(_) => break,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(%error, stream = name, "the stream is not there yet; trying again");
                    tokio::time::sleep(pauses.next_delay()).await;
                }
                Err(error) => anyhow::bail!("cannot create the stream {name}: {error}"),
            }
        }
    }
    Ok(())
}
