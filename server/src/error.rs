//! One error type for every HTTP answer that is not a prediction, and one table of statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::{InvalidCustomer, PredictError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Content-Type {0:?} is not supported; send application/json")]
    UnsupportedMediaType(String),
    #[error("the body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    BadShape(String),
    #[error("{at}: {got} customers; expected from 1 to {max}")]
    BatchSize { at: String, got: usize, max: usize },
    #[error("{0}")]
    Invalid(#[from] InvalidCustomer),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error("no route for {0}")]
    NotFound(String),
    /// No `x-api-key` header on a route that needs one.
    #[error("missing API key: send it in the x-api-key header")]
    Unauthorized,
    /// A key that matches none configured. Says nothing about which keys exist.
    #[error("invalid API key")]
    Forbidden,
    /// A state-changing request sent by a browser from another site (form CSRF).
    #[error("cross-site request refused")]
    CrossSite,
    /// The key's usage plan is spent for now; retry after the given number of seconds.
    #[error("too many requests: retry after {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The request (reading the body included) took longer than REQUEST_TIMEOUT_MS.
    #[error("the request took longer than {0} ms")]
    RequestTimeout(u64),
    /// MAX_CONCURRENT_REQUESTS requests are already in flight.
    #[error("the server is at capacity; retry shortly")]
    Overloaded,
    /// The body fell behind MIN_UPLOAD_BYTES_PER_SECOND (`middleware::limits`).
    #[error("the body arrived slower than {0} bytes a second")]
    SlowUpload(u32),
    /// A health check while the instance cannot serve: `draining` or `saturated`.
    #[error("not ready: {0}")]
    Unready(&'static str),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnreadableBody(_) | ApiError::MalformedJson(_) | ApiError::BadShape(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::BatchSize { .. } | ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Predict(PredictError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Predict(PredictError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Predict(PredictError::Backend(_)) => StatusCode::BAD_GATEWAY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout(_) | ApiError::SlowUpload(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded | ApiError::Unready(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnreadableBody(_) => "unreadable_body",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadShape(_) => "bad_shape",
            ApiError::BatchSize { .. } => "batch_size",
            ApiError::Invalid(_) => "invalid_input",
            ApiError::Predict(e) => predict_error_kind(e),
            ApiError::NotFound(_) => "not_found",
            ApiError::Unauthorized => "missing_api_key",
            ApiError::Forbidden => "invalid_api_key",
            ApiError::CrossSite => "cross_site",
            ApiError::Throttled { .. } => "throttled",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Overloaded => "overloaded",
            ApiError::SlowUpload(_) => "slow_upload",
            ApiError::Unready(_) => "unready",
        }
    }

    /// Seconds a client should wait before retrying, sent as `Retry-After`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Overloaded => Some(1),
            _ => None,
        }
    }
}

/// A backend failure's short, stable name: [`ApiError::kind`] of its answer, and the `kind`
/// label of `predictor_errors_total` (`crate::metrics`).
pub fn predict_error_kind(error: &PredictError) -> &'static str {
    match error {
        PredictError::Timeout(_) => "backend_timeout",
        PredictError::Unavailable(_) => "backend_unavailable",
        PredictError::Backend(_) => "backend_error",
    }
}

/// The wire shape: `{"error": "..."}`, plus each field's problem for invalid input.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldProblem<'a>>,
}

#[derive(Serialize)]
struct FieldProblem<'a> {
    location: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    field: &'a str,
    value: &'a str,
    allowed: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let fields = match &self {
            ApiError::Invalid(InvalidCustomer(errors)) => errors
                .iter()
                .map(|e| FieldProblem {
                    location: &e.location,
                    field: e.field,
                    value: &e.value,
                    allowed: &e.allowed,
                })
                .collect(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: self.to_string(),
            fields,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if matches!(self, ApiError::Unauthorized) {
            // RFC 9110: a 401 names how to authenticate.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("ApiKey header=\"x-api-key\""),
            );
        }
        response.extensions_mut().insert(ErrorKind(self.kind()));
        response
    }
}

/// Carried in the response's extensions so the access log can say why a request failed.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_failure_has_one_name_in_answers_and_metrics() {
        for (error, kind) in [
            (
                PredictError::Timeout(std::time::Duration::from_secs(1)),
                "backend_timeout",
            ),
            (
                PredictError::Unavailable("down".into()),
                "backend_unavailable",
            ),
            (PredictError::Backend("broken".into()), "backend_error"),
        ] {
            assert_eq!(predict_error_kind(&error), kind);
            assert_eq!(ApiError::Predict(error).kind(), kind);
        }
    }
}
