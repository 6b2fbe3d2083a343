//! A fake service that takes events, for tests of whoever sends them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long [`FakeService::next_event`] waits for the next event.
const NEXT_EVENT_WITHIN: Duration = Duration::from_secs(10);

/// How a [`FakeService`] treats what it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts every event: records it and answers 200 `{"status": "OK"}`.
    Up,
    /// Answers 503 with a JSON error, like a service that is up but broken.
    Failing,
    /// Closes every connection as soon as it is made, like a stopped
    /// service, yet keeps its port, so no other program can take it.
    Down,
}

/// A stand-in for a service that takes events at `POST /events`: the bus,
/// for a service that publishes, or a subscriber, for the bus. It listens on
/// `127.0.0.1:0`, records every event it accepts and counts every delivery
/// it refuses (while [`Behaviour::Failing`] or [`Behaviour::Down`]).
pub struct FakeService {
    /// Who it stands in for, in failure messages: "the bus".
    role: &'static str,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    serving: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    behaviour: Option<Behaviour>,
    received: Vec<Value>,
    refusals: usize,
    /// How many of `received` [`FakeService::next_event`] has handed out.
    handed_out: usize,
}

impl Shared {
    fn behaviour(&self) -> Behaviour {
        self.state
            .lock()
            .unwrap()
            .behaviour
            .unwrap_or(Behaviour::Up)
    }

    fn refused(&self) {
        self.state.lock().unwrap().refusals += 1;
    }
}

impl FakeService {
    /// Starts it up, accepting events. `role` names it in failure messages.
    pub async fn start(role: &'static str) -> FakeService {
        Self::start_as(role, Behaviour::Up).await
    }

    /// Starts it down: its address is known, but nothing is served there
    /// until [`FakeService::set`] brings it up.
    pub async fn start_down(role: &'static str) -> FakeService {
        Self::start_as(role, Behaviour::Down).await
    }

    /// Starts it down, like [`FakeService::start_down`], but once up it
    /// serves `routes` (a fake log at `GET /events`, say) instead of taking
    /// events. Only [`Behaviour::Down`] and [`FakeService::refusals`] apply.
    pub async fn start_down_serving(role: &'static str, routes: Router) -> FakeService {
        Self::serve(role, Behaviour::Down, |_| routes).await
    }

    async fn start_as(role: &'static str, behaviour: Behaviour) -> FakeService {
        Self::serve(role, behaviour, |shared| {
            Router::new()
                .route("/events", post(receive))
                .with_state(shared)
        })
        .await
    }

    async fn serve(
        role: &'static str,
        behaviour: Behaviour,
        routes: impl FnOnce(Arc<Shared>) -> Router,
    ) -> FakeService {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a fake service can listen on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared::default());
        shared.state.lock().unwrap().behaviour = Some(behaviour);
        let router = routes(shared.clone());
        let listener = HangUpWhileDown {
            listener,
            shared: shared.clone(),
        };
        let (stop, mut stopped) = watch::channel(false);
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
        });
        FakeService {
            role,
            addr,
            shared,
            stop,
            serving,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes how it treats what comes next (see [`Behaviour`]).
    pub fn set(&self, behaviour: Behaviour) {
        self.shared.state.lock().unwrap().behaviour = Some(behaviour);
    }

    /// Every event it accepted, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// How many deliveries it refused (answered 503, or hung up on).
    pub fn refusals(&self) -> usize {
        self.shared.state.lock().unwrap().refusals
    }

    /// The next event it accepted that this method has not returned yet,
    /// waiting up to 10 s for it; fails with "ROLE should receive WHAT within 10 s".
    pub async fn next_event(&self, what: &str) -> Value {
        let mut next = None;
        let arrived = crate::eventually(NEXT_EVENT_WITHIN, async || {
            let mut state = self.shared.state.lock().unwrap();
            next = state.received.get(state.handed_out).cloned();
            state.handed_out += usize::from(next.is_some());
            next.is_some()
        })
        .await;
        assert!(arrived, "{} should receive {what} within 10 s", self.role);
        next.expect("an event arrived")
    }

    /// Stops serving and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.serving.await;
    }
}

