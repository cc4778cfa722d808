//! Request ids: an incoming `x-request-id` is kept when it is printable and short; otherwise
//! AWS's `x-amzn-trace-id` (set by API Gateway and ALB) is used; otherwise a UUID v4 is made.
//! The id is echoed in the response's `x-request-id`, carried by the request's log span, and
//! quoted in error answers ([`current`]) so that a support person can find the request's log
//! lines. Applied by `crate::middleware::frame`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// Longest incoming id accepted as is; a longer one (or one with odd bytes) is replaced, so a
/// client cannot stuff the logs.
const MAX_ID_BYTES: usize = 200;

/// Printable ASCII without spaces, and not too long.
pub fn acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_ID_BYTES && bytes.iter().all(u8::is_ascii_graphic)
}

/// The request's id (kept, taken from the trace id, or made), also set as its `x-request-id`
/// header so the handlers and the pages see the same one.
pub fn assign(request: &mut Request) -> HeaderValue {
    let headers = request.headers();
    let id = match (headers.get(X_REQUEST_ID), headers.get(X_AMZN_TRACE_ID)) {
        (Some(id), _) if acceptable(id) => return id.clone(),
        (_, Some(trace)) if acceptable(trace) => trace.clone(),
        _ => new_id(),
    };
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    id
}

/// A UUID v4, from a thread-local generator (no system call per request: `uuid`'s
/// `fast-rng`).
fn new_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// Runs a request with its id available to [`current`].
pub async fn scoped<F: std::future::Future>(id: HeaderValue, request: F) -> F::Output {
    CURRENT.scope(id, request).await
}

/// The id of the request being handled on this task, if any (error answers quote it).
pub fn current() -> Option<std::sync::Arc<str>> {
    CURRENT
        .try_with(|id| id.to_str().ok().map(Into::into))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = axum::http::Request::get("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn an_acceptable_incoming_id_is_kept() {
        let mut r = request(&[("x-request-id", "abc-123"), ("x-amzn-trace-id", "Root=1")]);
        assert_eq!(assign(&mut r), "abc-123");
    }

    #[test]
    fn an_amazon_trace_id_is_used_when_there_is_no_acceptable_request_id() {
        for headers in [
            vec![(
                "x-amzn-trace-id",
                "Root=1-67891233-abcdef012345678912345678",
            )],
            vec![
                ("x-request-id", "has space"),
                (
                    "x-amzn-trace-id",
                    "Root=1-67891233-abcdef012345678912345678",
                ),
            ],
        ] {
            let mut r = request(&headers);
            let id = assign(&mut r);
            assert_eq!(id, "Root=1-67891233-abcdef012345678912345678");
            assert_eq!(
                r.headers()["x-request-id"],
                id,
                "the handlers see the same id"
            );
        }
    }

    #[test]
    fn otherwise_a_uuid_is_made_and_junk_ids_are_not_acceptable() {
        let mut r = request(&[("x-request-id", &"a".repeat(201))]);
        let id = assign(&mut r);
        assert_eq!(id.len(), 36);
        assert_ne!(id, new_id(), "each id is new");
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(acceptable(&HeaderValue::from_static("abc-123")));
    }
}
