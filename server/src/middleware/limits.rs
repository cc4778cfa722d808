//! Limits that keep one client from starving the others: a deadline per request and a cap on
//! requests in flight. Body sizes are bounded where bodies are read, with
//! [`crate::api::read_body`] and the limit as an argument so each route can pick its own: the
//! JSON API and the form's server functions (`crate::web`, before server_fn collects the body)
//! at MAX_BODY_BYTES, the SageMaker-compatible routes at SageMaker's own payload limit.
//!
//! - **Timeout.** A request that takes longer than REQUEST_TIMEOUT_MS — reading its body
//!   included, so a slow-loris upload is cut off — is answered 408 in our JSON error shape and
//!   its work dropped.
//! - **Concurrency.** At most MAX_CONCURRENT_REQUESTS requests are served at once. One more is
//!   answered 503 with `Retry-After: 1` at once (load shedding) instead of waiting in a queue
//!   that would grow without bound under overload; a load balancer or client retries elsewhere.
//!   Health checks ([`HEALTH_CHECKS`]) are never shed: a busy instance is not a dead one, and
//!   SageMaker or a load balancer would pull it out of service.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Middleware: answers 408 when the request is not done within the duration.
/// `router.layer(from_fn_with_state(duration, limits::timeout))`.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            ApiError::RequestTimeout(millis).into_response()
        }
    }
}

/// The in-flight cap, shared by every route it is applied to.
#[derive(Clone)]
pub struct ConcurrencyCap(Arc<Semaphore>);

impl ConcurrencyCap {
    pub fn new(max: usize) -> ConcurrencyCap {
        ConcurrencyCap(Arc::new(Semaphore::new(max)))
    }
}

/// `GET` routes that answer whether the instance is up (ours and SageMaker's): cheap, and
/// never refused by the concurrency cap.
pub const HEALTH_CHECKS: [&str; 2] = ["/healthz", "/ping"];

fn is_health_check(request: &Request) -> bool {
    request.method() == axum::http::Method::GET && HEALTH_CHECKS.contains(&request.uri().path())
}

/// Middleware: serves the request if a slot is free, else sheds it with 503. Health checks
/// pass without taking a slot.
/// `router.layer(from_fn_with_state(cap, limits::shed_load))`.
pub async fn shed_load(
    State(cap): State<ConcurrencyCap>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if is_health_check(&request) {
        return Ok(next.run(request).await);
    }
    // The permit is held until the response (headers and buffered body) is produced.
    let _permit = cap.0.try_acquire().map_err(|_| ApiError::Overloaded)?;
    Ok(next.run(request).await)
}
