//! The subscribers as people see them: a name each, how far each is, and
//! the endpoints that show and redeliver their dead letters.
//!
//! - `GET /subscribers` → for each: `name`, `url`, `cursor` (the last seq
//!   it is done with), `lag` (events after the cursor), `parked` (how many
//!   of its events are parked) and `lastError` (its last failed delivery,
//!   or `null`).
//! - `GET /subscribers/{name}/parked[?after=N][&limit=M]` → its parked
//!   events, oldest first, each with the tries and the last answer.
//! - `POST /subscribers/{name}/parked/redeliver` → 202: its delivery task
//!   sends every parked event again, oldest first, before any newer event.
//!
//! **Names.** A subscriber is configured by URL, and its URL stays the key
//! of its cursor and parked events. But `/subscribers/query/parked` is
//! easier to read and to type than a URL, so each gets a name: the
//! catalogue's service whose default port the URL uses (`posts`,
//! `comments`, `query`, `moderation`: localhost, Docker and Kubernetes all
//! keep those ports), else the URL's `host:port`. If two URLs would get the
//! same name, both fall back to `host:port`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use blog_catalogue::Service;
use serde::Serialize;
use tokio::sync::watch;

use crate::delivery::DeliveryError;
use crate::handlers::{BusState, MAX_PAGE, Paging, paging};
use crate::parked::{self, Parked};
use crate::{BusError, handlers};

/// One subscriber: who it is, and what its delivery task last reported.
#[derive(Debug)]
pub struct Subscriber {
    /// Shown and used in `/subscribers/{name}`.
    pub name: String,
    /// The base URL; events go to `{url}/events`.
    pub url: String,
    status: Mutex<Status>,
    /// Bumped to ask the delivery task to redeliver the parked events.
    redeliver: watch::Sender<u64>,
}

#[derive(Clone, Debug, Default)]
struct Status {
    cursor: u64,
    last_error: Option<LastError>,
}

/// The last failed delivery to a subscriber. Kept in memory only: after a
/// restart, a subscriber that still fails shows it again at its next try.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub seq: u64,
    pub message: String,
    /// `"try again"` or `"never"`: what the bus made of the answer.
    pub verdict: &'static str,
}

impl Subscriber {
    pub fn new(name: String, url: String) -> Subscriber {
        Subscriber {
            name,
            url,
            status: Mutex::default(),
            redeliver: watch::Sender::new(0),
        }
    }

    /// Noted by the delivery task whenever its cursor moves.
    pub fn record_cursor(&self, cursor: u64) {
        self.status().cursor = cursor;
    }

    /// Noted by the delivery task after each failed try.
    pub fn record_error(&self, seq: u64, error: &DeliveryError) {
        let verdict = match error.verdict() {
            crate::delivery::Verdict::TryAgain => "try again",
            crate::delivery::Verdict::Never => "never",
        };
        self.status().last_error = Some(LastError {
            seq,
            message: crate::delivery::short(error),
            verdict,
        });
    }

    /// What the delivery task watches for redelivery requests.
    pub fn redelivery_requests(&self) -> watch::Receiver<u64> {
        self.redeliver.subscribe()
    }

