//! What every request gets first and last, in one middleware: its id (`request_id`), its log
//! span and `request finished` line (`access_log`), its metrics (`crate::metrics::observe`),
//! and the security headers on its answer (`browser`).
//!
//! One middleware rather than eight layers: each `tower` layer around a route boxes a future
//! and clones the inner service on every request, which the request path pays in allocations
//! (see docs/performance.md, "Where the time goes").

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::{access_log, browser, request_id};

/// `router.layer(from_fn(frame::frame))`, the outermost layer of every route.
pub async fn frame(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::assign(&mut request);
    // Cheap to clone (an `Arc`): the route outlives the request, which `next` consumes.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = access_log::span(id.to_str().unwrap_or("-"), request.method().as_str(), route);
    let served = crate::metrics::observe(route, next.run(request));
    let (mut response, notes) = request_id::scoped(id.clone(), access_log::collecting(served))
        .instrument(span.clone())
        .await;
    let headers = response.headers_mut();
    browser::add_security_headers(headers);
    headers.insert(request_id::X_REQUEST_ID, id);
    span.in_scope(|| access_log::finished(&response, started.elapsed(), &notes));
    response
}
