//! Limits that keep one client from starving the others: a deadline per request, bodies read
//! before a request takes a slot, a cap on requests in flight, and health checks that say when
//! the instance cannot serve. Body sizes are bounded where bodies are read, with
//! [`crate::api::read_body`] and the limit as an argument so each route can pick its own: the
//! JSON API and the form's server functions (`crate::web`, before server_fn collects the body)
//! at MAX_BODY_BYTES, the SageMaker-compatible routes at SageMaker's own payload limit.
//! Connection-level limits (header, keep-alive and write deadlines, the connection cap, the
//! drain on SIGTERM) are in `crate::serve`.
//!
//! - **Timeout.** A request that takes longer than REQUEST_TIMEOUT_MS — reading its body
//!   included, so a slow-loris upload is cut off — is answered 408 in our JSON error shape and
//!   its work dropped.
//! - **Bodies first** ([`read_body`]). A slot is for work (parsing, predicting), not for
//!   waiting on a client's network: a request's body is read whole *before* it asks for a slot,
//!   so clients that trickle bodies hold a connection and a little memory, never a slot (once,
//!   about 520 of them made every real request answer 503). Reading is bounded three ways: the
//!   request deadline above; a minimum average rate after a grace period (MIN_UPLOAD_BYTES_PER_
//!   SECOND: 408 when the body falls behind, so a trickler is let go in seconds); and
//!   MAX_UPLOADS_PER_CLIENT bodies in progress per client address (429), so one address cannot
//!   hold many. Why not a separate small pool of body readers instead: slow clients would fill
//!   that pool as they filled the slots, and good clients' uploads would wait behind them.
//! - **Concurrency.** At most MAX_CONCURRENT_REQUESTS requests are served at once. One more is
//!   answered 503 with `Retry-After: 1` at once (load shedding) instead of waiting in a queue
//!   that would grow without bound under overload; a load balancer or client retries elsewhere.
//! - **Readiness** ([`Readiness`]). Health checks ([`HEALTH_CHECKS`]) never take a slot, and
//!   answer 200 unless the instance cannot serve; then 503 `{"error": "not ready: …"}`:
//!   - `draining`: SIGTERM arrived (`crate::serve` keeps serving for DRAIN_SECONDS while the
//!     load balancer stops sending);
//!   - `saturated`: no slot is free, requests have been refused, and none has been admitted
//!     for [`SATURATED_AFTER`]. A busy instance whose slots turn over stays ready (pulling it
//!     would only move its load onto the others); one whose slots are all stuck does not.

use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};
use tokio::sync::Semaphore;

use super::client::Client;
use crate::error::ApiError;

/// What [`guard`] enforces: the request deadline, how bodies are read, the concurrency cap.
#[derive(Clone)]
pub struct RequestLimits {
    /// REQUEST_TIMEOUT_MS.
    pub timeout: Duration,
    pub uploads: Uploads,
    pub cap: ConcurrencyCap,
}

/// Middleware, the three limits in order and in one layer (one boxed future and one clone of
/// the route per request, instead of one per limit): within the request deadline (408 past
/// it), the body is read whole ([`read_body`]), then the request takes a slot ([`admit`]).
/// The innermost layer, so it also answers a handler's panic (500 `internal_error`, through
/// [`crate::error::panicked`]) rather than have the connection dropped: every layer outside
/// (CORS, compression, the frame's id, headers, log and metrics) then sees a plain answer.
/// (What runs here outside the request's future, arming the timer and the 408 answer, is not
/// covered; none of it panics on input.)
/// `router.layer(from_fn_with_state(limits, limits::guard))`.
pub async fn guard(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    let within = async {
        // The upload's place in its client's count is held until the answer is ready.
        let (request, _upload) = match read_body(&limits.uploads, request).await {
            Ok(read) => read,
            Err(refusal) => return refusal.into_response(),
        };
        admit(&limits.cap, request, next)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    };
    let within = AssertUnwindSafe(within).catch_unwind();
    match tokio::time::timeout(limits.timeout, within).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => crate::error::panicked(panic),
        Err(_) => {
            let millis = u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX);
            ApiError::RequestTimeout(millis).into_response()
        }
    }
}

/// How long every slot may stay taken, with requests refused and none admitted, before health
/// checks say `saturated`.
pub const SATURATED_AFTER: Duration = Duration::from_secs(2);

/// Whether the instance can serve: shared by the health checks, the concurrency cap and the
/// accept loop (which starts the drain). Cheap to clone.
#[derive(Clone)]
pub struct Readiness(Arc<ReadinessState>);

