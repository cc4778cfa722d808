//! The **SageMaker Runtime `InvokeEndpoint` API** (`POST /endpoints/{name}/invocations`), so
//! unmodified boto3/aws-sdk clients pointed at this server (`endpoint_url`) work.
//!
//! The route accepts any endpoint name and ignores the SigV4 signature: it is a protocol
//! adapter for local use and tests, **not** an authentication mechanism.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::container::{MAX_PAYLOAD_BYTES, invocations};
use crate::state::AppState;

/// `POST /endpoints/{name}/invocations`: SageMaker Runtime's `InvokeEndpoint`. Success is the
/// container's answer plus the runtime's headers; a container error becomes a `ModelError`
/// (424) carrying the container's status and message, as SageMaker reports it.
pub async fn invoke_endpoint(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    // A plain `&str` field: quoted and escaped in text logs (the name comes from the URL).
    tracing::debug!(endpoint = name.as_str(), "InvokeEndpoint");
    let response = invocations(State(state), req).await;
    let status = response.status();
    if status == StatusCode::NO_CONTENT {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            json!({"message": "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must not be empty"}),
        );
    }
    if status.is_success() {
        let mut response = response;
        response.headers_mut().insert(
            "x-Amzn-Invoked-Production-Variant",
            HeaderValue::from_static("AllTraffic"),
        );
        return response;
    }
    let message = match axum::body::to_bytes(response.into_body(), MAX_PAYLOAD_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(unreadable container answer: {e})"),
    };
    let kind = if status.is_client_error() {
        "client"
    } else {
        "server"
    };
    runtime_error(
        StatusCode::FAILED_DEPENDENCY,
        "ModelError",
        json!({
            "ErrorCode": format!("{}_ERROR_FROM_MODEL", kind.to_ascii_uppercase()),
            "message": format!(
                "Received {kind} error ({}) from primary with message \"{message}\".",
                status.as_u16()
            ),
            "OriginalStatusCode": status.as_u16(),
            "OriginalMessage": message,
        }),
    )
}

/// An AWS restJson1 error: the type in `x-amzn-ErrorType`, details in the JSON body.
fn runtime_error(
    status: StatusCode,
    error_type: &'static str,
    body: serde_json::Value,
) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}
