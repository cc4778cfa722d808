//! The access log: one span per request carrying its id, method and matched route, filled in
//! as the request goes (`api_key` name, `backend`, `label`, `probability`), and one event when
//! it ends with `status`, `latency_ms` and, for refusals, the `error` kind and the `detail`
//! the client was not told (a backend's own words). Customer data is never in it (see
//! `LOG_PAYLOADS`).

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;
use tracing::field::Empty;

use crate::error::Refusal;

pub type AccessLogLayer =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), ResponseEvent>;

/// `router.layer(access_log::layer())`, inside the request-id layers.
pub fn layer() -> AccessLogLayer {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(ResponseEvent)
}

#[derive(Clone, Copy, Debug)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        tracing::info_span!(
            "request",
            // Plain `&str` fields, never `%`: quoted and escaped in text logs (`crate::telemetry`).
            request_id = super::request_id::of(request),
            method = request.method().as_str(),
            route,
            api_key = Empty,
            backend = Empty,
            label = Empty,
            probability = Empty,
            batch = Empty,
        )
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ResponseEvent;

impl<B> OnResponse<B> for ResponseEvent {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &Span) {
        let status = response.status().as_u16();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        match response.extensions().get::<Refusal>() {
            // What the client was not told is logged here, under the request's id (the span's).
            Some(Refusal {
                kind,
                detail: Some(detail),
            }) => tracing::info!(
                status,
                latency_ms,
                error = kind,
                detail = &**detail,
                "request finished"
            ),
            Some(Refusal { kind, detail: None }) => {
                tracing::info!(status, latency_ms, error = kind, "request finished")
            }
            None => tracing::info!(status, latency_ms, "request finished"),
        }
    }
}
