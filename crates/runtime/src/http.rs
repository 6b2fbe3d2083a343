use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequest, Request, rejection::JsonRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;

/// The largest request body any service accepts. Posts and comments are
/// short; anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{"error": message}` with the given status: the one shape of every error.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
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

/// Whether the service is ready for traffic (`/readyz`). A service that must
/// rebuild state first starts not-ready and flips this when done.
#[derive(Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn ready() -> Self {
        Readiness(Arc::new(AtomicBool::new(true)))
    }
    pub fn not_ready() -> Self {
        Readiness(Arc::new(AtomicBool::new(false)))
    }
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
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
                    if readiness.is_ready() {
                        Json(serde_json::json!({ "status": "ready" })).into_response()
                    } else {
                        error_response(StatusCode::SERVICE_UNAVAILABLE, "not ready yet")
                    }
                }
            }),
        )
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not accept that method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A panic in a handler becomes a JSON 500 with its message, so the
        // caller sees what went wrong (in an exercise: which `todo!` to fill).
        .layer(CatchPanicLayer::custom(panic_response))
        // The client page is served from another origin (port 3000) and no
        // cookies are involved, so any origin may call the JSON APIs.
        .layer(CorsLayer::permissive())
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
