//! The access log: one span per request carrying its id, method and matched route, and one
//! `request finished` event when it ends, with `status`, `latency_ms`, what was learnt on the
//! way (`api_key` name, `backend`, `label`, `probability` or `batch`: [`note`]) and, for
//! refusals, the `error` kind and the `detail` the client was not told (a backend's own
//! words). Customer data is never in it (see `LOG_PAYLOADS`).
//!
//! What is learnt on the way is kept beside the request and written once, in the final event,
//! rather than recorded into the span as it comes: each `Span::record` makes the formatter
//! re-format the span's fields, several times per request (see docs/performance.md).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use tracing::Span;

use crate::error::Refusal;

/// What a request's handlers learnt about it, for its `request finished` line.
#[derive(Debug, Default)]
pub struct Notes {
    /// The name of the API key it was admitted with (never the key).
    pub api_key: Option<Arc<str>>,
    pub backend: Option<&'static str>,
    /// A single prediction's label and probability…
    pub label: Option<&'static str>,
    pub probability: Option<f64>,
    /// … or a batch's size.
    pub batch: Option<usize>,
}

tokio::task_local! {
    static NOTES: RefCell<Notes>;
}

/// Adds to the current request's notes (nothing outside a request, e.g. a direct Lambda
/// invocation or the command line).
pub fn note(f: impl FnOnce(&mut Notes)) {
    let _ = NOTES.try_with(|notes| f(&mut notes.borrow_mut()));
}

/// Runs a request, collecting its notes.
pub async fn collecting<F: Future<Output = Response>>(request: F) -> (Response, Notes) {
    NOTES
        .scope(RefCell::default(), async {
            let response = request.await;
            let notes = NOTES.with(|notes| std::mem::take(&mut *notes.borrow_mut()));
            (response, notes)
        })
        .await
}

/// The request's span: every line logged while it is served carries these fields.
pub fn span(request_id: &str, method: &str, route: &str) -> Span {
    // Plain `&str` fields, never `%`: quoted and escaped in text logs (`crate::telemetry`).
    tracing::info_span!("request", request_id, method, route)
}

/// The `request finished` line (inside the request's span).
pub fn finished(response: &Response, latency: Duration, notes: &Notes) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let (error, detail) = match response.extensions().get::<Refusal>() {
        // What the client was not told is logged here, under the request's id (the span's).
        Some(Refusal { kind, detail }) => (Some(*kind), detail.as_deref()),
        None => (None, None),
    };
    tracing::info!(
        status,
        latency_ms,
        error,
        detail,
        api_key = notes.api_key.as_deref(),
        backend = notes.backend,
        label = notes.label,
        probability = notes.probability,
        batch = notes.batch,
        "request finished"
    );
}