struct ReadinessState {
    draining: AtomicBool,
    epoch: Instant,
    /// Nanoseconds after `epoch` (plus one; 0 = none) of the first refusal since the last
    /// admission.
    refusing_since: AtomicU64,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness(Arc::new(ReadinessState {
            draining: AtomicBool::new(false),
            epoch: Instant::now(),
            refusing_since: AtomicU64::new(0),
        }))
    }
}

impl Readiness {
    /// From now on health checks answer 503 `draining` (see `crate::serve`).
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    fn admitted(&self) {
        if self.0.refusing_since.load(Ordering::Relaxed) != 0 {
            self.0.refusing_since.store(0, Ordering::Relaxed);
        }
    }

    fn refused(&self) {
        let _ = self.0.refusing_since.compare_exchange(
            0,
            self.now(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Why the instance cannot serve now, if it cannot.
    fn problem(&self, cap: &ConcurrencyCap) -> Option<&'static str> {
        if self.is_draining() {
            return Some("draining");
        }
        let since = self.0.refusing_since.load(Ordering::Relaxed);
        let stuck = since != 0
            && cap.slots.available_permits() == 0
            && Duration::from_nanos(self.now().saturating_sub(since)) >= SATURATED_AFTER;
        stuck.then_some("saturated")
    }
}

/// The in-flight cap, shared by every route it is applied to, with the instance's readiness.
#[derive(Clone)]
pub struct ConcurrencyCap {
    slots: Arc<Semaphore>,
    readiness: Readiness,
}

impl ConcurrencyCap {
    pub fn new(max: usize) -> ConcurrencyCap {
        ConcurrencyCap {
            slots: Arc::new(Semaphore::new(max)),
            readiness: Readiness::default(),
        }
    }

    /// The readiness its health checks report (the accept loop starts the drain through it).
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }
}

/// `GET` routes that answer whether the instance is up (ours and SageMaker's): cheap, and
/// never refused by the concurrency cap.
pub const HEALTH_CHECKS: [&str; 2] = ["/healthz", "/ping"];

fn is_health_check(request: &Request) -> bool {
    request.method() == axum::http::Method::GET && HEALTH_CHECKS.contains(&request.uri().path())
}

/// Serves the request if a slot is free, else sheds it with 503 ([`guard`]'s last step).
/// Health checks pass without taking a slot, or answer 503 when the instance is not ready
/// ([`Readiness`]).
async fn admit(cap: &ConcurrencyCap, request: Request, next: Next) -> Result<Response, ApiError> {
    if is_health_check(&request) {
        if let Some(problem) = cap.readiness.problem(cap) {
            return Err(ApiError::Unready(problem));
        }
        return Ok(next.run(request).await);
    }
    // The permit is held until the response (headers and buffered body) is produced.
    let Ok(_permit) = cap.slots.try_acquire() else {
        cap.readiness.refused();
        return Err(ApiError::Overloaded);
    };
    cap.readiness.admitted();
    Ok(next.run(request).await)
}

/// A body may lag behind the minimum rate for this long at its start (connection warm-up,
/// `100 Continue` round trip).
pub const UPLOAD_GRACE: Duration = Duration::from_secs(2);

/// How request bodies are read before a request takes a slot ([`read_body`]).
#[derive(Clone)]
pub struct Uploads {
    /// MIN_UPLOAD_BYTES_PER_SECOND; 0: no rate check.
    min_rate: u32,
    /// MAX_UPLOADS_PER_CLIENT; 0: no limit.
    per_client: usize,
    /// MAX_BODY_BYTES: reading stops just past the route's limit (the route then answers 413
    /// in its own way).
    max_body_bytes: usize,
    in_progress: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Uploads {
    pub fn new(min_rate: u32, per_client: u32, max_body_bytes: usize) -> Uploads {
        Uploads {
            min_rate,
            per_client: per_client as usize,
            max_body_bytes,
            in_progress: Arc::default(),
        }
    }

    /// The route's own body limit: SageMaker's payload limit on the invocation routes,
    /// MAX_BODY_BYTES elsewhere. (Reading no further than that bounds an upload's memory.)
    fn limit_for(&self, path: &str) -> usize {
        let invocation = path == "/invocations"
            || path.strip_prefix("/endpoints/").is_some_and(|rest| {
                rest.strip_suffix("/invocations")
                    .is_some_and(|name| !name.is_empty() && !name.contains('/'))
            });
        if invocation {
            self.max_body_bytes
                .max(crate::sagemaker::container::MAX_PAYLOAD_BYTES)
        } else {
            self.max_body_bytes
        }
    }

    /// Counts one upload for `client`, or refuses it with 429 when it has its fill.
    fn start(&self, client: IpAddr) -> Result<UploadSlot, ApiError> {
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        let count = in_progress.entry(client).or_insert(0);
        if self.per_client != 0 && *count >= self.per_client {
            return Err(ApiError::Throttled {
                retry_after_secs: 1,
            });
        }
        *count += 1;
        Ok(UploadSlot {
            uploads: self.in_progress.clone(),
            client,
        })
    }

    /// The deadline for a body that started at `start` and has brought `received` bytes.
    fn deadline(
        &self,
        start: tokio::time::Instant,
        received: usize,
    ) -> Option<tokio::time::Instant> {
        (self.min_rate != 0).then(|| {
            start
                + UPLOAD_GRACE
                + Duration::from_secs_f64(received as f64 / f64::from(self.min_rate))
        })
    }
}

struct UploadSlot {
    uploads: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut in_progress = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_progress.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                in_progress.remove(&self.client);
            }
        }
    }
}