    fn ask_for_redelivery(&self) {
        self.redeliver.send_modify(|asked| *asked += 1);
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        // Only plain assignments happen under this lock: even after a panic
        // elsewhere, what it holds is whole.
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Every subscriber of this bus, in the order of `SUBSCRIBERS`.
#[derive(Clone, Debug, Default)]
pub struct Subscribers(Arc<Vec<Arc<Subscriber>>>);

impl Subscribers {
    /// Names each URL (see the module's doc) and builds the list.
    pub fn from_urls(urls: &[String]) -> Subscribers {
        let names = names_for(urls);
        let list = names
            .into_iter()
            .zip(urls)
            .map(|(name, url)| Arc::new(Subscriber::new(name, url.clone())))
            .collect();
        Subscribers(Arc::new(list))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.0.iter()
    }

    fn find(&self, name: &str) -> Result<&Arc<Subscriber>, BusError> {
        self.0
            .iter()
            .find(|subscriber| subscriber.name == name)
            .ok_or_else(|| BusError::UnknownSubscriber(name.to_string()))
    }
}

/// A readable name for each URL, all different.
pub fn names_for(urls: &[String]) -> Vec<String> {
    let preferred: Vec<String> = urls
        .iter()
        .map(|url| catalogue_name(url).unwrap_or_else(|| host_and_port(url)))
        .collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for name in &preferred {
        *uses.entry(name).or_default() += 1;
    }
    let mut taken = Vec::with_capacity(urls.len());
    for (url, name) in urls.iter().zip(&preferred) {
        let mut name = if uses[name.as_str()] > 1 {
            host_and_port(url)
        } else {
            name.clone()
        };
        // The same URL listed twice: number the copies.
        if taken.contains(&name) {
            name = format!("{name}-{}", taken.len() + 1);
        }
        taken.push(name);
    }
    taken
}

/// The blog service that listens on this URL's port by default.
fn catalogue_name(url: &str) -> Option<String> {
    let port = reqwest::Url::parse(url).ok()?.port_or_known_default()?;
    Service::subscribers()
        .find(|service| service.default_port() == port)
        .map(|service| service.name().to_string())
}

/// `host:port`, plus the path if the URL has one.
fn host_and_port(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed
        .port_or_known_default()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let path = parsed.path().trim_matches('/');
    if path.is_empty() {
        format!("{host}{port}")
    } else {
        format!("{host}{port}/{path}")
    }
}

/// One line of `GET /subscribers`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberView {
    pub name: String,
    pub url: String,
    pub cursor: u64,
    pub lag: u64,
    pub parked: u64,
    pub last_error: Option<LastError>,
}

// ANCHOR: list_subscribers
/// `GET /subscribers`: where every subscriber stands.
pub async fn list_subscribers(
    State(bus): State<BusState>,
) -> Result<Json<Vec<SubscriberView>>, BusError> {
    let head = *bus.head.borrow();
    let urls: Vec<String> = bus.subscribers.iter().map(|s| s.url.clone()).collect();
    let counts = handlers::read_log(&bus, move |conn| {
        urls.iter()
            .map(|url| parked::count(conn, url))
            .collect::<rusqlite::Result<Vec<u64>>>()
    })
    .await?;
    let views = bus
        .subscribers
        .iter()
        .zip(counts)
        .map(|(subscriber, parked)| {
            let status = subscriber.status().clone();
            SubscriberView {
                name: subscriber.name.clone(),
                url: subscriber.url.clone(),
                cursor: status.cursor,
                lag: head.saturating_sub(status.cursor),
                parked,
                last_error: status.last_error,
            }
        })
        .collect();
    Ok(Json(views))
}
// ANCHOR_END: list_subscribers

/// `GET /subscribers/{name}/parked[?after=N][&limit=M]`: its parked events,
/// oldest first (at most [`MAX_PAGE`] at once; page with `after`).
pub async fn list_parked(
    State(bus): State<BusState>,
    Path(name): Path<String>,
    query: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<Vec<Parked>>, BusError> {
    let (after, limit) = paging(query)?;
    let url = bus.subscribers.find(&name)?.url.clone();
    let limit = limit.min(MAX_PAGE);
    let parked =
        handlers::read_log(&bus, move |conn| parked::list(conn, &url, after, limit)).await?;
    Ok(Json(parked))
}

/// The answer to a redelivery request.
#[derive(Debug, Serialize)]
pub struct Redelivering {
    pub status: &'static str,
    /// How many parked events the delivery task will send again.
    pub parked: u64,
}

// ANCHOR: redeliver
/// `POST /subscribers/{name}/parked/redeliver`: give its parked events
/// another chance, now that it is fixed. Answers 202 at once; the
/// subscriber's own delivery task does the work, so the subscriber still
/// gets one event at a time, and `GET /subscribers` shows the progress.
pub async fn redeliver_parked(
    State(bus): State<BusState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Redelivering>), BusError> {
    let subscriber = bus.subscribers.find(&name)?.clone();
    let url = subscriber.url.clone();
    let parked = handlers::read_log(&bus, move |conn| parked::count(conn, &url)).await?;
    subscriber.ask_for_redelivery();
    Ok((
        StatusCode::ACCEPTED,
        Json(Redelivering {
            status: "OK",
            parked,
        }),
    ))
}
// ANCHOR_END: redeliver

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn the_blogs_services_are_named_by_their_port_anything_else_by_host_and_port() {
        assert_eq!(
            names_for(&urls(&[
                "http://localhost:4000",
                "http://comments-srv:4001",
                "http://10.0.0.7:4002",
                "http://127.0.0.1:39999",
                "http://example.com/hooks",
            ])),
            [
                "posts",
                "comments",
                "query",
                "127.0.0.1:39999",
                "example.com:80/hooks"
            ]
        );
    }

    #[test]
    fn names_never_collide() {
        assert_eq!(
            names_for(&urls(&[
                "http://a:4002",
                "http://b:4002",
                "http://c:9",
                "http://c:9"
            ])),
            ["a:4002", "b:4002", "c:9", "c:9-4"]
        );
    }
}
