use std::any::Any;
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{FromRequest, Request, rejection::JsonRejection};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use blog_catalogue::Service;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

/// The largest request body any service accepts. Posts and comments are
/// short; anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{"error": message}` with the given status: the one shape of every error.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

/// How long [`retry_later`] asks a client to wait, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// An [`error_response`] that asks the client to come back later: with a
/// `Retry-After` header, so a polite client (and our bench) waits that long
/// instead of hammering a service that is pushing back.
pub fn retry_later(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = error_response(status, message);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
    );
    response
}

/// Like `axum::Json`, but a body that is not valid JSON, has the wrong
/// content type or is too large is answered with a JSON error, not plain text.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with `content-type: application/json`".to_string()
        }
        JsonRejection::JsonSyntaxError(_) => {
            format!("the body is not valid JSON: {}", rejection.body_text())
        }
        JsonRejection::JsonDataError(_) => format!(
            "the JSON does not have the expected fields: {}",
            rejection.body_text()
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than {MAX_BODY_BYTES} bytes")
        }
        _ => rejection.body_text(),
    };
    error_response(status, message)
}

/// How long `/readyz` waits for a readiness check. A probe that hangs
/// (a disk that stopped answering) must still get an answer, "not ready",
/// before Kubernetes gives up on the probe (after 1 s by default).
pub const READINESS_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

// ANCHOR: readiness
/// Whether the service is ready for traffic (`/readyz`). A service that must
/// rebuild state first starts not-ready and flips this when done. A service
/// that keeps data adds a check ([`Readiness::with_check`]) that `/readyz`
/// runs on every probe: a service whose database cannot be written cannot
/// do its job, and should get no traffic until it can.
#[derive(Clone)]
pub struct Readiness {
    started: Arc<AtomicBool>,
    check: Option<Check>,
}
// ANCHOR_END: readiness

impl Readiness {
    pub fn ready() -> Self {
        Readiness {
            started: Arc::new(AtomicBool::new(true)),
            check: None,
        }
    }
    pub fn not_ready() -> Self {
        Readiness {
            started: Arc::new(AtomicBool::new(false)),
            check: None,
        }
    }

    /// Also runs `check` on every probe; an error makes `/readyz` answer 503
    /// with its message. The check may block (it runs on a blocking thread)
    /// but should be cheap: probes come every few seconds.
    pub fn with_check<E: Display>(
        mut self,
        check: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(move || check().map_err(|error| error.to_string())));
        self
    }

    pub fn set(&self, ready: bool) {
        self.started.store(ready, Ordering::SeqCst);
    }

    /// Whether the service says it is ready, not counting the check.
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Ready, or why not: the flag first, then the check, given at most
    /// [`READINESS_CHECK_TIMEOUT`].
    pub async fn status(&self) -> Result<(), String> {
        if !self.is_ready() {
            return Err("not ready yet".to_string());
        }
        let Some(check) = self.check.clone() else {
            return Ok(());
        };
        // Off the async worker threads: the check may wait for a lock or a disk.
        let running = tokio::task::spawn_blocking(move || check());
        match tokio::time::timeout(READINESS_CHECK_TIMEOUT, running).await {
            Ok(Ok(result)) => result,
            Ok(Err(panicked)) => Err(format!("the readiness check failed: {panicked}")),
            Err(_) => Err(format!(
                "the readiness check did not answer within {READINESS_CHECK_TIMEOUT:?}"
            )),
        }
    }
}

// ANCHOR: page_origins
/// The origins whose page may call a service from a browser (CORS).
///
/// A browser sends a cross-origin request to our JSON API only if the API
/// allows that origin. We allow the blog's own page and nobody else: any
/// other web site a learner visits must not be able to post in their name,
/// or send the bus events. The default is the client on this machine
/// (port 3000, as `localhost` and as `127.0.0.1`); `CORS_ORIGINS` sets the
/// real one (in Kubernetes, `http://posts.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOrigins(Vec<HeaderValue>);
// ANCHOR_END: page_origins

impl PageOrigins {
    /// A comma-separated list of origins (`scheme://host[:port]`, as a
    /// browser sends them in `Origin`). The error is the first entry that is
    /// not an origin.
    pub fn parse(list: &str) -> Result<PageOrigins, String> {
        let mut origins = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let origin = origin_of(entry).ok_or_else(|| entry.to_string())?;
            origins.push(HeaderValue::from_str(&origin).map_err(|_| entry.to_string())?);
        }
        Ok(PageOrigins(origins))
    }

    // ANCHOR: page_cors
    /// `routes` with CORS for these origins: the methods the page uses, and
    /// the one header it sets. No credentials: the blog has no cookies.
    /// Routes added to the result later get no CORS.
    pub fn with_cors<S: Clone + Send + Sync + 'static>(&self, routes: Router<S>) -> Router<S> {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.0.clone()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE]);
        routes
            // A preflight is an `OPTIONS` request, which these routes answer
            // only through this fallback: it must be set before the layer,
            // so that the layer wraps it too.
            .method_not_allowed_fallback(method_not_allowed)
            .layer(cors)
    }
    // ANCHOR_END: page_cors
}

impl Default for PageOrigins {
    /// The client's page on this machine, however the browser spells it.
    fn default() -> Self {
        let client = Service::Client;
        let list = format!(
            "{},http://127.0.0.1:{}",
            client.localhost_url(),
            client.default_port()
        );
        PageOrigins::parse(&list).expect("the catalogue's client URL is an origin")
    }
}

/// `scheme://host[:port]` of an http(s) URL that has nothing else (a `/`
/// alone is allowed), as a browser would write it in `Origin`.
fn origin_of(entry: &str) -> Option<String> {
    let url = Url::parse(entry).ok()?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    (matches!(url.scheme(), "http" | "https") && url.has_host() && bare)
        .then(|| url.origin().ascii_serialization())
}

/// Adds what every service has besides its own routes.
pub fn with_common_layers(router: Router, readiness: Readiness) -> Router {
    router
        // Liveness: the process answers. Kubernetes restarts it if this fails.
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        // Readiness: the process can do its job. Traffic waits until it can.
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    match readiness.status().await {
                        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
                        Err(why) => error_response(StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        )
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A panic in a handler becomes a JSON 500 with its message, so the
        // caller sees what went wrong (in an exercise: which `todo!` to fill).
        .layer(CatchPanicLayer::custom(panic_response))
    // No CORS here: only the routes the page calls answer it (see
    // [`PageOrigins::with_cors`]); the probes, `/events` and the bus answer none.
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not accept that method",
    )
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = panic.downcast_ref::<&str>() {
        text.to_string()
    } else {
        "the handler panicked".to_string()
    };
    let mut response = error_response(StatusCode::INTERNAL_SERVER_ERROR, message);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("valid header"),
    );
    response
}