/// Reads the request's body whole, at the minimum rate, before the request asks for a slot
/// ([`guard`], within the request deadline); the route gets the body from memory. A body over
/// `max_body_bytes` is passed on after that many bytes (read ahead, then the rest of the
/// stream), so the route refuses it as it always has. The upload's place in its client's
/// count ([`UploadSlot`]) is returned, to be held until the answer.
async fn read_body(
    uploads: &Uploads,
    request: Request,
) -> Result<(Request, Option<UploadSlot>), ApiError> {
    let hint = request.body().size_hint();
    let limit = uploads.limit_for(request.uri().path());
    if request.body().is_end_stream() || hint.exact() == Some(0) || hint.lower() > limit as u64 {
        // Nothing to wait for, or a declared size the route refuses without reading.
        return Ok((request, None));
    }
    let slot = uploads.start(Client::of(&request).limit_key())?;
    let (parts, mut body) = request.into_parts();
    let start = tokio::time::Instant::now();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    let rest = loop {
        let frame = match uploads.deadline(start, received) {
            Some(deadline) => tokio::time::timeout_at(deadline, body.frame())
                .await
                .map_err(|_| ApiError::SlowUpload(uploads.min_rate))?,
            None => body.frame().await,
        };
        match frame {
            None => break None,
            Some(Err(e)) => return Err(ApiError::UnreadableBody(e.to_string())),
            Some(Ok(frame)) => {
                // Trailers carry nothing our routes read.
                if let Ok(data) = frame.into_data() {
                    received += data.len();
                    chunks.push(data);
                }
            }
        }
        if received > limit {
            break Some(body);
        }
    };
    let body = match (rest, chunks.len()) {
        (None, 0) => Body::empty(),
        (None, 1) => Body::from(chunks.pop().unwrap_or_default()),
        (None, _) => Body::from(chunks.concat()),
        (Some(rest), _) => Body::new(ReadAhead { chunks, rest }),
    };
    Ok((Request::from_parts(parts, body), Some(slot)))
}

/// The chunks already read, then the rest of the body.
struct ReadAhead {
    chunks: Vec<Bytes>,
    rest: Body,
}

impl hyper::body::Body for ReadAhead {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if !self.chunks.is_empty() {
            let chunk = self.chunks.remove(0);
            return std::task::Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + read);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + read);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_address_has_its_own_upload_allowance() {
        let uploads = Uploads::new(1024, 2, 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = uploads.start(a).unwrap();
        let _second = uploads.start(a).unwrap();
        assert!(matches!(uploads.start(a), Err(ApiError::Throttled { .. })));
        let _other = uploads.start(b).unwrap();
        drop(first);
        let _third = uploads.start(a).unwrap();
        // Unlimited when 0.
        let open = Uploads::new(1024, 0, 100);
        let _held: Vec<_> = (0..100).map(|_| open.start(a).unwrap()).collect();
    }

    #[test]
    fn only_the_invocation_routes_read_up_to_sagemakers_limit() {
        let uploads = Uploads::new(1024, 0, 1000);
        let sagemaker = crate::sagemaker::container::MAX_PAYLOAD_BYTES;
        assert_eq!(uploads.limit_for("/invocations"), sagemaker);
        assert_eq!(uploads.limit_for("/endpoints/churn/invocations"), sagemaker);
        for path in [
            "/predict",
            "/",
            "/api/predict-form",
            "/endpoints//invocations",
            "/endpoints/a/b/invocations",
        ] {
            assert_eq!(uploads.limit_for(path), 1000, "{path}");
        }
    }

    #[test]
    fn the_upload_deadline_grows_with_the_bytes_received() {
        let uploads = Uploads::new(1000, 0, 100);
        let start = tokio::time::Instant::now();
        assert_eq!(uploads.deadline(start, 0), Some(start + UPLOAD_GRACE));
        assert_eq!(
            uploads.deadline(start, 3000),
            Some(start + UPLOAD_GRACE + Duration::from_secs(3))
        );
        assert_eq!(Uploads::new(0, 0, 100).deadline(start, 0), None);
    }
}
