//! Request ids: an incoming `x-request-id` is kept; otherwise AWS's `x-amzn-trace-id` (set by
//! API Gateway and ALB) is used; otherwise a UUID v4 is made. The id is echoed in the response's
//! `x-request-id`, recorded in the request's log span, and quoted in error answers
//! ([`current`]) so that a support person can find the request's log lines.

use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{
    MakeRequestId, MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// Longest incoming id accepted as is; a longer one (or one with odd bytes) is replaced, so a
/// client cannot stuff the logs.
const MAX_ID_BYTES: usize = 200;

#[derive(Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, request: &Request<B>) -> Option<RequestId> {
        match request.headers().get(X_AMZN_TRACE_ID) {
            Some(trace) if acceptable(trace) => Some(RequestId::new(trace.clone())),
            _ => MakeRequestUuid.make_request_id(request),
        }
    }
}

/// Printable ASCII without spaces, and not too long.
pub fn acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_ID_BYTES && bytes.iter().all(u8::is_ascii_graphic)
}

/// Sets the id (outer layer: runs before the trace span is made).
pub fn set_layer() -> SetRequestIdLayer<MakeId> {
    SetRequestIdLayer::new(X_REQUEST_ID, MakeId)
}

/// Copies the id onto the response.
pub fn propagate_layer() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(X_REQUEST_ID)
}

/// Drops an unacceptable incoming `x-request-id` so [`MakeId`] replaces it.
pub async fn drop_unacceptable_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request
        .headers()
        .get(X_REQUEST_ID)
        .is_some_and(|id| !acceptable(id))
    {
        request.headers_mut().remove(X_REQUEST_ID);
    }
    next.run(request).await
}

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// Middleware (inside [`set_layer`]): makes the request's id available to [`current`] while
/// the request is handled.
pub async fn scope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match request.extensions().get::<RequestId>() {
        Some(id) => {
            CURRENT
                .scope(id.header_value().clone(), next.run(request))
                .await
        }
        None => next.run(request).await,
    }
}

/// The id of the request being handled on this task, if any (error answers quote it).
pub fn current() -> Option<std::sync::Arc<str>> {
    CURRENT
        .try_with(|id| id.to_str().ok().map(Into::into))
        .ok()
        .flatten()
}

/// The id of a request that went through [`set_layer`], for log spans.
pub fn of<B>(request: &Request<B>) -> &str {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amazon_trace_id_is_used_when_there_is_no_request_id() {
        let request = Request::get("/")
            .header(
                "x-amzn-trace-id",
                "Root=1-67891233-abcdef012345678912345678",
            )
            .body(())
            .unwrap();
        let id = MakeId.make_request_id(&request).unwrap();
        assert_eq!(
            id.header_value(),
            "Root=1-67891233-abcdef012345678912345678"
        );
    }

    #[test]
    fn otherwise_a_uuid_is_made_and_junk_ids_are_not_acceptable() {
        let request = Request::get("/").body(()).unwrap();
        let id = MakeId.make_request_id(&request).unwrap();
        assert_eq!(id.header_value().len(), 36);
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(201)).unwrap()
        ));
        assert!(acceptable(&HeaderValue::from_static("abc-123")));
    }
}