async fn receive(State(shared): State<Arc<Shared>>, Json(event): Json<Value>) -> Response {
    match shared.behaviour() {
        Behaviour::Up => {
            shared.state.lock().unwrap().received.push(event);
            Json(json!({"status": "OK"})).into_response()
        }
        Behaviour::Failing => {
            shared.refused();
            let error = json!({"error": "the fake service is failing on purpose"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response()
        }
        // A connection opened while it was up: refuse, and close it.
        Behaviour::Down => {
            shared.refused();
            let error = json!({"error": "the fake service is down"});
            let close = [(header::CONNECTION, "close")];
            (StatusCode::SERVICE_UNAVAILABLE, close, Json(error)).into_response()
        }
    }
}

/// The fake's listener: while it is down, it closes each new connection at
/// once (and counts it as a refusal) instead of handing it to the server.
struct HangUpWhileDown {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for HangUpWhileDown {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.listener).await;
            if self.shared.behaviour() != Behaviour::Down {
                let _ = stream.set_nodelay(true);
                return (stream, addr);
            }
            self.shared.refused();
            drop(stream);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send;

    fn event(n: u64) -> Value {
        json!({"type": "Test", "data": {"n": n}})
    }

    async fn deliver(fake: &FakeService, n: u64) -> Result<u16, reqwest::Error> {
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{}/events", fake.url()))
            .json(&event(n))
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    #[tokio::test]
    async fn up_it_records_what_it_accepts_and_hands_each_event_out_once() {
        let fake = FakeService::start("the bus").await;
        for n in 1..=2 {
            let request = reqwest::Client::new()
                .post(format!("{}/events", fake.url()))
                .json(&event(n));
            assert_eq!(send(request).await, (200, json!({"status": "OK"})));
        }
        assert_eq!(fake.received(), vec![event(1), event(2)]);
        assert_eq!(fake.next_event("the first").await, event(1));
        assert_eq!(fake.next_event("the second").await, event(2));
        assert_eq!(fake.refusals(), 0);
        fake.stop().await;
    }

    #[tokio::test]
    async fn failing_it_answers_503_and_counts_the_refusals() {
        let fake = FakeService::start("a subscriber").await;
        fake.set(Behaviour::Failing);
        assert_eq!(deliver(&fake, 1).await.unwrap(), 503);
        assert_eq!(deliver(&fake, 2).await.unwrap(), 503);
        assert_eq!(fake.refusals(), 2);
        fake.set(Behaviour::Up);
        assert_eq!(deliver(&fake, 3).await.unwrap(), 200);
        assert_eq!(fake.received(), vec![event(3)]);
        fake.stop().await;
    }

    #[tokio::test]
    async fn down_it_hangs_up_counts_that_and_comes_up_on_the_same_address() {
        let fake = FakeService::start_down("the bus").await;
        let error = deliver(&fake, 1)
            .await
            .expect_err("a service that is down does not answer");
        assert!(!error.is_status(), "no HTTP answer at all: {error}");
        assert_eq!(fake.refusals(), 1);
        assert!(fake.received().is_empty());

        fake.set(Behaviour::Up);
        assert_eq!(deliver(&fake, 2).await.unwrap(), 200);
        assert_eq!(fake.received(), vec![event(2)]);
        fake.stop().await;
    }

    #[tokio::test]
    async fn down_it_can_stand_for_a_service_with_routes_of_its_own() {
        let log = Router::new().route("/events", axum::routing::get(|| async { "[]" }));
        let fake = FakeService::start_down_serving("the bus", log).await;
        let url = format!("{}/events", fake.url());
        assert!(reqwest::get(&url).await.is_err(), "down: no answer");
        assert_eq!(fake.refusals(), 1);
        fake.set(Behaviour::Up);
        assert_eq!(
            reqwest::get(&url).await.unwrap().text().await.unwrap(),
            "[]"
        );
        fake.stop().await;
    }

    #[tokio::test]
    #[should_panic(expected = "the bus should receive a PostCreated event within 10 s")]
    async fn next_event_says_what_did_not_arrive() {
        let fake = FakeService::start("the bus").await;
        fake.next_event("a PostCreated event").await;
    }
}
