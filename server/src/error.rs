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
            ApiError::Predict(PredictError::Timeout(_)) => "backend_timeout",
            ApiError::Predict(PredictError::Unavailable(_)) => "backend_unavailable",
            ApiError::Predict(PredictError::Backend(_)) => "backend_error",
            ApiError::NotFound(_) => "not_found",
        }
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
        response.extensions_mut().insert(ErrorKind(self.kind()));
        response
    }
}

/// Carried in the response's extensions so the access log can say why a request failed.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);
